"""Late penalties: grace, per started day or hour, the cap."""

import datetime as dt

import pytest

from gradehub.course import LatePolicy
from gradehub.late import late_penalty

DUE = dt.datetime(2026, 10, 23, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=2)))
DAILY = LatePolicy(grace_seconds=900, penalty_per_day=0.1, cap=0.5)
HOURLY = LatePolicy(grace_seconds=0, penalty_per_hour=0.02, cap=0.3)


@pytest.mark.parametrize("after, policy, expected", [
    (dt.timedelta(hours=-1), DAILY, 0.0),
    (dt.timedelta(minutes=14), DAILY, 0.0),          # inside the grace period
    (dt.timedelta(minutes=16), DAILY, 2.0),          # first started day: 10 % of 20
    (dt.timedelta(days=1, minutes=1), DAILY, 4.0),   # second started day
    (dt.timedelta(days=30), DAILY, 10.0),            # capped at 50 %
    (dt.timedelta(minutes=1), HOURLY, 0.4),
    (dt.timedelta(hours=5, minutes=1), HOURLY, 2.4),
    (dt.timedelta(days=3), HOURLY, 6.0),
])
def test_penalty_rules(after, policy, expected):
    assert late_penalty(policy, DUE, DUE + after, 20.0).points == pytest.approx(expected)


def test_naive_timestamps_are_utc_as_nbgrader_stores_them():
    naive_utc = (DUE + dt.timedelta(minutes=16)).astimezone(dt.timezone.utc).replace(tzinfo=None)
    assert late_penalty(DAILY, DUE, naive_utc, 20.0).points == pytest.approx(2.0)


def test_no_deadline_or_no_time_means_no_penalty():
    assert late_penalty(DAILY, None, DUE, 20.0).points == 0.0
    assert late_penalty(DAILY, DUE, None, 20.0).points == 0.0


def test_policy_describes_itself():
    assert late_penalty(DAILY, DUE, DUE, 1).policy == "10% per started day after 15 min grace, at most 50%"
    assert LatePolicy().describe() == "no late penalty"
