"""Per-student extensions, recorded with who granted them and why; penalties follow them.

An extension moves one student's deadline for one assignment (``gradehub extend STUDENT
ASSIGNMENT --until TIME --reason TEXT``). It is stored in the gradebook, in the append-only
table ``gradehub_extensions`` (every grant and revocation is a row: who, why, when), so the
history survives and a revocation is just another row.

Penalties are never stored as the truth: reports and feedback recompute them from the
submission time, course.toml's deadline and policy, and the extension in force
(:func:`gradehub.late.late_penalty`). :func:`sync_penalties` writes the same numbers into
nbgrader's own columns (``SubmittedNotebook.late_submission_penalty``,
``SubmittedAssignment.extension``, ``Assignment.duedate``) so that the formgrader and
``nbgrader export`` show what gradehub's reports show. It runs after every ``extend`` and
every ``report``, which is how a changed deadline in course.toml reaches the gradebook.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (Column, DateTime, Float, Interval, MetaData, String, Table, bindparam, create_engine,
                        func, inspect, select, text, update)

from .course import Course, CourseError, gradebook_url, parse_duration
from .late import as_utc, late_penalty

_RELATIVE = re.compile(r"^\s*\+\s*(.+)$")

EXTENSIONS_TABLE = "gradehub_extensions"
# Append-only: every grant and every revocation is a row (who, why, when). The extension in
# force for (assignment, student) is the newest row; ``until`` NULL means it was revoked.
_EXTENSIONS_DDL = f"""
CREATE TABLE IF NOT EXISTS {EXTENSIONS_TABLE} (
    id {{serial}},
    assignment VARCHAR(128) NOT NULL,
    student VARCHAR(128) NOT NULL,
    until VARCHAR(64),
    granted_by VARCHAR(128) NOT NULL,
    reason TEXT NOT NULL,
    granted_at VARCHAR(64) NOT NULL
)
"""

# The few columns of nbgrader's tables that penalties touch, declared here so that neither
# reports nor extensions import nbgrader (its import alone takes seconds). Types match
# nbgrader.api's (DateTime: naive UTC; Interval: SQLAlchemy's portable encoding).
_md = MetaData()
_assignment = Table("assignment", _md, Column("id", String(32), primary_key=True), Column("name", String(128)),
                    Column("duedate", DateTime()))
_notebook = Table("notebook", _md, Column("id", String(32), primary_key=True), Column("name", String(128)),
                  Column("assignment_id", String(32)))
_base_cell = Table("base_cell", _md, Column("id", String(32), primary_key=True), Column("notebook_id", String(32)))
_grade_cells = Table("grade_cells", _md, Column("id", String(32), primary_key=True), Column("max_score", Float()))
_submitted_assignment = Table("submitted_assignment", _md, Column("id", String(32), primary_key=True),
                              Column("assignment_id", String(32)), Column("student_id", String(128)),
                              Column("timestamp", DateTime()), Column("extension", Interval()))
_submitted_notebook = Table("submitted_notebook", _md, Column("id", String(32), primary_key=True),
                            Column("assignment_id", String(32)), Column("notebook_id", String(32)),
                            Column("late_submission_penalty", Float()))


def gradebook_engine(course: Course):
    """An SQLAlchemy engine on the course's gradebook, without importing nbgrader.

    The URL is :func:`gradehub.course.gradebook_url`'s, as for nbgrader's ``Gradebook``.
    """
    engine = create_engine(gradebook_url(course))
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if database and database != ":memory:" and not Path(database).is_file():
        engine.dispose()           # connecting would leave an empty file that nbgrader then refuses
        raise CourseError(f"there is no gradebook at {database} yet: run `gradehub release ASSIGNMENT` first")
    return engine


def ensure_extensions_table(engine) -> None:
    """Create ``gradehub_extensions`` if it is missing (idempotent)."""
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if engine.dialect.name == "sqlite" else "SERIAL PRIMARY KEY"
    with engine.begin() as conn:
        conn.execute(text(_EXTENSIONS_DDL.format(serial=serial)))


@dataclass(frozen=True)
class Extension:
    assignment: str
    student: str
    until: dt.datetime | None    # aware (UTC); None: this row revoked the extension
    granted_by: str
    reason: str
    granted_at: str              # ISO time (UTC) the row was written

    def describe(self) -> str:
        if self.until is None:
            return f"extension revoked by {self.granted_by} ({self.reason})"
        return (f"extension to {self.until.isoformat(sep=' ', timespec='minutes')} "
                f"granted by {self.granted_by} ({self.reason})")


@dataclass(frozen=True)
class PenaltyChange:
    assignment: str
    student: str
    before: float
    after: float


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
        raise CourseError(f"--until: {value!r} is neither an ISO time (2026-10-30T23:59+01:00) "
                          "nor a duration after the deadline (+3d, +36h)") from None
    if when.tzinfo is None:
        raise CourseError(f"--until: {value} has no UTC offset; write e.g. 2026-10-30T23:59+01:00")
    return as_utc(when)


def _row_to_extension(row) -> Extension:
    until = as_utc(dt.datetime.fromisoformat(row[2])) if row[2] else None
    return Extension(row[0], row[1], until, row[3], row[4], row[5])


def extension_history(engine, assignment: str | None = None) -> list[Extension]:
    """Every grant and revocation, oldest first."""
    ensure_extensions_table(engine)
    query = (f"SELECT assignment, student, until, granted_by, reason, granted_at FROM {EXTENSIONS_TABLE}"
             + (" WHERE assignment = :a" if assignment else "") + " ORDER BY id")
    with engine.connect() as conn:
        rows = conn.execute(text(query), {"a": assignment} if assignment else {}).fetchall()
    return [_row_to_extension(r) for r in rows]


def read_extensions(engine, assignment: str | None = None) -> dict[tuple[str, str], Extension]:
    """The extensions in force: ``{(assignment, student): Extension}`` (revoked ones left out)."""
    current: dict[tuple[str, str], Extension] = {}
    for ext in extension_history(engine, assignment):
        current[(ext.assignment, ext.student)] = ext
    return {k: v for k, v in current.items() if v.until is not None}


def _record(course: Course, engine, assignment: str, student: str, until: dt.datetime | None,
            granted_by: str, reason: str) -> Extension:
    if not reason.strip():
        raise CourseError("say why (--reason): extensions are recorded with who granted them and why")
    if not granted_by.strip():
        raise CourseError("say who grants the extension (--by)")
    known = {s.id for s in course.roster()} if course.roster_path.is_file() else set()
    if inspect(engine).has_table("student"):
        with engine.connect() as conn:
            known |= {r[0] for r in conn.execute(text("SELECT id FROM student"))}
    if student not in known:
        raise CourseError(f"unknown student {student!r} (neither in the roster nor in the gradebook)")
    ensure_extensions_table(engine)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {EXTENSIONS_TABLE} (assignment, student, until, granted_by, reason, "
                          "granted_at) VALUES (:a, :s, :u, :b, :r, :t)"),
                     {"a": assignment, "s": student, "u": until.isoformat() if until else None,
                      "b": granted_by.strip(), "r": reason.strip(), "t": now})
    return Extension(assignment, student, until, granted_by.strip(), reason.strip(), now)


def grant_extension(course: Course, student: str, assignment: str, until: dt.datetime, *,
                    granted_by: str, reason: str) -> tuple[Extension, list[PenaltyChange]]:
    """Record an extension and bring nbgrader's penalty columns in line; returns what changed."""
    a = course.assignment(assignment)
    if a.due is None:
        raise CourseError(f"{assignment} has no deadline in course.toml, so there is nothing to extend")
    until = as_utc(until)
    if until <= as_utc(a.due):
        raise CourseError(f"{until.isoformat()} is not after the deadline of {assignment} "
                          f"({as_utc(a.due).isoformat()}); an extension can only move it later")
    engine = gradebook_engine(course)
    try:
        ext = _record(course, engine, assignment, student, until, granted_by, reason)
        return ext, sync_penalties(course, engine)
    finally:
        engine.dispose()


