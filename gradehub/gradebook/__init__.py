"""The gradebook: nbgrader's database plus gradehub's own tables, in one place.

======================  ========================================================================
``engine``              :func:`gradebook_engine`, the one SQLAlchemy engine on the course's gradebook
``schema``              the ``Table`` definitions: gradehub's tables (created here, schema fixed
                        for deployed gradebooks) and the columns of nbgrader's that gradehub reads
``queries``             SQL over nbgrader's tables shared by the report and the tutoring store
``status``              ``gradehub_status`` rows (how each submission's execution ended)
``extensions``          the append-only ``gradehub_extensions`` log
``releases``            released grades (an append-only log) and the feedback pages given out
``penalties``           late penalties written into nbgrader's own columns
``writes``              nbgrader's ``Gradebook`` opened, roster and dates synced, a graded
                        submission written in one transaction (the only module importing nbgrader)
======================  ========================================================================

Everything but ``writes`` is importable without nbgrader (its import alone takes seconds, longer
than a whole ``gradehub report``); the names of ``writes`` are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .engine import gradebook_engine
from .extensions import Extension, append_extension, ensure_extensions_table, extension_history, read_extensions
from .penalties import PenaltyChange, sync_penalties
from .queries import comments_sql, grades_sql
from .releases import (
    FeedbackRelease,
    GradeRelease,
    ensure_release_tables,
    feedback_releases,
    grade_release_log,
    record_feedback_release,
    record_grade_release,
    released_grades,
)
from .schema import (
    ASSIGNMENT,
    BASE_CELL,
    EXTENSIONS,
    FEEDBACK_RELEASES,
    GRADE_CELLS,
    GRADE_RELEASES,
    MODERATION,
    NOTEBOOK,
    STATUS,
    STUDENT,
    SUBMITTED_ASSIGNMENT,
    SUBMITTED_NOTEBOOK,
    TUTOR_FLAGS,
    TUTOR_MARKS,
    TUTOR_OVERRIDES,
    TUTOR_TABLES,
    create_tables,
)
from .status import StatusRow, delete_status, mark_graded, read_status, replace_status

if TYPE_CHECKING:
    from .writes import ensure_tools_on_path, open_gradebook, sync_assignment_dates, sync_roster, write_submission

STATUS_TABLE = STATUS.name

_NBGRADER_NAMES = ("ensure_tools_on_path", "open_gradebook", "sync_assignment_dates", "sync_roster", "write_submission")

__all__ = [
    "ASSIGNMENT",
    "BASE_CELL",
    "EXTENSIONS",
    "FEEDBACK_RELEASES",
    "GRADE_CELLS",
    "GRADE_RELEASES",
    "MODERATION",
    "NOTEBOOK",
    "STATUS",
    "STATUS_TABLE",
    "STUDENT",
    "SUBMITTED_ASSIGNMENT",
    "SUBMITTED_NOTEBOOK",
    "TUTOR_FLAGS",
    "TUTOR_MARKS",
    "TUTOR_OVERRIDES",
    "TUTOR_TABLES",
    "Extension",
    "FeedbackRelease",
    "GradeRelease",
    "PenaltyChange",
    "StatusRow",
    "append_extension",
    "comments_sql",
    "create_tables",
    "delete_status",
    "ensure_extensions_table",
    "ensure_release_tables",
    "ensure_tools_on_path",
    "extension_history",
    "feedback_releases",
    "grade_release_log",
    "gradebook_engine",
    "grades_sql",
    "mark_graded",
    "open_gradebook",
    "read_extensions",
    "read_status",
    "record_feedback_release",
    "record_grade_release",
    "released_grades",
    "replace_status",
    "sync_assignment_dates",
    "sync_penalties",
    "sync_roster",
    "write_submission",
]


def __getattr__(name: str) -> Any:
    """The nbgrader-backed names, imported (with nbgrader) when first asked for."""
    if name in _NBGRADER_NAMES:
        return getattr(importlib.import_module(".writes", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
