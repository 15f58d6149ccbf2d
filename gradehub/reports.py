"""Gradebook → pandas frames → grades.xlsx, grades.csv, report.html (and Parquet).

The frames are built with a handful of SQL queries (not nbgrader's object API, which issues
a query per cell and takes minutes on a large course; nbgrader is not even imported, its
import alone takes longer than the whole report) and then shaped in pandas:

- ``questions``: one row per student × assignment × question: automatic, manual and final
  score, the question's share of the late penalty, who graded it, tutor comments, and
  whether its cell ran (``execution``) — so a genuine 0 is told apart from a crash;
- ``submissions``: one row per roster student × assignment: status, submission time, the
  deadline that applied (extensions included), lateness, penalty, the policy, totals;
- ``overview``: one row per student: group, per-week totals, course total, percentage,
  whether the exam bonus threshold is met;
- ``scores``: one row per student, one column per assignment/question (final score);
- ``items``: item statistics per question (mean, difficulty, discrimination, zeros, failures);
- ``groups``: one row per tutor group; ``policies``: one row per assignment;
  ``extensions``: every extension granted or revoked (who, why).

Late penalties are computed here, at report time, from the submission time, course.toml's
deadline and policy, and the extensions in the gradebook; a changed deadline changes
every number at the next report.

A status column separates a genuine zero (``graded``) from a crash (``failed: ...``), an
unreadable file (``invalid: ...``), no submission (``missing``) and open manual grading.

The workbook is written by a small streaming XLSX writer (:class:`XlsxWriter`) instead of
openpyxl, which needs about a minute for the 36,000 rows of a 300-student course.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable
from xml.sax.saxutils import escape as _xml_escape

import numpy as np
import pandas as pd

from .course import Course
from .queries import TUTOR_MARKS_TABLE, TUTOR_OVERRIDES_TABLE, comments_sql, grades_sql
from .extensions import ensure_extensions_table, extension_history, gradebook_engine
from .late import _as_utc, describe_applied, penalty_points

STATUS_TABLE = "gradehub_status"          # gradehub.gradebook.STATUS_TABLE (not imported: see above)
LARGE_GRADEBOOK = 20_000                  # grade rows from which the CLI shows a progress bar
FORMATS = ("xlsx", "parquet")

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
_STATUS_SQL = f"SELECT assignment, student, status, message, flags, graded_at FROM {STATUS_TABLE}"
_GRADE_COUNT_SQL = "SELECT COUNT(*) FROM grade"
_MARKS_TABLE, _OVERRIDES_TABLE = TUTOR_MARKS_TABLE, TUTOR_OVERRIDES_TABLE
_MARKS_SQL = f"SELECT assignment, student, notebook, cell AS question, tutor, score AS marked FROM {_MARKS_TABLE}"
_OVERRIDES_SQL = f"SELECT student, tutor FROM {_OVERRIDES_TABLE}"

Progress = Callable[[str, int, int], None]      # (what is happening, step done, steps in all)

SHEET_NOTES = {
    "overview": "one row per student: tutor group, each week's total after late penalties, course total, "
                "percentage of all points, whether the exam bonus threshold is met",
    "questions": "one row per student × question: automatic and manual points, final score, the question's "
                 "share of the late penalty, grader, tutor comments, whether the cell ran",
    "groups": "one row per tutor group: tutors, students, submission rate, mean and median percentage, "
              "exam bonus share, open manual grading, mean percentage per week",
    "group <name>": "one sheet per tutor group: its students' weekly totals, course total, bonus, open "
                    "manual grading and failed or unreadable submissions",
    "items": "item statistics per question: mean, difficulty (mean share of points), discrimination "
             "(corrected item-total correlation), share of zero scores, share of failed executions",
    "submissions": "one row per student × week: status, submission time, deadline that applied, lateness, "
                   "late penalty and the policy, points, flags",
    "scores": "one row per student, one column per week/question: the final score (empty: not submitted)",
    "policies": "one row per week: deadline, late policy, points, submissions, late ones, extensions",
    "extensions": "every extension granted or revoked: student, week, new deadline, who, why, when",
}


@dataclass
class ReportFrames:
    overview: pd.DataFrame
    submissions: pd.DataFrame
    questions: pd.DataFrame
    scores: pd.DataFrame        # one row per student, one column per assignment/question
    items: pd.DataFrame = field(default_factory=pd.DataFrame)
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)
    policies: pd.DataFrame = field(default_factory=pd.DataFrame)
    extensions: pd.DataFrame = field(default_factory=pd.DataFrame)
    meta: dict = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"overview": self.overview, "questions": self.questions, "groups": self.groups,
                "items": self.items, "submissions": self.submissions, "scores": self.scores,
                "policies": self.policies, "extensions": self.extensions}


def _status_text(status: str | None, message: str | None) -> str:
    if status is None:
        return "graded"
    if status in ("failed", "invalid", "error"):
        return f"{status}: {message}"
    if status == "needs_manual":
        return "graded"        # "needs manual grading" while a grade is still open (set by the caller)
    return status


def gradebook_size(course: Course) -> int:
    """How many grade rows the gradebook holds (cheap; decides whether to show a progress bar)."""
    from .course import CourseError
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


# ----------------------------------------------------------------------------- reading


def _read_gradebook(course: Course) -> dict[str, pd.DataFrame]:
    from sqlalchemy import inspect

    from .course import CourseError

    engine = gradebook_engine(course)
    try:
        tables = set(inspect(engine).get_table_names())
        if not {"assignment", "grade", "submitted_assignment"} <= tables:
            raise CourseError(f"the gradebook ({engine.url.render_as_string()}) has no nbgrader tables yet: "
                              "run `gradehub release ASSIGNMENT` first")
        ensure_extensions_table(engine)
        queries = {"cells": _QUESTIONS_SQL, "grades": _GRADES_SQL, "comments": _COMMENTS_SQL,
                   "subs": _SUBMISSIONS_SQL, "students": _STUDENTS_SQL}
        if STATUS_TABLE in tables:
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


def _cell_order(course: Course, assignments: Iterable[str]) -> tuple[dict, dict]:
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
                meta = (cell.get("metadata") or {}).get("nbgrader") or {}
                gid = meta.get("grade_id")
                if not gid:
                    continue
                position[(aid, path.stem, gid)] = i
                if meta.get("grade"):
                    for p in pending + [gid]:
                        comment_target[(aid, path.stem, p)] = gid
                    pending, last = [], gid
                elif meta.get("solution") or meta.get("task"):
                    pending.append(gid)
            for p in pending:
                if last:
                    comment_target[(aid, path.stem, p)] = last
    return position, comment_target


def _cells_not_run(course: Course, student: str, assignment: str) -> dict[tuple[str, str], str] | None:
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
    words = {"timeout": "stopped at the cell time limit", "not_run": "not reached: execution stopped earlier",
             "untrusted": "not scored: untrusted cell"}
    for entry in result.get("notebooks", []):
        name = entry.get("name")
        records = entry.get("cells") or {}
        try:
            nb = json.loads((folder / f"{name}.ipynb").read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError):
            return None
        for index, cell in enumerate(nb.get("cells", [])):
            meta = (cell.get("metadata") or {}).get("nbgrader") or {}
            if not meta.get("grade") or cell.get("cell_type") != "code" or meta.get("solution"):
                continue
            status = (records.get(str(index)) or {}).get("status", "not_run")
            if status not in ("ok", "error"):
                out[(name, meta.get("grade_id"))] = words.get(status, status)
    return out


# ----------------------------------------------------------------------------- shaping


def _local(series: pd.Series, tz: str) -> pd.Series:
    """Naive UTC (as nbgrader stores it) → aware times in the course's time zone."""
    # format="ISO8601": without it pandas guesses one format from the first value and turns
    # every value written differently (no microseconds, an offset) into NaT
    s = pd.to_datetime(series, errors="coerce", utc=True, format="ISO8601")
    return s.dt.tz_convert(tz)


