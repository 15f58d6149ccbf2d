"""``gradehub_extensions``: the append-only log of extensions (every grant and revocation a row).

The rules (who may grant, what ``--until`` means, penalties following) are
:mod:`gradehub.extensions`'; this module only reads and appends rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from ..late import as_utc
from .schema import EXTENSIONS, create_tables


@dataclass(frozen=True)
class Extension:
    assignment: str
    student: str
    until: dt.datetime | None  # aware (UTC); None: this row revoked the extension
    granted_by: str
    reason: str
    granted_at: str  # ISO time (UTC) the row was written

    def describe(self) -> str:
        if self.until is None:
            return f"extension revoked by {self.granted_by} ({self.reason})"
        return (
            f"extension to {self.until.isoformat(sep=' ', timespec='minutes')} "
            f"granted by {self.granted_by} ({self.reason})"
        )


def ensure_extensions_table(engine: Engine) -> None:
    """Create ``gradehub_extensions`` if it is missing (idempotent)."""
    create_tables(engine, EXTENSIONS)


def extension_history(engine: Engine, assignment: str | None = None) -> list[Extension]:
    """Every grant and revocation, oldest first."""
    ensure_extensions_table(engine)
    E = EXTENSIONS.c
    query = select(E.assignment, E.student, E.until, E.granted_by, E.reason, E.granted_at).order_by(E.id)
    if assignment:
        query = query.where(E.assignment == assignment)
    with engine.connect() as conn:
        rows = conn.execute(query).fetchall()
    return [
        Extension(r[0], r[1], as_utc(dt.datetime.fromisoformat(r[2])) if r[2] else None, r[3], r[4], r[5]) for r in rows
    ]


def read_extensions(engine: Engine, assignment: str | None = None) -> dict[tuple[str, str], Extension]:
    """The extensions in force: ``{(assignment, student): Extension}`` (revoked ones left out)."""
    current: dict[tuple[str, str], Extension] = {}
    for ext in extension_history(engine, assignment):
        current[(ext.assignment, ext.student)] = ext
    return {k: v for k, v in current.items() if v.until is not None}


def append_extension(
    engine: Engine, assignment: str, student: str, until: dt.datetime | None, granted_by: str, reason: str
) -> Extension:
    """Append a grant (``until``) or a revocation (None), stamped now; the caller has checked it."""
    ensure_extensions_table(engine)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with engine.begin() as conn:
        conn.execute(
            insert(EXTENSIONS).values(
                assignment=assignment,
                student=student,
                until=until.isoformat() if until else None,
                granted_by=granted_by,
                reason=reason,
                granted_at=now,
            )
        )
    return Extension(assignment, student, until, granted_by, reason, now)
