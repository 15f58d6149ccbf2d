"""``gradehub_status``: one row per graded submission, what nbgrader has no place for.

How the execution ended, the message a student reads, the sanitizer's notes and flags for a
human. :func:`gradehub.gradebook.write_submission` writes a row in the same transaction as the
scores; the tutoring store marks a submission graded once its last answer is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from .schema import STATUS

if TYPE_CHECKING:
    from nbgrader.api import Gradebook


@dataclass(frozen=True)
class StatusRow:
    assignment: str
    student: str
    status: str
    message: str
    notes: list[str]
    flags: list[str]
    sandbox: str
    duration: float
    submitted_at: str | None
    graded_at: str


def _key(assignment: str, student: str):
    return and_(STATUS.c.assignment == assignment, STATUS.c.student == student)


def read_status(gb: Gradebook | Engine, assignment: str | None = None) -> dict[tuple[str, str], StatusRow]:
    """Every status row (of one assignment), keyed by (assignment, student)."""
    engine: Engine = gb if isinstance(gb, Engine) else gb.engine
    query = select(
        STATUS.c.assignment,
        STATUS.c.student,
        STATUS.c.status,
        STATUS.c.message,
        STATUS.c.notes,
        STATUS.c.flags,
        STATUS.c.sandbox,
        STATUS.c.duration,
        STATUS.c.submitted_at,
        STATUS.c.graded_at,
    )
    if assignment is not None:
        query = query.where(STATUS.c.assignment == assignment)
    with engine.connect() as conn:
        rows = conn.execute(query).fetchall()
    return {
        (r[0], r[1]): StatusRow(
            r[0], r[1], r[2], r[3], json.loads(r[4]), json.loads(r[5]), r[6], float(r[7]), r[8], r[9]
        )
        for r in rows
    }


def replace_status(session: Session, assignment: str, student: str, row: StatusRow) -> None:
    """Replace the submission's status row within the caller's transaction (it commits)."""
    session.execute(delete(STATUS).where(_key(assignment, student)))
    values: dict[str, Any] = {
        "assignment": assignment,
        "student": student,
        "status": row.status,
        "message": row.message,
        "notes": json.dumps(row.notes),
        "flags": json.dumps(row.flags),
        "sandbox": row.sandbox,
        "duration": row.duration,
        "submitted_at": row.submitted_at,
        "graded_at": row.graded_at,
    }
    session.execute(insert(STATUS).values(**values))


def mark_graded(session: Session, assignment: str, student: str) -> None:
    """A submission waiting for manual grading is graded (within the caller's transaction)."""
    session.execute(
        update(STATUS).where(_key(assignment, student), STATUS.c.status == "needs_manual").values(status="graded")
    )


def delete_status(gb: Gradebook | Engine, assignment: str, student: str) -> None:
    engine: Engine = gb if isinstance(gb, Engine) else gb.engine
    with engine.begin() as conn:
        conn.execute(delete(STATUS).where(_key(assignment, student)))