def build_frames(course: Course, progress: Progress | None = None) -> ReportFrames:
    """Read the gradebook, course.toml and the extensions into the report frames."""
    step = progress or (lambda what, done, total: None)
    step("reading the gradebook", 0, 4)
    raw = _read_gradebook(course)
    cells, grades, comments, subs, students, status = (raw[k] for k in ("cells", "grades", "comments", "subs",
                                                                         "students", "status"))
    step("shaping per-question scores", 1, 4)
    tz = course.timezone
    order = [a.id for a in course.assignments]
    by_id = {a.id: a for a in course.assignments}
    rank = {aid: i for i, aid in enumerate(order)}
    position, comment_target = _cell_order(course, order)
    cells = cells[cells["assignment"].isin(order)].copy()
    cells["pos"] = [position.get(k, 10**6) for k in zip(cells["assignment"], cells["notebook"], cells["question"])]
    cells["rank"] = cells["assignment"].map(rank)
    cells = cells.sort_values(["rank", "notebook", "pos", "question"], ignore_index=True)

    if course.roster_path.is_file():
        roster = pd.DataFrame([s.__dict__ for s in course.roster()],
                              columns=["id", "first_name", "last_name", "email", "group"])
    else:
        roster = pd.DataFrame(columns=["id", "first_name", "last_name", "email", "group"])
    roster = roster.rename(columns={"id": "student"})
    extra = students[~students["student"].isin(roster["student"])].assign(group="")
    people = pd.concat([roster, extra[roster.columns]], ignore_index=True).fillna("")
    people = people.sort_values("student", ignore_index=True)
    group_of = dict(zip(people["student"], people["group"]))

    # --- status and extensions, needed by everything below
    status = status.drop_duplicates(["assignment", "student"], keep="last")
    history = raw["history"]
    current: dict[tuple[str, str], object] = {}
    for ext in history:
        current[(ext.assignment, ext.student)] = ext
    current = {k: v for k, v in current.items() if v.until is not None}

    # --- questions: every student × every question of every assignment they submitted
    for col in ("auto_score", "manual_score", "extra_credit"):
        grades[col] = pd.to_numeric(grades[col], errors="coerce").astype(float)
    q = grades.merge(cells[["assignment", "notebook", "question", "max_score", "cell_type", "rank", "pos"]],
                     on=["assignment", "notebook", "question"], how="inner")
    q["graded"] = q["manual_score"].notna() | q["auto_score"].notna()
    q["score"] = q["manual_score"].where(q["manual_score"].notna(), q["auto_score"])
    q["score"] = q["score"].fillna(0.0) + q["extra_credit"].fillna(0.0)
    q["needs_manual_grade"] = q["needs_manual_grade"].fillna(False).astype(bool)
    q["group"] = q["student"].map(group_of).fillna("")
    # grader: who entered the manual score, as the tutor grading service recorded it; for a
    # score entered elsewhere (formgrader), the student's tutor(s) (instructor's move, else group)
    tutors = {g: ", ".join(accounts) for g, accounts in course.tutors.items()}
    overrides = dict(zip(raw["overrides"]["student"], raw["overrides"]["tutor"])) if "overrides" in raw else {}
    responsible = q["student"].map(lambda st: overrides.get(st) or tutors.get(group_of.get(st, "")) or "manual")
    grader = np.where(q["manual_score"].notna(), responsible, np.where(q["auto_score"].notna(), "autograder", ""))
    if "marks" in raw and len(raw["marks"]):
        marks = q[["student", "assignment", "notebook", "question", "manual_score"]].merge(
            raw["marks"], on=["student", "assignment", "notebook", "question"], how="left")
        recorded = (marks["tutor"].notna() & marks["manual_score"].notna()
                    & (pd.to_numeric(marks["marked"], errors="coerce") == marks["manual_score"])).to_numpy()
        grader = np.where(recorded, marks["tutor"].to_numpy(dtype=object), grader)
    q["grader"] = grader
    # tutor comments, attached to the question they comment on
    if len(comments):
        comments["question"] = [comment_target.get(k, k[2]) for k in
                                zip(comments["assignment"], comments["notebook"], comments["cell"])]
        known_q = set(zip(cells["assignment"], cells["notebook"], cells["question"]))
        last_q = cells.groupby(["assignment", "notebook"])["question"].last().to_dict()
        comments["question"] = [qq if (a, n, qq) in known_q else last_q.get((a, n), qq) for a, n, qq in
                                zip(comments["assignment"], comments["notebook"], comments["question"])]
        keys = ["student", "assignment", "notebook", "question"]
        several = comments.duplicated(keys, keep=False)
        joined = pd.concat([comments.loc[~several, keys + ["manual_comment"]],
                            comments[several].groupby(keys)["manual_comment"]
                            .agg(lambda s: "\n".join(str(x) for x in s)).reset_index()], ignore_index=True)
        q = q.merge(joined, on=["student", "assignment", "notebook", "question"], how="left")
        q["comments"] = q["manual_comment"].fillna("")
    else:
        q["comments"] = ""
    # did the cell run? markdown answers are not executed; a failed execution is looked up per cell
    q["execution"] = np.where(q["cell_type"] == "code", "ran", "written answer")
    bad = status[status["status"].isin(["failed", "invalid", "error"])]
    if len(bad):
        code = (q["cell_type"] == "code").to_numpy()
        notebooks_arr, questions_arr = q["notebook"].to_numpy(), q["question"].to_numpy()
        execution = q["execution"].to_numpy(dtype=object)
        rows_of = q.groupby(["student", "assignment"], sort=False).indices
        for row in bad.itertuples(index=False):
            rows = rows_of.get((row.student, row.assignment))
            if rows is None:
                continue
            if row.status != "failed":          # invalid file or platform error: nothing ran
                execution[rows] = f"not run ({row.status}): {row.message}"
                continue
            not_run = _cells_not_run(course, row.student, row.assignment)
            for i in rows:
                if not code[i]:
                    continue
                if not_run is None:
                    execution[i] = f"not run: {row.message}"
                elif (notebooks_arr[i], questions_arr[i]) in not_run:
                    execution[i] = f"not run ({not_run[(notebooks_arr[i], questions_arr[i])]}): {row.message}"
        q["execution"] = execution

    # --- submissions: one row per roster student × assignment, including the missing ones
    step("late penalties and totals", 2, 4)
    max_by_assignment = cells.groupby("assignment")["max_score"].sum()
    grid = people[["student", "group"]].merge(pd.DataFrame({"assignment": order}), how="cross")
    sums = q.assign(auto0=q["auto_score"].fillna(0.0), manual0=q["manual_score"].fillna(0.0))
    totals = sums.groupby(["student", "assignment"]).agg(
        auto=("auto0", "sum"), manual=("manual0", "sum"), score=("score", "sum"),
        open_manual=("needs_manual_grade", "sum")).reset_index()
    subs["submitted_at"] = pd.to_datetime(subs["submitted_at"], errors="coerce", format="ISO8601")
    s = grid.merge(subs, on=["student", "assignment"], how="left")
    s = s.merge(totals, on=["student", "assignment"], how="left")
    s = s.merge(status[["student", "assignment", "status", "message", "flags", "graded_at"]],
                on=["student", "assignment"], how="left")
    s["max_score"] = s["assignment"].map(max_by_assignment).fillna(0.0).astype(float)
    s["submitted"] = s["submitted_at"].notna() | s["status"].notna()

    # late penalties, vectorised per assignment: gradehub.late.penalty_points applies the rules of
    # late_penalty (a test checks the two agree) to the deadline each student had
    submitted_utc = _local(s["submitted_at"], "UTC")
    keys = list(zip(s["assignment"], s["student"]))
    ext_until = _local(pd.Series([current[k].until if k in current else None for k in keys], index=s.index,
                                 dtype=object), "UTC")
    course_due = _local(s["assignment"].map({a.id: _as_utc(a.due) if a.due else None for a in course.assignments})
                        .astype(object), "UTC")
    extended = (ext_until > course_due).fillna(False).to_numpy(dtype=bool)
    effective = course_due.where(~extended, ext_until)
    late = ((submitted_utc - effective) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)
    penalties = np.zeros(len(s))
    policies = np.empty(len(s), dtype=object)
    assignment_arr = s["assignment"].to_numpy()
    for a in course.assignments:
        rows = assignment_arr == a.id
        penalties[rows] = penalty_points(a.late_policy, late[rows], s["max_score"].to_numpy()[rows])
        policies[rows] = describe_applied(a.late_policy, a.due, None)
    for i in np.flatnonzero(extended):
        a = by_id[assignment_arr[i]]
        policies[i] = describe_applied(a.late_policy, a.due, current[keys[i]].until)
    s["late_hours"] = np.where(late > 0, late / 3600, 0.0).round(2)
    s["late_penalty"] = np.where(s["submitted"].to_numpy(dtype=bool), penalties, 0.0)
    s["late_policy"] = policies
    s["extension"] = [current[k].describe() if k in current else "" for k in keys]
    s["due"] = effective.dt.tz_convert(tz)
    s["submitted_at"] = submitted_utc.dt.tz_convert(tz)
    s["score"] = s["score"].fillna(0.0)
    s["auto"] = s["auto"].fillna(0.0)
    s["manual"] = s["manual"].fillna(0.0)
    s["total"] = (s["score"] - s["late_penalty"]).clip(lower=0.0)
    s["percent"] = np.where(s["max_score"] > 0, s["total"] / s["max_score"].where(s["max_score"] > 0, 1), 0.0)
    s["status"] = pd.Series([
        "missing" if not sub else _status_text(st if isinstance(st, str) else None, msg)
        for sub, st, msg in zip(s["submitted"], s["status"], s["message"])
    ], index=s.index, dtype=object)
    s.loc[(s["status"] == "graded") & (s["open_manual"].fillna(0) > 0), "status"] = "needs manual grading"
    s["flags"] = [_flags_text(f) for f in s["flags"]]
    s["graded_at"] = _local(s["graded_at"], tz)
    s["rank"] = s["assignment"].map(rank)
    s = s.sort_values(["rank", "student"], ignore_index=True)
    submissions = s[["student", "group", "assignment", "status", "submitted_at", "due", "late_hours",
                     "late_penalty", "late_policy", "extension", "auto", "manual", "score", "max_score", "total",
                     "percent", "flags", "graded_at"]].reset_index(drop=True)

    # the late penalty, spread over the questions in proportion to their points (sums to the sheet's)
    share = (s["late_penalty"] / s["max_score"].where(s["max_score"] > 0)).fillna(0.0)
    share_of = pd.Series(share.to_numpy(), index=pd.MultiIndex.from_frame(s[["student", "assignment"]]))
    q["late_penalty"] = (share_of.reindex(pd.MultiIndex.from_frame(q[["student", "assignment"]])).fillna(0.0)
                         .to_numpy() * q["max_score"].to_numpy())
    q = q.sort_values(["rank", "student", "notebook", "pos", "question"], ignore_index=True)
    questions = q[["student", "group", "assignment", "notebook", "question", "cell_type", "max_score",
                   "auto_score", "manual_score", "extra_credit", "score", "late_penalty", "needs_manual_grade",
                   "grader", "comments", "execution"]].reset_index(drop=True)

    # --- overview: one row per student
    step("overview, groups and item statistics", 3, 4)
    ov = people.set_index("student")[["first_name", "last_name", "email", "group"]].copy()
    wide = submissions.pivot(index="student", columns="assignment", values="total").reindex(ov.index)
    for aid in order:
        ov[aid] = wide[aid].fillna(0.0) if aid in wide.columns else 0.0
    course_max = float(max_by_assignment.reindex(order).fillna(0).sum())
    ov["total"] = ov[order].sum(axis=1) if order else 0.0
    ov["max_total"] = course_max
    ov["percent"] = ov["total"] / course_max if course_max else 0.0
    ov["exam_bonus"] = ov["percent"] >= course.exam_bonus_threshold
    ov["submitted"] = (submissions[submissions["status"] != "missing"].groupby("student").size()
                       .reindex(ov.index).fillna(0).astype(int))
    overview = ov.reset_index().sort_values("student", ignore_index=True)

    scores = questions.pivot_table(index="student", columns=["assignment", "question"], values="score",
                                   aggfunc="sum", sort=False)
    wanted_cols = [(a, qq) for a, qq in zip(cells["assignment"], cells["question"]) if (a, qq) in scores.columns]
    scores = scores.reindex(columns=list(dict.fromkeys(wanted_cols)))
    scores.columns = [f"{a}/{qn}" for a, qn in scores.columns]
    scores = scores.reindex(people["student"]).reset_index().rename(columns={"index": "student"})

    items = _item_statistics(questions, cells)
    groups = _group_summary(overview, submissions, questions, course, order)
    policies = _policy_table(course, submissions, max_by_assignment, current)
    extensions = _extension_table(history, current, tz)
    meta = {"course": course.id, "title": course.title, "timezone": tz,
            "generated": pd.Timestamp.now(tz=tz), "exam_bonus_threshold": course.exam_bonus_threshold,
            "course_max": course_max, "assignments": order,
            "titles": {a.id: a.title for a in course.assignments}}
    step("frames ready", 4, 4)
    return ReportFrames(overview=overview, submissions=submissions, questions=questions, scores=scores,
                        items=items, groups=groups, policies=policies, extensions=extensions, meta=meta)


