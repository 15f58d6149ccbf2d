"""Late penalties as a pure function of the policy, the deadline and the submission time."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from .course import LatePolicy


@dataclass(frozen=True)
class Penalty:
    points: float           # points deducted
    late_seconds: float     # how late after the deadline (0 when on time, grace ignored)
    policy: str             # the policy's description, for every report that applies it


def _as_utc(ts: dt.datetime) -> dt.datetime:
    # nbgrader stores naive UTC
    return ts.replace(tzinfo=dt.timezone.utc) if ts.tzinfo is None else ts.astimezone(dt.timezone.utc)


def late_penalty(policy: LatePolicy, due: dt.datetime | None, submitted: dt.datetime | None,
                 max_points: float) -> Penalty:
    """Points lost for a submission at ``submitted`` against ``due``.

    Within the grace period nothing is lost; after it every *started* day (or hour) costs
    ``penalty_per_day`` (``penalty_per_hour``) of the maximum, at most ``cap`` of it.
    """
    if due is None or submitted is None:
        return Penalty(0.0, 0.0, policy.describe())
    late = (_as_utc(submitted) - _as_utc(due)).total_seconds()
    if late <= 0:
        return Penalty(0.0, 0.0, policy.describe())
    if late <= policy.grace_seconds:
        return Penalty(0.0, late, policy.describe())
    if policy.penalty_per_day:
        units, rate = math.ceil(late / 86400), policy.penalty_per_day
    else:
        units, rate = math.ceil(late / 3600), policy.penalty_per_hour
    share = min(policy.cap, units * rate)
    return Penalty(round(share * max_points, 6), late, policy.describe())
