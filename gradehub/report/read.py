"""Reading the gradebook and the release notebooks: the raw tables the report frames are built from.

A handful of SQL queries (not nbgrader's object API, which issues a query per cell and takes
minutes on a large course; nbgrader is not even imported, its import alone takes longer than
the whole report), read with pandas; plus what only the notebooks know: each graded cell's
position, which question a tutor comment belongs to, and which cells of a failed execution
did not run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pandas as pd

from ..metadata import nbgrader_meta
from ..course import Course, CourseError
from ..gradebook import (
    STATUS,
    TUTOR_MARKS,
    TUTOR_OVERRIDES,
    comments_sql,
    ensure_extensions_table,
    extension_history,
    gradebook_engine,
    grades_sql,
)

LARGE_GRADEBOOK = 20_000  # grade rows from which the CLI shows a progress bar

_QUESTIONS_SQL = """
SELECT a.name AS assignment, n.name AS notebook, bc.name AS question,
       gc.max_score AS max_score, gc.cell_type AS cell_type
FROM grade_cells gc
JOIN base_cell bc ON bc.id = gc.id
JOIN notebook n ON n.id = bc.notebook_id
JOIN assignment a ON a.id = n.assignment_id
"""

_GRADES_SQL = grades_sql(cell_as="question")
_COMMENTS_SQL = comments_sql() + " WHERE x.manual_comment IS NOT NULL AND x.manual_comment != ''"

_SUBMISSIONS_SQL = """
SELECT sa.student_id AS student, a.name AS assignment, sa.timestamp AS submitted_at
FROM submitted_assignment sa JOIN assignment a ON a.id = sa.assignment_id
"""

_STUDENTS_SQL = "SELECT id AS student, first_name, last_name, email FROM student"
_STATUS_SQL = f"SELECT assignment, student, status, message, flags, graded_at FROM {STATUS.name}"
_GRADE_COUNT_SQL = "SELECT COUNT(*) FROM grade"
_MARKS_TABLE, _OVERRIDES_TABLE = TUTOR_MARKS.name, TUTOR_OVERRIDES.name
_MARKS_SQL = f"SELECT assignment, student, notebook, cell AS question, tutor, score AS marked FROM {_MARKS_TABLE}"
_OVERRIDES_SQL = f"SELECT student, tutor FROM {_OVERRIDES_TABLE}"


def gradebook_size(course: Course) -> int:
    """How many grade rows the gradebook holds (cheap; decides whether to show a progress bar)."""
    try:
        engine = gradebook_engine(course)
    except CourseError:
        return 0
    try:
        with engine.connect() as conn:
            from sqlalchemy import inspect, text

            if not inspect(conn).has_table("grade"):
                return 0
            return int(conn.execute(text(_GRADE_COUNT_SQL)).scalar() or 0)
    finally:
        engine.dispose()


def read_gradebook(course: Course) -> dict[str, pd.DataFrame]:
    from sqlalchemy import inspect

    engine = gradebook_engine(course)
    try:
        tables = set(inspect(engine).get_table_names())
        if not {"assignment", "grade", "submitted_assignment"} <= tables:
            raise CourseError(
                f"the gradebook ({engine.url.render_as_string()}) has no nbgrader tables yet: "
                "run `gradehub release ASSIGNMENT` first"
            )
        ensure_extensions_table(engine)
        queries = {
            "cells": _QUESTIONS_SQL,
            "grades": _GRADES_SQL,
            "comments": _COMMENTS_SQL,
            "subs": _SUBMISSIONS_SQL,
            "students": _STUDENTS_SQL,
        }
        if STATUS.name in tables:
            queries["status"] = _STATUS_SQL
        if _MARKS_TABLE in tables:
            queries["marks"] = _MARKS_SQL
        if _OVERRIDES_TABLE in tables:
            queries["overrides"] = _OVERRIDES_SQL
        if engine.dialect.name == "sqlite":
            # pandas reads a plain sqlite3 connection directly: a third faster than through SQLAlchemy
            raw = engine.raw_connection()
            try:
                out = {name: pd.read_sql(sql, raw.driver_connection) for name, sql in queries.items()}
            finally:
                raw.close()
        else:
            with engine.connect() as conn:
                out = {name: pd.read_sql(sql, conn) for name, sql in queries.items()}
        if "status" not in out:
            out["status"] = pd.DataFrame(columns=["assignment", "student", "status", "message", "flags", "graded_at"])
        out["history"] = extension_history(engine)
    finally:
        engine.dispose()
    return out


def cell_order(course: Course, assignments: Iterable[str]) -> tuple[dict, dict]:
    """From the release notebooks: each graded cell's position, and which question a comment belongs to.

    A comment sits on an answer cell; it belongs to the next graded cell (the answer's tests),
    or to the cell itself for a free-response answer.
    """
    position: dict[tuple[str, str, str], int] = {}
    comment_target: dict[tuple[str, str, str], str] = {}
    for aid in assignments:
        release = course.release_dir(aid)
        if not release.is_dir():
            continue
        for path in sorted(release.glob("*.ipynb")):
            try:
                cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
            except (OSError, ValueError):
                continue
            pending: list[str] = []
            last = None
            for i, cell in enumerate(cells):
                meta = nbgrader_meta(cell) or {}
                gid = meta.get("grade_id")
                if not gid:
                    continue
                position[(aid, path.stem, gid)] = i
                if meta.get("grade"):
                    for p in [*pending, gid]:
                        comment_target[(aid, path.stem, p)] = gid
                    pending, last = [], gid
                elif meta.get("solution") or meta.get("task"):
                    pending.append(gid)
            for p in pending:
                if last:
                    comment_target[(aid, path.stem, p)] = last
    return position, comment_target


def cells_not_run(course: Course, student: str, assignment: str) -> dict[tuple[str, str], str] | None:
    """For a failed execution: ``{(notebook, grade_id): what happened}`` for graded cells that did not run.

    Read from ``autograded/<student>/<assignment>/gradehub-result.json`` and the executed
    notebook; None when they are missing (then every cell of the submission counts as not run).
    """
    folder = course.autograded_dir(student, assignment)
    try:
        result = json.loads((folder / "gradehub-result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    out: dict[tuple[str, str], str] = {}
    words = {
        "timeout": "stopped at the cell time limit",
        "not_run": "not reached: execution stopped earlier",
        "untrusted": "not scored: untrusted cell",
    }
    for entry in result.get("notebooks", []):
        name = entry.get("name")
        records = entry.get("cells") or {}
        try:
            nb = json.loads((folder / f"{name}.ipynb").read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError):
            return None
        for index, cell in enumerate(nb.get("cells", [])):
            meta = nbgrader_meta(cell) or {}
            gid = meta.get("grade_id")
            if not meta.get("grade") or cell.get("cell_type") != "code" or meta.get("solution") or not gid:
                continue
            status = (records.get(str(index)) or {}).get("status", "not_run")
            if status not in ("ok", "error"):
                out[(name, gid)] = words.get(status, status)
    return out


def local_times(series: pd.Series, tz: str) -> pd.Series:
    """Naive UTC (as nbgrader stores it) → aware times in the course's time zone."""
    # format="ISO8601": without it pandas guesses one format from the first value and turns
    # every value written differently (no microseconds, an offset) into NaT
    s = pd.to_datetime(series, errors="coerce", utc=True, format="ISO8601")
    return s.dt.tz_convert(tz)


CASE_COLUMNS = [
    "student",
    "assignment",
    "notebook",
    "question",
    "case",
    "hidden",
    "passed",
    "points",
    "max_points",
    "kind",
]


def test_cases(course: Course, assignments: list[str]) -> pd.DataFrame:
    """One row per test case of every graded submission whose verdicts have cases (otter questions).

    Read from ``autograded/<student>/<assignment>/gradehub-result.json``, where grading wrote the
    host's per-case outcome; a hidden case is a name, passed or failed and points, nothing more.
    """
    rows = []
    root = course.autograded_dir()
    for assignment in assignments:
        for path in sorted(root.glob(f"*/{assignment}/gradehub-result.json")):
            try:
                result = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            student = path.parent.parent.name
            for verdict in result.get("verdicts") or []:
                for case in verdict.get("cases") or [] if isinstance(verdict, dict) else []:
                    if not isinstance(case, dict):
                        continue
                    rows.append(
                        [
                            student,
                            assignment,
                            str(verdict.get("notebook", "")),
                            str(verdict.get("grade_id", "")),
                            str(case.get("name", "")),
                            case.get("hidden") is not False,
                            case.get("passed") is True,
                            _number(case.get("points")),
                            _number(case.get("max_points")),
                            str(case.get("kind", "")),
                        ]
                    )
    return pd.DataFrame(rows, columns=CASE_COLUMNS)


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