def _flags_text(value) -> str:
    if not isinstance(value, str) or not value:
        return ""
    try:
        items = json.loads(value)
    except ValueError:
        return value
    return "; ".join(str(x) for x in items) if isinstance(items, list) else str(items)


def _item_statistics(questions: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Per question over the submissions that have a score for it.

    difficulty: mean share of the points (classical p-value; 1 = everybody got full marks);
    discrimination: corrected item-total correlation, i.e. Pearson's r between the question's
    score and the student's total on the *other* questions of the same assignment.
    """
    keys = ["assignment", "notebook", "question"]
    q = questions.copy()
    q["failed"] = q["execution"].str.startswith("not run")
    graded_rows = questions["auto_score"].notna() | questions["manual_score"].notna()
    g = q[graded_rows.to_numpy()].copy()
    g["rest"] = g.groupby(["student", "assignment"])["score"].transform("sum") - g["score"]
    g["xy"], g["xx"], g["yy"] = g["score"] * g["rest"], g["score"] ** 2, g["rest"] ** 2
    agg = g.groupby(keys, sort=False).agg(graded=("score", "size"), mean=("score", "mean"),
                                          sx=("score", "sum"), sy=("rest", "sum"), sxy=("xy", "sum"),
                                          sxx=("xx", "sum"), syy=("yy", "sum"),
                                          zeros=("score", lambda s: float((s == 0).sum())))
    n = agg["graded"].astype(float)
    cov = n * agg["sxy"] - agg["sx"] * agg["sy"]
    var = (n * agg["sxx"] - agg["sx"] ** 2) * (n * agg["syy"] - agg["sy"] ** 2)
    agg["discrimination"] = np.where(var > 1e-12, cov / np.sqrt(var.clip(lower=1e-300)), np.nan)
    per_all = q.groupby(keys, sort=False).agg(submissions=("score", "size"), failed=("failed", "mean"),
                                               open_manual=("needs_manual_grade", "sum"))
    out = cells[keys + ["cell_type", "max_score"]].set_index(keys).join(per_all).join(
        agg[["graded", "mean", "zeros", "discrimination"]])
    out["submissions"] = out["submissions"].fillna(0).astype(int)
    out["graded"] = out["graded"].fillna(0).astype(int)
    out["open_manual"] = out["open_manual"].fillna(0).astype(int)
    out["difficulty"] = out["mean"] / out["max_score"].where(out["max_score"] > 0)
    out["share_zero"] = out["zeros"] / out["graded"].where(out["graded"] > 0)
    out["share_failed"] = out["failed"]
    out = out.reset_index()
    return out[["assignment", "notebook", "question", "cell_type", "max_score", "submissions", "graded",
                "open_manual", "mean", "difficulty", "discrimination", "share_zero", "share_failed"]]


def _group_summary(overview, submissions, questions, course: Course, order: list[str]) -> pd.DataFrame:
    none = "(none)"
    ov = overview.assign(group=overview["group"].replace("", none))
    subs = submissions.assign(group=submissions["group"].replace("", none),
                              handed_in=submissions["status"] != "missing",
                              problem=submissions["status"].str.match(r"(failed|invalid|error)"))
    by = ov.groupby("group", sort=True)
    out = pd.DataFrame({"students": by.size(), "mean_percent": by["percent"].mean(),
                        "median_percent": by["percent"].median(),
                        "exam_bonus_share": by["exam_bonus"].mean().astype(float)})
    sg = subs.groupby("group")
    out["submission_rate"] = sg["handed_in"].mean()
    out["failed_or_invalid"] = sg["problem"].sum()
    out["open_manual"] = questions.assign(group=questions["group"].replace("", none)) \
        .groupby("group")["needs_manual_grade"].sum()
    weekly = subs[subs["handed_in"]].pivot_table(index="group", columns="assignment", values="percent",
                                                 aggfunc="mean")
    for aid in order:
        out[f"{aid} mean %"] = weekly[aid] if aid in weekly.columns else np.nan
    out = out.reset_index().rename(columns={"index": "group"})
    out["tutors"] = [", ".join(course.tutors.get(g, ())) for g in out["group"]]
    for col in ("open_manual", "failed_or_invalid"):
        out[col] = out[col].fillna(0).astype(int)
    columns = ["group", "tutors", "students", "submission_rate", "mean_percent", "median_percent",
               "exam_bonus_share", "open_manual", "failed_or_invalid", *[f"{a} mean %" for a in order]]
    return out[columns]


def _policy_table(course: Course, submissions, max_by_assignment, current) -> pd.DataFrame:
    rows = []
    for a in course.assignments:
        sa = submissions[submissions["assignment"] == a.id]
        sub = sa[sa["status"] != "missing"]
        rows.append({
            "assignment": a.id, "title": a.title,
            "due": a.due.astimezone(dt.timezone.utc) if a.due else None,
            "late_policy": describe_applied(a.late_policy, a.due, None),
            "max_score": float(max_by_assignment.get(a.id, 0.0)),
            "submitted": len(sub), "missing": int((sa["status"] == "missing").sum()),
            "failed_or_invalid": int(sa["status"].str.match(r"(failed|invalid|error)").sum()),
            "late": int((sub["late_penalty"] > 0).sum()),
            "extensions": sum(1 for (aid, _) in current if aid == a.id),
            "mean_percent": float(sub["percent"].mean()) if len(sub) else np.nan,
        })
    df = pd.DataFrame(rows, columns=["assignment", "title", "due", "late_policy", "max_score", "submitted",
                                     "missing", "failed_or_invalid", "late", "extensions", "mean_percent"])
    df["due"] = _local(df["due"], course.timezone) if len(df) else df["due"]
    return df


def _extension_table(history, current, tz: str) -> pd.DataFrame:
    rows = [{"assignment": e.assignment, "student": e.student,
             "until": e.until, "granted_by": e.granted_by, "reason": e.reason,
             "granted_at": e.granted_at, "action": "granted" if e.until else "revoked",
             "in_force": current.get((e.assignment, e.student)) is e} for e in history]
    df = pd.DataFrame(rows, columns=["assignment", "student", "action", "until", "granted_by", "reason",
                                     "granted_at", "in_force"])
    df["until"] = _local(df["until"], tz)
    df["granted_at"] = _local(df["granted_at"], tz)
    return df


# ----------------------------------------------------------------------------- XLSX


_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_INVALID_SHEET = re.compile(r"[\[\]:*?/\\]")
_PERCENT_COLS = {"percent", "difficulty", "share_zero", "share_failed", "submission_rate", "mean_percent",
                 "median_percent", "exam_bonus_share"}
_DECIMAL_COLS = {"mean", "discrimination", "late_hours", "late_penalty"}
_CONTENT_TYPES = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                  '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                  '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                  '<Default Extension="xml" ContentType="application/xml"/>'
                  '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                  'spreadsheetml.sheet.main+xml"/>'
                  '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                  'spreadsheetml.styles+xml"/>'
                  '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.'
                  'core-properties+xml"/>'
                  '{sheets}</Types>')
_STYLES = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
           '<numFmts count="3"><numFmt numFmtId="164" formatCode="0.0%"/>'
           '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm"/><numFmt numFmtId="166" formatCode="0.00"/></numFmts>'
           '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
           '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
           '<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/>'
           '</fill><fill><patternFill patternType="solid"><fgColor rgb="FFDDEBF7"/><bgColor indexed="64"/>'
           '</patternFill></fill></fills>'
           '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
           '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
           '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
           '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/>'
           '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
           '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
           '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
           '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
           '</styleSheet>')
_S_HEADER, _S_PERCENT, _S_DATETIME, _S_DECIMAL = 1, 2, 3, 4
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def _col_letter(i: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


def _text_cell(value: str, style: str = "") -> str:
    value = _ILLEGAL_XML.sub("", value)[:32767]
    space = ' xml:space="preserve"' if value[:1].isspace() or value[-1:].isspace() or "\n" in value else ""
    return f'<c t="inlineStr"{style}><is><t{space}>{_xml_escape(value)}</t></is></c>'


class XlsxWriter:
    """A small streaming XLSX writer: inline strings, numbers, dates; frozen header, widths, filters.

    Cells carry no ``r`` reference (optional in SpreadsheetML): they fill their row left to
    right, and an empty value is written as an empty ``<c/>``, so columns never shift.
    """

    def __init__(self) -> None:
        self.sheets: list[tuple[str, bytes, str]] = []     # (name, xml, filter range)

    @staticmethod
    def sheet_name(name: str, taken: Iterable[str] = ()) -> str:
        base = _INVALID_SHEET.sub("_", name).strip("'")[:31] or "sheet"
        candidate, i = base, 2
        lowered = {t.lower() for t in taken}
        while candidate.lower() in lowered:
            suffix = f" ({i})"
            candidate, i = base[:31 - len(suffix)] + suffix, i + 1
        return candidate

    def add(self, name: str, df: pd.DataFrame, freeze: str = "B2", percent: Iterable[str] = (),
            decimal: Iterable[str] = ()) -> str:
        name = self.sheet_name(name, [s[0] for s in self.sheets])
        percent, decimal = set(percent), set(decimal)
        n, ncols = len(df), max(1, len(df.columns))
        columns: list[list[str]] = []
        widths: list[float] = []
        for col in df.columns:
            series = df[col]
            label = str(col)
            style = ""
            if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(series):
                values = series.dt.tz_localize(None) if isinstance(series.dtype, pd.DatetimeTZDtype) else series
                serial = ((values - _EXCEL_EPOCH) / pd.Timedelta(days=1)).to_numpy(dtype=float)
                cells = ["<c/>" if v != v else f'<c s="{_S_DATETIME}"><v>{v!r}</v></c>' for v in serial.tolist()]
                width = 17
            elif pd.api.types.is_bool_dtype(series):
                cells = [f'<c t="inlineStr"><is><t>{"yes" if v else "no"}</t></is></c>' for v in series.tolist()]
                width = 5
            elif pd.api.types.is_numeric_dtype(series):
                if col in percent:
                    style = f' s="{_S_PERCENT}"'
                elif col in decimal:
                    style = f' s="{_S_DECIMAL}"'
                values = series.astype(float).tolist()
                num_cache: dict[float, str] = {}
                cells = []
                for v in values:
                    cell = num_cache.get(v)        # NaN never hits the cache: it is handled below
                    if cell is None:
                        cell = ("<c/>" if (v != v or v in (float("inf"), float("-inf"))) else
                                f"<c{style}><v>{int(v) if v.is_integer() and abs(v) < 1e15 else v!r}</v></c>")
                        if v == v:
                            num_cache[v] = cell
                    cells.append(cell)
                sample = series.dropna().head(500)
                if col in percent:
                    width = 8
                elif len(sample):
                    width = max(len(f"{x:g}") for x in sample.astype(float).tolist()) + 1
                else:
                    width = 6
            else:
                cache: dict[str, str] = {}
                cells = []
                for v in series.tolist():
                    if v is None or (isinstance(v, float) and v != v) or v is pd.NaT or v is pd.NA:
                        cells.append("<c/>")
                        continue
                    if isinstance(v, (dt.datetime, pd.Timestamp)):
                        v = v.isoformat(sep=" ", timespec="minutes")
                    text = v if isinstance(v, str) else str(v)
                    cell = cache.get(text)
                    if cell is None:
                        cell = cache[text] = _text_cell(text)
                    cells.append(cell)
                lengths = [len(x) for x in cache] or [0]
                width = min(max(lengths), 60)
            widths.append(min(60.0, max(6.0, width + 2, len(label) + 3)))
            columns.append(cells)
        header = "".join(_text_cell(str(c), f' s="{_S_HEADER}"') for c in df.columns)
        last = f"{_col_letter(ncols - 1)}{n + 1}"
        cols_xml = "".join(f'<col min="{i + 1}" max="{i + 1}" width="{w:.1f}" customWidth="1"/>'
                           for i, w in enumerate(widths))
        split = _freeze_split(freeze)
        pane = ""
        if split != (0, 0):
            xs, ys = split
            active = "bottomRight" if xs and ys else ("bottomLeft" if ys else "topRight")
            attrs = (f' xSplit="{xs}"' if xs else "") + (f' ySplit="{ys}"' if ys else "")
            pane = (f'<pane{attrs} topLeftCell="{freeze}" activePane="{active}" state="frozen"/>'
                    f'<selection pane="{active}" activeCell="{freeze}" sqref="{freeze}"/>')
        parts = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                 '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">',
                 f'<dimension ref="A1:{last}"/>',
                 f'<sheetViews><sheetView workbookViewId="0">{pane}</sheetView></sheetViews>',
                 '<sheetFormatPr defaultRowHeight="15"/>',
                 f"<cols>{cols_xml}</cols>" if cols_xml else "",
                 '<sheetData>', f'<row r="1">{header}</row>']
        if columns:
            for r, row in enumerate(zip(*columns), start=2):
                parts.append(f'<row r="{r}">{"".join(row)}</row>')
        parts.append("</sheetData>")
        ref = f"A1:{last}"
        if len(df.columns):
            parts.append(f'<autoFilter ref="{ref}"/>')
        parts.append('<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
                     "</worksheet>")
        self.sheets.append((name, "".join(parts).encode("utf-8"), ref if len(df.columns) else ""))
        return name

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        sheets = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
                         f'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                         for i in range(1, len(self.sheets) + 1))
        names = "".join(f'<sheet name="{_xml_escape(name, {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i}"/>'
                        for i, (name, _, _) in enumerate(self.sheets, start=1))
        defined = "".join(
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
            f"'{_xml_escape(name.replace(chr(39), chr(39) * 2))}'!{_absolute(ref)}</definedName>"
            for i, (name, _, ref) in enumerate(self.sheets) if ref)
        workbook = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                    '<bookViews><workbookView activeTab="0"/></bookViews>'
                    f"<sheets>{names}</sheets>" + (f"<definedNames>{defined}</definedNames>" if defined else "")
                    + "</workbook>")
        rels = "".join(f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                       f'relationships/worksheet" Target="worksheets/sheet{i}.xml"/>'
                       for i in range(1, len(self.sheets) + 1))
        rels += (f'<Relationship Id="rId{len(self.sheets) + 1}" Type="http://schemas.openxmlformats.org/'
                 'officeDocument/2006/relationships/styles" Target="styles.xml"/>')
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        core = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
                'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/'
                'dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>gradehub</dc:creator>'
                f'<dcterms:created xsi:type="dcterms:W3CDTF">{now}</dcterms:created></cp:coreProperties>')
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            z.writestr("[Content_Types].xml", _CONTENT_TYPES.format(sheets=sheets))
            z.writestr("_rels/.rels",
                       '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                       '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                       '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                       'relationships/officeDocument" Target="xl/workbook.xml"/>'
                       '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
                       'relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>')
            z.writestr("docProps/core.xml", core)
            z.writestr("xl/workbook.xml", workbook)
            z.writestr("xl/_rels/workbook.xml.rels",
                       '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                       '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                       f"{rels}</Relationships>")
            z.writestr("xl/styles.xml", _STYLES)
            for i, (_, xml, _) in enumerate(self.sheets, start=1):
                z.writestr(f"xl/worksheets/sheet{i}.xml", xml)
        tmp.replace(path)


def _freeze_split(cell: str) -> tuple[int, int]:
    match = re.fullmatch(r"([A-Z]+)(\d+)", cell)
    if not match:
        return (0, 0)
    col = 0
    for ch in match.group(1):
        col = col * 26 + ord(ch) - 64
    return col - 1, int(match.group(2)) - 1


def _absolute(ref: str) -> str:
    return ":".join(re.sub(r"([A-Z]+)(\d+)", r"$\1$\2", part) for part in ref.split(":"))


def _about(frames: ReportFrames) -> pd.DataFrame:
    m = frames.meta
    rows = [("course", f"{m.get('course', '')}: {m.get('title', '')}"),
            ("generated", m["generated"].isoformat(sep=" ", timespec="seconds") if "generated" in m else ""),
            ("times are in", m.get("timezone", "")),
            ("exam bonus threshold", f"{m.get('exam_bonus_threshold', 0):.0%} of {m.get('course_max', 0):g} points"),
            ("students", str(len(frames.overview))),
            ("late penalties", "computed when this report was made, from course.toml and the extensions; "
                               "see policies and submissions")]
    rows += [(f"sheet: {name}", text) for name, text in SHEET_NOTES.items()]
    return pd.DataFrame(rows, columns=["item", "value"])


def _compact_questions(df: pd.DataFrame) -> pd.DataFrame:
    """The questions sheet without columns that say nothing here: ``notebook`` when every assignment
    is one notebook of the same name, ``extra_credit`` when nobody got any."""
    drop = []
    if len(df) and (df["notebook"] == df["assignment"]).all():
        drop.append("notebook")
    if df["extra_credit"].isna().all():
        drop.append("extra_credit")
    return df.drop(columns=drop)


def write_xlsx(frames: ReportFrames, path: Path, progress: Progress | None = None) -> Path:
    """grades.xlsx: overview, questions, groups (+ one sheet per group), items, submissions, scores,
    policies, extensions, about."""
    step = progress or (lambda what, done, total: None)
    book = XlsxWriter()
    group_names = [g for g in frames.groups["group"]] if len(frames.groups) else []
    sheets: list[tuple[str, Callable[[], pd.DataFrame], str]] = [
        ("overview", lambda: frames.overview, "B2"),
        ("questions", lambda: _compact_questions(frames.questions), "B2"),
        ("groups", lambda: frames.groups, "B2"),
    ]
    week_cols = [c for c in frames.meta.get("assignments", []) if c in frames.overview.columns]
    open_by_student = frames.questions.groupby("student")["needs_manual_grade"].sum()
    problems = frames.submissions[frames.submissions["status"].str.match(r"(failed|invalid|error)")] \
        .groupby("student").size()
    for g in group_names:
        def members(g=g):
            ov = frames.overview
            df = ov[ov["group"].replace("", "(none)") == g][["student", "first_name", "last_name", *week_cols,
                                                              "total", "percent", "exam_bonus"]].copy()
            df["open_manual"] = df["student"].map(open_by_student).fillna(0).astype(int)
            df["failed_or_invalid"] = df["student"].map(problems).fillna(0).astype(int)
            return df
        sheets.append((f"group {g}", members, "B2"))
    sheets += [("items", lambda: frames.items, "D2"), ("submissions", lambda: frames.submissions, "B2"),
               ("scores", lambda: frames.scores, "B2"), ("policies", lambda: frames.policies, "B2"),
               ("extensions", lambda: frames.extensions, "A2"), ("about", lambda: _about(frames), "A2")]
    for i, (name, make, freeze) in enumerate(sheets):
        step(f"grades.xlsx: sheet {name}", i, len(sheets) + 1)
        df = make()
        percent = [c for c in df.columns if c in _PERCENT_COLS or str(c).endswith("mean %")]
        book.add(name, df, freeze=freeze, percent=percent, decimal=[c for c in df.columns if c in _DECIMAL_COLS])
    step("grades.xlsx: compressing", len(sheets), len(sheets) + 1)
    book.save(path)
    return path


# ----------------------------------------------------------------------------- CSV and Parquet


def export_frame(frames: ReportFrames, course: Course) -> pd.DataFrame:
    """The table for the university's grade import, per ``[export].columns`` (the overview when unset)."""
    cfg = course.export
    if not cfg.columns:
        return frames.overview
    ov = frames.overview
    out = pd.DataFrame(index=ov.index)
    yes, no = cfg.exam_bonus_labels
    for name, source in cfg.columns:
        if source.startswith("="):
            out[name] = source[1:]
        elif source == "exam_bonus":
            out[name] = np.where(ov["exam_bonus"], yes, no)
        else:
            out[name] = ov[source]
    return out


def write_csv(frames: ReportFrames, course: Course, path: Path) -> Path:
    cfg = course.export
    df = export_frame(frames, course)
    if not cfg.columns:
        df.to_csv(path, index=False)
        return path
    df = df.copy()
    for col in df.columns:
        if pd.api.types.is_float_dtype(df[col]):
            df[col] = df[col].round(4)
    df.to_csv(path, index=False, sep=cfg.delimiter, decimal=cfg.decimal, encoding=cfg.encoding)
    return path


def write_parquet(frames: ReportFrames, folder: Path) -> list[Path]:
    """One Parquet file per frame (times keep their time zone); needs pyarrow."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        from .course import CourseError
        raise CourseError("--format parquet needs pyarrow: pip install pyarrow") from None
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in frames.tables().items():
        path = folder / f"{name}.parquet"
        df.to_parquet(path, index=False)
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------- HTML with plots


def _figure_png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, pil_kwargs={"compress_level": 1})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def matplotlib_colormap(name: str):
    import matplotlib
    return matplotlib.colormaps[name]


def _plots(frames: ReportFrames) -> dict[str, str]:
    """The four figures as base64 PNG: distribution per week, difficulty, groups, submission times."""
    from matplotlib.figure import Figure

    order = frames.meta.get("assignments", [])
    subs = frames.submissions
    done = subs[subs["status"] != "missing"]
    figs: dict[str, str] = {}
    colors = ["#4472c4", "#ed7d31", "#70ad47", "#ffc000", "#5b9bd5", "#a5a5a5", "#264478", "#9e480e",
              "#636363", "#997300", "#255e91", "#43682b"]

    # 1. score distribution per week
    fig = Figure(figsize=(11, 4.2))
    ax = fig.add_subplot()
    data = [done.loc[done["assignment"] == a, "percent"].to_numpy() * 100 for a in order]
    present = [(a, d) for a, d in zip(order, data) if len(d)]
    if present:
        ax.boxplot([d for _, d in present], tick_labels=[a for a, _ in present], showmeans=True, showfliers=False,
                   medianprops={"color": "#c00000"}, meanprops={"marker": "D", "markerfacecolor": "white",
                                                                 "markeredgecolor": "black", "markersize": 5})
        rng = np.random.default_rng(0)
        for i, (_, d) in enumerate(present, start=1):
            ax.scatter(i + rng.uniform(-0.18, 0.18, len(d)), d, s=14 if len(d) < 200 else 6,
                       alpha=0.6 if len(d) < 200 else 0.35, color="#4472c4", linewidths=0, zorder=3)
            ax.text(i, 103, f"n={len(d)}", ha="center", va="bottom", fontsize=8, color="#555")
    ax.set_ylim(-3, 110)
    ax.set_ylabel("% of the week's points (after late penalty)")
    ax.set_title("Score distribution per week (submitted work; box: quartiles, red: median, diamond: mean)",
                 fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.9, bottom=0.12)
    figs["distribution"] = _figure_png(fig)

    # 2. per-question difficulty and discrimination: one row per week, one column per question
    items = frames.items
    top_in, bottom_in, row_in = 0.45, (1.1 if len(order) == 1 else 0.45), 0.42
    height = top_in + bottom_in + row_in * max(1, len(order)) + (0.5 if len(order) == 1 else 0)
    fig = Figure(figsize=(11, height))
    axes = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.08, right=0.93, top=1 - top_in / height, bottom=bottom_in / height, wspace=0.15)
    if len(items):
        pos = items.groupby("assignment", sort=False).cumcount().to_numpy()
        rows = items["assignment"].map({a: i for i, a in enumerate(order)}).to_numpy()
        width = int(pos.max()) + 1
        names = items["question"].tolist()
        for ax, col, title, lo, hi in ((axes[0], "difficulty", "Difficulty: mean share of the points (red: hard)",
                                        0.0, 1.0),
                                       (axes[1], "discrimination", "Discrimination: item-rest correlation (red: weak)",
                                        -0.2, 0.8)):
            grid = np.full((len(order), width), np.nan)
            grid[rows, pos] = items[col].to_numpy(dtype=float)
            cmap = matplotlib_colormap("RdYlGn").with_extremes(bad="#eeeeee")
            im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=lo, vmax=hi, aspect="auto",
                           interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.set_yticks(range(len(order)), order, fontsize=8)
            if len(order) == 1:
                ax.set_xticks(range(width), names, rotation=25, ha="right", fontsize=7)
            else:
                ax.set_xticks(range(width), [f"Q{i + 1}" for i in range(width)], fontsize=7)
            if grid.size <= 60:
                for r_, c_ in zip(rows, pos):
                    v = grid[r_, c_]
                    ax.text(c_, r_, "–" if v != v else f"{v:.2f}", ha="center", va="center", fontsize=8)
        fig.colorbar(im, ax=axes, fraction=0.02, pad=0.01)
    figs["difficulty"] = _figure_png(fig)

    # 3. group comparison
    ov = frames.overview.assign(group=frames.overview["group"].replace("", "(none)"))
    groups = sorted(ov["group"].unique())
    fig = Figure(figsize=(11, 4.2))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 3]})
    if groups:
        ax1.boxplot([ov.loc[ov["group"] == g, "percent"].to_numpy() * 100 for g in groups], tick_labels=groups,
                    showmeans=True, showfliers=False, medianprops={"color": "#c00000"})
        thr = frames.meta.get("exam_bonus_threshold", 0.5) * 100
        ax1.axhline(thr, color="#70ad47", lw=1, ls="--")
        ax1.text(0.55, thr + 1, "exam bonus", fontsize=8, color="#3a7a1e")
        ax1.set_ylabel("% of all points so far")
        ax1.set_title("Course percentage per tutor group", fontsize=10)
        ax1.grid(axis="y", alpha=0.3)
        gd = done.assign(group=done["group"].replace("", "(none)"))
        means = gd.groupby(["group", "assignment"])["percent"].mean().unstack().reindex(columns=order)
        for i, g in enumerate(groups):
            if g in means.index:
                ax2.plot(range(len(order)), means.loc[g].to_numpy() * 100, marker="o", label=g,
                         color=colors[i % len(colors)])
        ax2.set_xticks(range(len(order)), order, rotation=45 if len(order) > 6 else 0, fontsize=8)
        ax2.set_ylim(0, 105)
        ax2.set_ylabel("mean % of the week's points")
        ax2.set_title("Mean per week and group (submitted work)", fontsize=10)
        if len(means):
            ax2.legend(fontsize=8, ncol=min(4, len(groups)))
        ax2.grid(alpha=0.3)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.9, bottom=0.15, wspace=0.2)
    figs["groups"] = _figure_png(fig)

    # 4. submission times against the deadline
    fig = Figure(figsize=(11, 4.2))
    ax = fig.add_subplot()
    timed = done[done["submitted_at"].notna() & done["due"].notna()]
    if len(timed):
        course_due = frames.policies.set_index("assignment")["due"]
        due = timed["assignment"].map(course_due)
        hours = ((timed["submitted_at"] - due) / pd.Timedelta(hours=1)).to_numpy(dtype=float)
        extended = (timed["extension"] != "").to_numpy()
        late = (timed["late_penalty"] > 0).to_numpy()
        grace = (~late) & (timed["late_hours"] > 0).to_numpy()
        y = timed["assignment"].map({a: i for i, a in enumerate(order)}).to_numpy(dtype=float)
        y = y + np.random.default_rng(1).uniform(-0.3, 0.3, len(y))
        clipped = np.clip(hours, -7 * 24, 7 * 24)
        on_time = ~late & ~grace
        for mask, color, label in ((on_time & ~extended, "#70ad47", "on time"),
                                   (grace, "#ffc000", "within grace"),
                                   (late, "#c00000", "late (penalised)"),
                                   (on_time & extended, "#5b9bd5", "on time thanks to an extension")):
            if mask.any():
                ax.scatter(clipped[mask], y[mask], s=10, color=color, label=f"{label} ({int(mask.sum())})",
                           alpha=0.7, linewidths=0)
        ax.axvline(0, color="black", lw=1)
        ax.set_yticks(range(len(order)), order, fontsize=8)
        ax.set_xlim(-7 * 24 - 4, 7 * 24 + 4)
        ax.set_xticks(np.arange(-7, 8) * 24, [f"{d:+d} d" if d else "deadline" for d in range(-7, 8)], fontsize=8)
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(axis="x", alpha=0.3)
    ax.set_title("Submission times against the course deadline (clipped to ±7 days; colour: the deadline "
                 "that applied to the student)", fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.9, bottom=0.1)
    figs["times"] = _figure_png(fig)
    return figs


_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 24px 32px;
       color: #222; max-width: 1200px; }
h1 { font-size: 24px; margin-bottom: 2px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.sub { color: #666; margin-top: 0; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 16px 0; }
.card { background: #f3f6fb; border-radius: 6px; padding: 10px 16px; min-width: 140px; }
.card b { display: block; font-size: 22px; } .card span { color: #555; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 4px 10px; text-align: right; }
th { background: #ddebf7; position: sticky; top: 0; }
td.l, th.l { text-align: left; }
tr.warn td { background: #fff4e5; }
img { max-width: 100%; border: 1px solid #eee; margin: 6px 0; }
.note { color: #555; font-size: 13px; }
"""


def _fmt(v, kind: str = "") -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return ""
    if kind == "%":
        return f"{v:.0%}"
    if kind == "r":
        return f"{v:.2f}"
    if isinstance(v, (pd.Timestamp, dt.datetime)):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _html_table(df: pd.DataFrame, kinds: dict[str, str], left: Iterable[str] = (),
                warn: pd.Series | None = None) -> str:
    left = set(left)
    head = "".join(f'<th class="{"l" if c in left else ""}">{html.escape(str(c))}</th>' for c in df.columns)
    rows = []
    flags = warn.tolist() if warn is not None else [False] * len(df)
    for flag, rec in zip(flags, df.itertuples(index=False)):
        cells = "".join(f'<td class="{"l" if c in left else ""}">{html.escape(_fmt(v, kinds.get(c, "")))}</td>'
                        for c, v in zip(df.columns, rec))
        rows.append(f'<tr class="{"warn" if flag else ""}">{cells}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _plot_child(conn) -> None:
    try:
        # matplotlib's import (~0.4 s) overlaps with the parent reading the gradebook
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        result = ("no matplotlib", None)
    else:
        try:
            frames = conn.recv()
        except (EOFError, OSError):       # the parent gave up before sending the frames
            conn.close()
            return
        try:
            result = ("ok", _plots(frames))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which draws them itself
            result = ("error", f"{type(exc).__name__}: {exc}")
    try:
        conn.send(result)
    except OSError:
        pass                              # the parent is no longer listening
    finally:
        conn.close()


def _plots_here(frames: ReportFrames) -> Callable[[], dict[str, str] | None]:
    def draw() -> dict[str, str] | None:
        try:
            return _plots(frames)
        except ImportError:
            return None
    return draw


class PlotWorker:
    """Draws the report's plots in a forked process while the parent writes the workbook.

    Drawing (with matplotlib's import) is about half of a report's time and independent of the
    workbook, so on a machine with a second core it runs beside it: start the worker first (it
    imports matplotlib while the gradebook is read), hand it the frames with :meth:`draw`, and
    call what that returns to collect the PNGs. Where fork is missing or there is one core, or
    the worker fails, the plots are drawn in this process. ``None`` from the collector: no
    matplotlib.
    """

    def __init__(self) -> None:
        import multiprocessing
        import os
        self._child = self._conn = None
        if (os.cpu_count() or 1) >= 2 and "fork" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("fork")
            self._conn, theirs = ctx.Pipe(duplex=True)
            self._child = ctx.Process(target=_plot_child, args=(theirs,), daemon=True, name="gradehub-plots")
            self._child.start()
            theirs.close()

    def draw(self, frames: ReportFrames) -> Callable[[], dict[str, str] | None]:
        here = _plots_here(frames)
        if self._child is None:
            return here
        try:
            self._conn.send(frames)
        except (OSError, EOFError):   # the worker is gone (e.g. no matplotlib): it said why
            pass

        def collect() -> dict[str, str] | None:
            try:
                kind, value = self._conn.recv()
            except (EOFError, OSError):
                kind, value = "error", None
            finally:
                self.close()
            if kind == "ok":
                return value
            return None if kind == "no matplotlib" else here()
        return collect

    def close(self) -> None:
        """Stop the worker; after a collected result it has already ended."""
        if self._child is not None:
            self._conn.close()
            if self._child.is_alive():
                self._child.terminate()
            self._child.join()
            self._child = None


def write_html(frames: ReportFrames, path: Path, plots: bool = True,
               figures: Callable[[], dict[str, str] | None] | None = None) -> Path:
    """report.html: key numbers, the policies that applied, four plots, item statistics, groups.

    ``figures``: where the plots come from (e.g. :meth:`PlotWorker.draw`); drawn here by default.
    """
    m = frames.meta
    ov, subs = frames.overview, frames.submissions
    done = subs[subs["status"] != "missing"]
    if not plots:
        figs, plot_note = {}, "Plots were switched off (--no-plots)."
    else:
        drawn = (figures or _plots_here(frames))()
        figs, plot_note = (drawn, "") if drawn is not None else ({}, "Plots need matplotlib (pip install matplotlib).")
    esc = html.escape
    cards = [(len(ov), "students"), (len(done), "submissions"),
             (f"{ov['percent'].mean():.0%}" if len(ov) else "–", "mean course percentage"),
             (f"{int(ov['exam_bonus'].sum())} / {len(ov)}", f"meet the exam bonus (≥ {m.get('exam_bonus_threshold', 0):.0%})"),
             (int(subs["status"].str.match(r"(failed|invalid|error)").sum()), "failed or unreadable"),
             (int((done["late_penalty"] > 0).sum()), "late (penalised)")]
    pol = frames.policies.copy()
    items = frames.items.copy()
    weak = (items["discrimination"] < 0.2) | (items["difficulty"] < 0.3) | (items["share_failed"] > 0.1)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(m.get('course', ''))} grade report</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(m.get('title', ''))} — grade report</h1>",
        f"<p class='sub'>{esc(m.get('course', ''))} · generated "
        f"{esc(m['generated'].strftime('%Y-%m-%d %H:%M %Z')) if 'generated' in m else ''} · times in "
        f"{esc(m.get('timezone', ''))}</p>",
        "<div class='cards'>" + "".join(f"<div class='card'><b>{esc(str(v))}</b><span>{esc(t)}</span></div>"
                                        for v, t in cards) + "</div>",
        "<h2>Weeks and the late policy that applied</h2>",
        "<p class='note'>Penalties are computed at report time from course.toml and the extensions "
        "(gradehub extend); a changed deadline changes every number here.</p>",
        _html_table(pol, {"mean_percent": "%"}, left=("assignment", "title", "late_policy")),
    ]
    captions = {
        "distribution": ("Score distribution per week", "Each dot is one submission."),
        "difficulty": ("Per-question difficulty", "Difficulty is the mean share of the question's points "
                       "(1 = everyone full marks); discrimination is the correlation between the question and the "
                       "rest of the sheet. Low values on both deserve a look at the question or its tests."),
        "groups": ("Group comparison", "Course percentage so far per tutor group, and the mean per week."),
        "times": ("Submission times against the deadline", "Hours before/after the course deadline; the colour "
                  "says how the deadline that applied to the student (extensions included) judged it."),
    }
    for key, (title, caption) in captions.items():
        parts.append(f"<h2>{esc(title)}</h2>")
        if key in figs:
            parts.append(f"<img alt='{esc(title)}' src='data:image/png;base64,{figs[key]}'>")
        parts.append(f"<p class='note'>{esc(caption)} {esc(plot_note)}</p>")
    parts += ["<h2>Item statistics</h2>",
              "<p class='note'>Highlighted: difficulty below 0.3, discrimination below 0.2, or more than 10% "
              "failed executions.</p>",
              _html_table(items, {"difficulty": "%", "share_zero": "%", "share_failed": "%", "mean": "r",
                                  "discrimination": "r"},
                          left=("assignment", "notebook", "question", "cell_type"), warn=weak),
              "<h2>Tutor groups</h2>",
              _html_table(frames.groups, {c: "%" for c in frames.groups.columns
                                          if c in _PERCENT_COLS or c.endswith("mean %")},
                          left=("group", "tutors")),
              "<h2>Submission status</h2>"]
    status_counts = subs.assign(kind=subs["status"].str.split(":").str[0]) \
        .pivot_table(index="assignment", columns="kind", values="student", aggfunc="count", fill_value=0) \
        .reindex(m.get("assignments", [])).fillna(0).astype(int).reset_index()
    parts.append(_html_table(status_counts, {}, left=("assignment",)))
    if len(frames.extensions):
        parts += ["<h2>Extensions</h2>",
                  _html_table(frames.extensions, {}, left=("assignment", "student", "action", "granted_by",
                                                           "reason"))]
    parts.append("<p class='note'>The full per-student and per-question tables are in grades.xlsx.</p>"
                 "</body></html>")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(parts), encoding="utf-8")
    tmp.replace(path)
    return path


