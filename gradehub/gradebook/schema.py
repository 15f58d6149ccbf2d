"""The tables: gradehub's own (created here) and the parts of nbgrader's that gradehub reads with SQL.

gradehub keeps what nbgrader has no place for in tables of its own, next to nbgrader's in the
same database (SQLite or PostgreSQL):

``gradehub_status``            how each submission's execution ended, the student's message,
                               the sanitizer's notes, flags for a human (:mod:`.status`)
``gradehub_extensions``        append-only log of extensions granted and revoked (:mod:`.extensions`)
``gradehub_tutor_overrides``   student → tutor account, set by the instructor (move, split)
``gradehub_tutor_marks``       who entered the current manual score of an answer, and when
``gradehub_tutor_flags``       a tutor's question to the instructor about one answer
``gradehub_moderation``        a sample of graded answers, their second marker and second mark
``gradehub_grade_releases``    append-only log: the instructor released (or withdrew) an assignment's
                               grades to the students (:mod:`.releases`)
``gradehub_feedback_releases`` the feedback page each student was last given through the exchange

These definitions are the schema of deployed gradebooks: names, columns and types must not
change (add a table rather than alter one). :func:`create_tables` creates missing ones with
``CREATE TABLE IF NOT EXISTS`` and never touches an existing one.

nbgrader's tables are declared with only the columns gradehub reads or writes with SQL, so that
neither the report nor the extensions import nbgrader (its import alone takes seconds). Types
match ``nbgrader.api``'s (DateTime: naive UTC; Interval: SQLAlchemy's portable encoding).
nbgrader creates and migrates them; gradehub never does.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Float, Integer, Interval, MetaData, String, Table, Text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import CreateTable

# ----------------------------------------------------------------------------- gradehub's tables

metadata = MetaData()

STATUS = Table(
    "gradehub_status",
    metadata,
    Column("assignment", String(128), primary_key=True),
    Column("student", String(128), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("notes", Text, nullable=False),  # JSON list of strings
    Column("flags", Text, nullable=False),  # JSON list of strings
    Column("sandbox", String(32), nullable=False),
    Column("duration", Float, nullable=False),
    Column("submitted_at", String(64)),
    Column("graded_at", String(64), nullable=False),
)

# Append-only: every grant and every revocation is a row (who, why, when). The extension in
# force for (assignment, student) is the newest row; ``until`` NULL means it was revoked.
EXTENSIONS = Table(
    "gradehub_extensions",
    metadata,
    # SQLite: INTEGER PRIMARY KEY AUTOINCREMENT (NULL allowed, as in the original DDL); PostgreSQL: SERIAL
    Column("id", Integer, primary_key=True, autoincrement=True, nullable=True),
    Column("assignment", String(128), nullable=False),
    Column("student", String(128), nullable=False),
    Column("until", String(64)),  # ISO time with offset; NULL: revoked
    Column("granted_by", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("granted_at", String(64), nullable=False),
    sqlite_autoincrement=True,
)


def _answer_key() -> list[Column]:
    """One student's answer to one cell: the key of the per-answer tutoring tables."""
    return [Column(name, String(128), primary_key=True) for name in ("assignment", "student", "notebook", "cell")]


TUTOR_OVERRIDES = Table(
    "gradehub_tutor_overrides",
    metadata,
    Column("student", String(128), primary_key=True),
    Column("tutor", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("set_by", String(128), nullable=False),
    Column("set_at", String(64), nullable=False),
)

TUTOR_MARKS = Table(
    "gradehub_tutor_marks",
    metadata,
    *_answer_key(),
    Column("tutor", String(128), nullable=False),
    Column("score", Float),
    Column("graded_at", String(64), nullable=False),
)

TUTOR_FLAGS = Table(
    "gradehub_tutor_flags",
    metadata,
    *_answer_key(),
    Column("raised_by", String(128), nullable=False),
    Column("message", Text, nullable=False),
    Column("raised_at", String(64), nullable=False),
    Column("resolved_by", String(128)),
    Column("resolved_at", String(64)),
)

MODERATION = Table(
    "gradehub_moderation",
    metadata,
    *_answer_key(),
    Column("marker", String(128), nullable=False),
    Column("first_marker", String(128), nullable=False),
    Column("first_score", Float),
    Column("second_score", Float),
    Column("second_comment", Text),
    Column("drawn_by", String(128), nullable=False),
    Column("drawn_at", String(64), nullable=False),
    Column("marked_at", String(64)),
)

TUTOR_TABLES = (TUTOR_OVERRIDES, TUTOR_MARKS, TUTOR_FLAGS, MODERATION)

# Append-only, like the extensions: every release and every withdrawal is a row (who, when). An
# assignment's grades are visible to its students when its newest row has released = 1.
GRADE_RELEASES = Table(
    "gradehub_grade_releases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True, nullable=True),
    Column("assignment", String(128), nullable=False),
    Column("released", Integer, nullable=False),  # 1: released, 0: withdrawn
    Column("released_by", String(128), nullable=False),
    Column("released_at", String(64), nullable=False),
    sqlite_autoincrement=True,
)

# One row per (assignment, student): the feedback page last put into the exchange for them,
# under which names (nbgrader's hashed ``<exchange>/<course>/feedback/<hash>.html``), and for
# which submission. A new release replaces the row (and the files it names).
FEEDBACK_RELEASES = Table(
    "gradehub_feedback_releases",
    metadata,
    Column("assignment", String(128), primary_key=True),
    Column("student", String(128), primary_key=True),
    Column("submitted_at", String(64)),
    Column("files", Text, nullable=False),  # JSON {notebook_id: "<hash>.html"}
    Column("checksum", String(64), nullable=False),  # sha256 of the page
    Column("with_grades", Integer, nullable=False),  # 1: the page held the tutor's points (grades released)
    Column("released_by", String(128), nullable=False),
    Column("released_at", String(64), nullable=False),
)

RELEASE_TABLES = (GRADE_RELEASES, FEEDBACK_RELEASES)


def create_tables(bind: Engine | Connection, *tables: Table) -> None:
    """Create the given gradehub tables where missing (idempotent, safe against a concurrent creator)."""
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            create_tables(conn, *tables)
        return
    for table in tables:
        bind.execute(CreateTable(table, if_not_exists=True))


# ----------------------------------------------------------------------------- nbgrader's tables (read only)

nbgrader_metadata = MetaData()

ASSIGNMENT = Table(
    "assignment",
    nbgrader_metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128)),
    Column("duedate", DateTime()),
)
NOTEBOOK = Table(
    "notebook",
    nbgrader_metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128)),
    Column("assignment_id", String(32)),
)
BASE_CELL = Table(
    "base_cell", nbgrader_metadata, Column("id", String(32), primary_key=True), Column("notebook_id", String(32))
)
GRADE_CELLS = Table(
    "grade_cells", nbgrader_metadata, Column("id", String(32), primary_key=True), Column("max_score", Float())
)
STUDENT = Table("student", nbgrader_metadata, Column("id", String(128), primary_key=True))
SUBMITTED_ASSIGNMENT = Table(
    "submitted_assignment",
    nbgrader_metadata,
    Column("id", String(32), primary_key=True),
    Column("assignment_id", String(32)),
    Column("student_id", String(128)),
    Column("timestamp", DateTime()),
    Column("extension", Interval()),
)
SUBMITTED_NOTEBOOK = Table(
    "submitted_notebook",
    nbgrader_metadata,
    Column("id", String(32), primary_key=True),
    Column("assignment_id", String(32)),
    Column("notebook_id", String(32)),
    Column("late_submission_penalty", Float()),
)
