"""Penalty syncing: the late penalties the report computes, written into nbgrader's own columns.

The report computes every penalty at report time (course.toml's deadline and policy, the
extensions in force); this step writes the same numbers into nbgrader's columns so that the
formgrader and ``nbgrader export`` agree with the report (see
:func:`gradehub.gradebook.sync_penalties`). It is the one step of ``gradehub report`` that
writes to the gradebook; :func:`gradehub.report.write_reports` runs it first unless told not to
(``sync_gradebook=False``), and it can run on its own.
"""

from __future__ import annotations

from collections.abc import Callable

from ..course import Course
from ..gradebook import PenaltyChange, gradebook_engine, sync_penalties


def sync_nbgrader_penalties(course: Course, warn: Callable[[str], None] | None = None) -> list[PenaltyChange] | None:
    """Write the report's penalties into nbgrader's columns; the submissions whose penalty changed.

    A gradebook that cannot be opened is an error (the report could not be made either); one
    that cannot be written (locked, read-only) is only a warning through ``warn``, and None.
    """
    engine = gradebook_engine(course)
    try:
        return sync_penalties(course, engine)
    except Exception as exc:  # noqa: BLE001 - a locked gradebook must not stop the report
        if warn:
            warn(f"could not update nbgrader's penalty columns: {type(exc).__name__}: {exc}")
        return None
    finally:
        engine.dispose()