# ----------------------------------------------------------------------------- everything


def _write_all(course: Course, output: Path, formats: tuple[str, ...], html_report: bool, plots: bool,
               sync_gradebook: bool, worker: "PlotWorker | None", step: Progress, total_steps: int) -> list[Path]:
    done_steps = 0

    def sub_step(what, done, total):  # map a sub-task's progress onto the whole run
        step(what, done_steps + (done / max(total, 1)), total_steps)

    if sync_gradebook:
        from .extensions import sync_penalties
        engine = gradebook_engine(course)
        try:
            sync_penalties(course, engine)
        except Exception as exc:  # noqa: BLE001 - a locked gradebook must not stop the report
            step(f"could not update nbgrader's penalty columns: {type(exc).__name__}: {exc}", 0, total_steps)
        finally:
            engine.dispose()
    frames = build_frames(course, progress=lambda what, d, t: step(what, d, total_steps))
    done_steps = 4
    output.mkdir(parents=True, exist_ok=True)
    figures = worker.draw(frames) if worker else None
    files = [write_csv(frames, course, output / "grades.csv")]
    for fmt in formats:
        if fmt == "xlsx":
            files.append(write_xlsx(frames, output / "grades.xlsx", progress=sub_step))
        else:
            step("parquet files", done_steps, total_steps)
            files.extend(write_parquet(frames, output / "parquet"))
        done_steps += 1
    if html_report:
        step("report.html: plots", done_steps, total_steps)
        files.append(write_html(frames, output / "report.html", plots=plots, figures=figures))
        done_steps += 1
    return files


