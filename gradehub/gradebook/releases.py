"""What the students have been given: released grades (a log) and released feedback pages.

``gradehub_grade_releases`` is append-only (every release and withdrawal a row: who, when);
an assignment's grades are released when its newest row says so. ``gradehub_feedback_releases``
holds, per student and assignment, the page last put into the exchange and under which names.
The rules (who may release, what a release writes) are :mod:`gradehub.results`' and
:mod:`gradehub.exchange`'s; this module only reads and writes rows.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.engine import Engine

from .schema import FEEDBACK_RELEASES, GRADE_RELEASES, RELEASE_TABLES, create_tables


@dataclass(frozen=True)
class GradeRelease:
    assignment: str
    released: bool
    released_by: str
    released_at: str  # ISO time (UTC)


@dataclass(frozen=True)
class FeedbackRelease:
    assignment: str
    student: str
    submitted_at: str | None  # the graded submission's time (ISO, UTC), as gradehub_status has it
    files: dict[str, str]  # notebook id -> "<hash>.html" in the exchange's feedback folder
    checksum: str  # sha256 of the page
    with_grades: bool  # the page showed the tutor's points and comments
    released_by: str
    released_at: str


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def ensure_release_tables(engine: Engine) -> None:
    create_tables(engine, *RELEASE_TABLES)


def grade_release_log(engine: Engine, assignment: str | None = None) -> list[GradeRelease]:
    """Every release and withdrawal, oldest first."""
    ensure_release_tables(engine)
    G = GRADE_RELEASES.c
    query = select(G.assignment, G.released, G.released_by, G.released_at).order_by(G.id)
    if assignment:
        query = query.where(G.assignment == assignment)
    with engine.connect() as conn:
        rows = conn.execute(query).fetchall()
    return [GradeRelease(r[0], bool(r[1]), r[2], r[3]) for r in rows]


def released_grades(engine: Engine) -> dict[str, GradeRelease]:
    """The assignments whose grades the students see now, with their latest release."""
    current: dict[str, GradeRelease] = {}
    for row in grade_release_log(engine):
        current[row.assignment] = row
    return {a: r for a, r in current.items() if r.released}


def record_grade_release(engine: Engine, assignment: str, released: bool, by: str) -> GradeRelease:
    ensure_release_tables(engine)
    row = GradeRelease(assignment, released, by, now_iso())
    with engine.begin() as conn:
        conn.execute(
            insert(GRADE_RELEASES).values(
                assignment=assignment, released=int(released), released_by=by, released_at=row.released_at
            )
        )
    return row


def feedback_releases(engine: Engine, assignment: str | None = None) -> dict[tuple[str, str], FeedbackRelease]:
    """``{(assignment, student): FeedbackRelease}``."""
    ensure_release_tables(engine)
    F = FEEDBACK_RELEASES.c
    query = select(
        F.assignment, F.student, F.submitted_at, F.files, F.checksum, F.with_grades, F.released_by, F.released_at
    )
    if assignment:
        query = query.where(F.assignment == assignment)
    with engine.connect() as conn:
        rows = conn.execute(query).fetchall()
    out = {}
    for r in rows:
        try:
            files = json.loads(r[3])
        except ValueError:
            files = {}
        files = {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}
        out[(r[0], r[1])] = FeedbackRelease(r[0], r[1], r[2], files, r[4], bool(r[5]), r[6], r[7])
    return out


def record_feedback_release(engine: Engine, release: FeedbackRelease) -> None:
    """Replace the row of (assignment, student) with ``release``."""
    ensure_release_tables(engine)
    F = FEEDBACK_RELEASES.c
    with engine.begin() as conn:
        conn.execute(
            delete(FEEDBACK_RELEASES).where(and_(F.assignment == release.assignment, F.student == release.student))
        )
        conn.execute(
            insert(FEEDBACK_RELEASES).values(
                assignment=release.assignment,
                student=release.student,
                submitted_at=release.submitted_at,
                files=json.dumps(release.files, sort_keys=True),
                checksum=release.checksum,
                with_grades=int(release.with_grades),
                released_by=release.released_by,
                released_at=release.released_at,
            )
        )