def revoke_extension(course: Course, student: str, assignment: str, *, granted_by: str,
                     reason: str) -> list[PenaltyChange]:
    course.assignment(assignment)
    engine = gradebook_engine(course)
    try:
        if (assignment, student) not in read_extensions(engine, assignment):
            raise CourseError(f"{student} has no extension for {assignment}")
        _record(course, engine, assignment, student, None, granted_by, reason)
        return sync_penalties(course, engine)
    finally:
        engine.dispose()


def sync_penalties(course: Course, engine) -> list[PenaltyChange]:
    """Recompute every submission's penalty from course.toml + extensions; write nbgrader's columns.

    Writes only what differs, in one transaction: ``assignment.duedate`` (course.toml's
    deadline, naive UTC), ``submitted_assignment.extension`` (extension − deadline) and the
    penalty on the submission's first notebook by name (the convention of
    :func:`gradehub.gradebook.write_submission`; the others get none). Returns the
    submissions whose penalty changed. A gradebook without nbgrader's tables is left alone.
    """
    if not inspect(engine).has_table("submitted_assignment"):
        return []
    extensions = read_extensions(engine)
    by_id = {a.id: a for a in course.assignments}
    A, N, B, G = _assignment, _notebook, _base_cell, _grade_cells
    SA, SN = _submitted_assignment, _submitted_notebook
    changes: list[PenaltyChange] = []
    with engine.begin() as conn:
        due_updates = []
        for aid, name, duedate in conn.execute(select(A.c.id, A.c.name, A.c.duedate)):
            a = by_id.get(name)
            if a is None:
                continue
            wanted = as_utc(a.due).replace(tzinfo=None) if a.due else None
            if duedate != wanted:
                due_updates.append({"a_id": aid, "due": wanted})
        if due_updates:
            conn.execute(update(A).where(A.c.id == bindparam("a_id")).values(duedate=bindparam("due")),
                         due_updates)
        max_scores = dict(conn.execute(
            select(A.c.name, func.sum(G.c.max_score))
            .select_from(A.join(N, N.c.assignment_id == A.c.id).join(B, B.c.notebook_id == N.c.id)
                         .join(G, G.c.id == B.c.id))
            .group_by(A.c.name)).all())
        notebooks: dict[str, list[tuple[str, str, float | None]]] = {}
        for nb_id, sa_id, name, penalty in conn.execute(
                select(SN.c.id, SN.c.assignment_id, N.c.name, SN.c.late_submission_penalty)
                .select_from(SN.join(N, N.c.id == SN.c.notebook_id))):
            notebooks.setdefault(sa_id, []).append((name, nb_id, penalty))
        nb_updates, ext_updates = [], []
        for sa_id, aname, student, timestamp, extension in conn.execute(
                select(SA.c.id, A.c.name, SA.c.student_id, SA.c.timestamp, SA.c.extension)
                .select_from(SA.join(A, A.c.id == SA.c.assignment_id))):
            a = by_id.get(aname)
            if a is None:
                continue
            ext = extensions.get((aname, student))
            p = late_penalty(a.late_policy, a.due, timestamp, float(max_scores.get(aname) or 0.0),
                             ext.until if ext else None)
            wanted_ext = (ext.until - as_utc(a.due)) if (ext and ext.until and a.due and ext.until > as_utc(a.due)) \
                else None
            if extension != wanted_ext:
                ext_updates.append({"sa_id": sa_id, "ext": wanted_ext})
            nbs = sorted(notebooks.get(sa_id, []))
            before = sum(x[2] or 0.0 for x in nbs)
            for i, (_, nb_id, stored) in enumerate(nbs):
                wanted_pen = p.points if (i == 0 and p.points) else None
                if stored != wanted_pen:
                    nb_updates.append({"nb_id": nb_id, "pen": wanted_pen})
            if abs(before - p.points) > 1e-9:
                changes.append(PenaltyChange(aname, student, before, p.points))
        if nb_updates:
            conn.execute(update(SN).where(SN.c.id == bindparam("nb_id"))
                         .values(late_submission_penalty=bindparam("pen")), nb_updates)
        if ext_updates:
            conn.execute(update(SA).where(SA.c.id == bindparam("sa_id")).values(extension=bindparam("ext")),
                         ext_updates)
    return changes
