"""Per-student extensions, recorded with who granted them and why; penalties follow them.

An extension moves one student's deadline for one assignment (``gradehub extend STUDENT
ASSIGNMENT --until TIME --reason TEXT``). It is stored in the gradebook, in the append-only
table ``gradehub_extensions`` (every grant and revocation is a row: who, why, when), so the
history survives and a revocation is just another row.

The rows are read and written by :mod:`gradehub.gradebook` (``extension_history``,
``read_extensions``); this module holds the rules a grant follows (a reason, a known student,
a time after the deadline) and what the CLI needs. After every grant or revocation,
:func:`gradehub.gradebook.sync_penalties` brings nbgrader's penalty columns in line (reports
and feedback recompute penalties themselves; nbgrader's columns are for the formgrader and
``nbgrader export``).
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import re

from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine

from .course import Course, CourseError, parse_duration
from .gradebook import (
    STUDENT,
    Extension,
    PenaltyChange,
    append_extension,
    gradebook_engine,
    read_extensions,
    sync_penalties,
)
from .late import as_utc

_RELATIVE = re.compile(r"^\s*\+\s*(.+)$")


def default_granter() -> str:
    """Who is granting: the JupyterHub user when run on the hub, else the login name."""
    return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


def parse_until(value: str, due: dt.datetime | None) -> dt.datetime:
    """``2026-10-30T23:59+01:00`` or ``+3d`` / ``+36h`` (relative to the course deadline) → aware UTC."""
    match = _RELATIVE.match(value)
    if match:
        if due is None:
            raise CourseError("a relative extension (+3d) needs a deadline in course.toml")
        return as_utc(due) + dt.timedelta(seconds=parse_duration(match.group(1).strip(), "--until"))
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise CourseError(
            f"--until: {value!r} is neither an ISO time (2026-10-30T23:59+01:00) "
            "nor a duration after the deadline (+3d, +36h)"
        ) from None
    if when.tzinfo is None:
        raise CourseError(f"--until: {value} has no UTC offset; write e.g. 2026-10-30T23:59+01:00")
    return as_utc(when)


def _record(
    course: Course,
    engine: Engine,
    assignment: str,
    student: str,
    until: dt.datetime | None,
    granted_by: str,
    reason: str,
) -> Extension:
    if not reason.strip():
        raise CourseError("say why (--reason): extensions are recorded with who granted them and why")
    if not granted_by.strip():
        raise CourseError("say who grants the extension (--by)")
    known = {s.id for s in course.roster()} if course.roster_path.is_file() else set()
    if inspect(engine).has_table(STUDENT.name):
        with engine.connect() as conn:
            known |= set(conn.execute(select(STUDENT.c.id)).scalars())
    if student not in known:
        raise CourseError(f"unknown student {student!r} (neither in the roster nor in the gradebook)")
    return append_extension(engine, assignment, student, until, granted_by.strip(), reason.strip())


def grant_extension(
    course: Course, student: str, assignment: str, until: dt.datetime, *, granted_by: str, reason: str
) -> tuple[Extension, list[PenaltyChange]]:
    """Record an extension and bring nbgrader's penalty columns in line; returns what changed."""
    a = course.assignment(assignment)
    if a.due is None:
        raise CourseError(f"{assignment} has no deadline in course.toml, so there is nothing to extend")
    until = as_utc(until)
    if until <= as_utc(a.due):
        raise CourseError(
            f"{until.isoformat()} is not after the deadline of {assignment} "
            f"({as_utc(a.due).isoformat()}); an extension can only move it later"
        )
    engine = gradebook_engine(course)
    try:
        ext = _record(course, engine, assignment, student, until, granted_by, reason)
        return ext, sync_penalties(course, engine)
    finally:
        engine.dispose()


def revoke_extension(
    course: Course, student: str, assignment: str, *, granted_by: str, reason: str
) -> list[PenaltyChange]:
    course.assignment(assignment)
    engine = gradebook_engine(course)
    try:
        if (assignment, student) not in read_extensions(engine, assignment):
            raise CourseError(f"{student} has no extension for {assignment}")
        _record(course, engine, assignment, student, None, granted_by, reason)
        return sync_penalties(course, engine)
    finally:
        engine.dispose()