def write_reports(course: Course, output: Path, formats: Iterable[str] = ("xlsx",), html_report: bool = True,
                  plots: bool = True, sync_gradebook: bool = True,
                  progress: Progress | None = None) -> list[Path]:
    """Write grades.csv, grades.xlsx (or parquet/*.parquet) and report.html into ``output``.

    With ``sync_gradebook`` the penalties computed here are also written into nbgrader's
    columns (see :func:`gradehub.extensions.sync_penalties`), so the formgrader agrees.
    """
    formats = tuple(formats) or ("xlsx",)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        from .course import CourseError
        raise CourseError(f"unknown report format(s) {', '.join(unknown)}; use {', '.join(FORMATS)}")
    started = time.monotonic()
    step = progress or (lambda what, done, total: None)
    total_steps = 4 + len(formats) + int(html_report) + 1
    # forked first: before any database connection exists, and so that it imports matplotlib
    # while this process syncs the penalties and reads the gradebook
    worker = PlotWorker() if html_report and plots else None
    try:
        files = _write_all(course, output, formats, html_report, plots, sync_gradebook, worker, step, total_steps)
    finally:
        if worker:
            worker.close()          # a failure before collecting must not leave the worker behind
    step(f"done in {time.monotonic() - started:.1f} s", total_steps, total_steps)
    return files
