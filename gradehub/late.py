"""Late penalties as a pure function of the policy, the deadline and the submission time.

An extension (``gradehub extend``, stored in the gradebook by :mod:`gradehub.extensions`) moves
one student's deadline to ``extension_until``; grace, rate and cap then count from there. A
deadline in course.toml that is later than the extension wins. Nothing here is stored: every
caller recomputes the penalty from the submission time, so a changed deadline or extension
changes every number at the next report.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from .course import LatePolicy


@dataclass(frozen=True)
class Penalty:
    points: float  # points deducted
    late_seconds: float  # how late after the deadline (0 when on time, grace ignored)
    policy: str  # the policy's description, for every report that applies it
    due: dt.datetime | None = None  # the deadline that applied (an extension's, when later)
    extended: bool = False  # whether an extension moved the deadline


def as_utc(ts: dt.datetime) -> dt.datetime:
    """``ts`` as an aware UTC time; a naive one is UTC already (as nbgrader stores it)."""
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


def effective_due(due: dt.datetime | None, extension_until: dt.datetime | None) -> dt.datetime | None:
    """The deadline for one student: the later of the course deadline and their extension.

    Without a course deadline there is nothing to extend (and no penalty).
    """
    if due is None or extension_until is None:
        return due
    return extension_until if as_utc(extension_until) > as_utc(due) else due


def describe_applied(policy: LatePolicy, due: dt.datetime | None, extension_until: dt.datetime | None) -> str:
    """The policy text plus the extension that moved the deadline, if one did."""
    text = policy.describe()
    applied = effective_due(due, extension_until)
    if applied is not None and due is not None and applied is not due:
        shown = as_utc(applied).astimezone(due.tzinfo) if due.tzinfo else as_utc(applied)
        text += f"; deadline extended to {shown.isoformat(sep=' ', timespec='minutes')}"
    return text


def late_penalty(
    policy: LatePolicy,
    due: dt.datetime | None,
    submitted: dt.datetime | None,
    max_points: float,
    extension_until: dt.datetime | None = None,
) -> Penalty:
    """Points lost for a submission at ``submitted`` against ``due`` (or the extension).

    Within the grace period nothing is lost; after it every *started* day (or hour) costs
    ``penalty_per_day`` (``penalty_per_hour``) of the maximum, at most ``cap`` of it.
    """
    applied = effective_due(due, extension_until)
    extended = applied is not None and applied is not due
    text = describe_applied(policy, due, extension_until)
    if applied is None or submitted is None:
        return Penalty(0.0, 0.0, text, applied, extended)
    late = (as_utc(submitted) - as_utc(applied)).total_seconds()
    if late <= 0:
        return Penalty(0.0, 0.0, text, applied, extended)
    share = penalty_share(policy, late)
    return Penalty(round(share * max_points, 6), late, text, applied, extended)


def penalty_share(policy: LatePolicy, late_seconds: float) -> float:
    """The share of the maximum lost for being ``late_seconds`` late (vectorisable helper)."""
    if late_seconds <= 0 or late_seconds <= policy.grace_seconds:
        return 0.0
    if policy.penalty_per_day:
        units, rate = math.ceil(late_seconds / 86400), policy.penalty_per_day
    else:
        units, rate = math.ceil(late_seconds / 3600), policy.penalty_per_hour
    return min(policy.cap, units * rate)


def penalty_points(policy: LatePolicy, late_seconds, max_points):
    """:func:`late_penalty`'s points for many submissions at once (numpy arrays, same rules).

    ``late_seconds`` is measured against each submission's own deadline (extension included);
    NaN (no deadline or no submission time) costs nothing.
    """
    import numpy as np

    late = np.asarray(late_seconds, dtype=float)
    if policy.penalty_per_day:
        units, rate = np.ceil(late / 86400), policy.penalty_per_day
    else:
        units, rate = np.ceil(late / 3600), policy.penalty_per_hour
    with np.errstate(invalid="ignore"):
        counts = ~(np.isnan(late) | (late <= 0) | (late <= policy.grace_seconds))
    share = np.where(counts, np.minimum(policy.cap, np.nan_to_num(units) * rate), 0.0)
    return np.round(share * np.asarray(max_points, dtype=float), 6)
