"""Gradebook → pandas frames → grades.csv and grades.xlsx.

The frames are built with a handful of SQL queries (not nbgrader's object API, which issues
a query per cell and takes minutes on a large course) and then shaped in pandas:

- ``questions``: one row per student × assignment × question (auto, manual, final score);
- ``submissions``: one row per student × assignment (status, message, late penalty, totals);
- ``overview``: one row per student (group; per assignment: automatic and manual points, late
  penalty, total, status; course total, percentage, exam bonus);
- ``scores``: one row per student, one column per assignment/question (final score).

A status column separates a genuine zero (``graded``) from a crash (``failed: ...``), an
unreadable file (``invalid: ...``), no submission (``missing``) and open manual grading.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .course import Course
from .gradebook import STATUS_TABLE, open_gradebook
from .late import late_penalty

_QUESTIONS_SQL = """
SELECT a.name AS assignment, n.name AS notebook, bc.name AS question,
       gc.max_score AS max_score, gc.cell_type AS cell_type
FROM grade_cells gc
JOIN base_cell bc ON bc.id = gc.id
JOIN notebook n ON n.id = bc.notebook_id
JOIN assignment a ON a.id = n.assignment_id
"""

_GRADES_SQL = """
SELECT sa.student_id AS student, a.name AS assignment, n.name AS notebook, bc.name AS question,
       g.auto_score AS auto_score, g.manual_score AS manual_score, g.extra_credit AS extra_credit,
       g.needs_manual_grade AS needs_manual_grade
FROM grade g
JOIN submitted_notebook sn ON sn.id = g.notebook_id
JOIN submitted_assignment sa ON sa.id = sn.assignment_id
JOIN assignment a ON a.id = sa.assignment_id
JOIN notebook n ON n.id = sn.notebook_id
JOIN base_cell bc ON bc.id = g.cell_id
"""

_SUBMISSIONS_SQL = """
SELECT sa.student_id AS student, a.name AS assignment, sa.timestamp AS submitted_at
FROM submitted_assignment sa JOIN assignment a ON a.id = sa.assignment_id
"""

_STUDENTS_SQL = "SELECT id AS student, first_name, last_name, email FROM student"


@dataclass
class ReportFrames:
    overview: pd.DataFrame
    submissions: pd.DataFrame
    questions: pd.DataFrame
    scores: pd.DataFrame        # one row per student, one column per assignment/question


def _status_text(status: str | None, message: str | None) -> str:
    if status is None:
        return "graded"
    if status in ("failed", "invalid", "error"):
        return f"{status}: {message}"
    if status == "needs_manual":
        return "needs manual grading"
    return status


def build_frames(course: Course) -> ReportFrames:
    """Read the gradebook and the course file into the three report frames."""
    with open_gradebook(course) as gb:
        engine = gb.engine
        with engine.connect() as conn:
            cells = pd.read_sql(_QUESTIONS_SQL, conn)
            grades = pd.read_sql(_GRADES_SQL, conn)
            subs = pd.read_sql(_SUBMISSIONS_SQL, conn)
            students = pd.read_sql(_STUDENTS_SQL, conn)
            status = pd.read_sql(f"SELECT assignment, student, status, message FROM {STATUS_TABLE}", conn)

    order = [a.id for a in course.assignments]
    cells = cells[cells["assignment"].isin(order)]
    roster = pd.DataFrame([s.__dict__ for s in course.roster()]) if course.roster_path.is_file() else \
        pd.DataFrame(columns=["id", "first_name", "last_name", "email", "group"])
    roster = roster.rename(columns={"id": "student"})
    extra = students[~students["student"].isin(roster["student"])].assign(group="")
    people = pd.concat([roster, extra[roster.columns]], ignore_index=True)

    # questions: every student × every question of every assignment they submitted
    for col in ("auto_score", "manual_score", "extra_credit"):
        grades[col] = pd.to_numeric(grades[col], errors="coerce")
    subs["submitted_at"] = pd.to_datetime(subs["submitted_at"], errors="coerce")
    q = grades.merge(cells, on=["assignment", "notebook", "question"], how="inner")
    q["score"] = q["manual_score"].where(q["manual_score"].notna(), q["auto_score"])
    q["score"] = q["score"].fillna(0.0) + q["extra_credit"].fillna(0.0)
    q["needs_manual_grade"] = q["needs_manual_grade"].astype(bool)
    q = q.merge(people[["student", "group"]], on="student", how="left")
    questions = q[["student", "group", "assignment", "notebook", "question", "cell_type", "max_score",
                   "auto_score", "manual_score", "extra_credit", "score", "needs_manual_grade"]]
    questions = questions.sort_values(["assignment", "student", "notebook", "question"], ignore_index=True)

    # submissions: one row per roster student × assignment, including the missing ones
    max_by_assignment = cells.groupby("assignment")["max_score"].sum()
    grid = people[["student", "group"]].merge(pd.DataFrame({"assignment": order}), how="cross")
    totals = q.groupby(["student", "assignment"]).agg(
        auto=("auto_score", lambda s: s.fillna(0).sum()),
        manual=("manual_score", lambda s: s.fillna(0).sum()),
        score=("score", "sum"),
        open_manual=("needs_manual_grade", "sum"),
    ).reset_index()
    s = grid.merge(subs, on=["student", "assignment"], how="left")
    s = s.merge(totals, on=["student", "assignment"], how="left")
    s = s.merge(status, on=["student", "assignment"], how="left")
    s["max_score"] = s["assignment"].map(max_by_assignment).fillna(0.0)
    s["submitted"] = s["submitted_at"].notna() | s["status"].notna()

    penalties, lateness, policies = [], [], []
    by_id = {a.id: a for a in course.assignments}
    for row in s.itertuples(index=False):
        a = by_id[row.assignment]
        ts = row.submitted_at if isinstance(row.submitted_at, (dt.datetime, pd.Timestamp)) and pd.notna(row.submitted_at) else None
        p = late_penalty(a.late_policy, a.due, ts.to_pydatetime() if isinstance(ts, pd.Timestamp) else ts,
                         float(row.max_score))
        penalties.append(p.points if row.submitted else 0.0)
        lateness.append(round(p.late_seconds / 3600, 2))
        policies.append(p.policy)
    s["late_hours"] = lateness
    s["late_penalty"] = penalties
    s["late_policy"] = policies
    s["score"] = s["score"].fillna(0.0)
    s["auto"] = s["auto"].fillna(0.0)
    s["manual"] = s["manual"].fillna(0.0)
    s["total"] = (s["score"] - s["late_penalty"]).clip(lower=0.0)
    s["status"] = [
        "missing" if not sub else _status_text(st if isinstance(st, str) else None, msg)
        for sub, st, msg in zip(s["submitted"], s["status"], s["message"])
    ]
    s.loc[(s["status"] == "graded") & (s["open_manual"].fillna(0) > 0), "status"] = "needs manual grading"
    submissions = s[["student", "group", "assignment", "submitted_at", "late_hours", "late_penalty",
                     "late_policy", "auto", "manual", "score", "max_score", "total", "status"]]

    # overview: one row per student
    ov = people.set_index("student")[["first_name", "last_name", "email", "group"]].copy()
    for column, fill in (("auto", 0.0), ("manual", 0.0), ("late_penalty", 0.0), ("total", 0.0),
                         ("status", "missing")):
        wide = submissions.pivot(index="student", columns="assignment", values=column)
        for aid in order:
            values = wide[aid] if aid in wide.columns else pd.Series(dtype=object)
            ov[f"{aid}_{column}"] = values.reindex(ov.index).fillna(fill)
    ov = ov[["first_name", "last_name", "email", "group",
             *[f"{aid}_{c}" for aid in order for c in ("auto", "manual", "late_penalty", "total", "status")]]]
    course_max = float(max_by_assignment.reindex(order).fillna(0).sum())
    ov["total"] = ov[[f"{aid}_total" for aid in order]].sum(axis=1) if order else 0.0
    ov["max_total"] = course_max
    ov["percent"] = ov["total"] / course_max if course_max else 0.0
    ov["exam_bonus"] = ov["percent"] >= course.exam_bonus_threshold
    overview = ov.reset_index().sort_values("student", ignore_index=True)
    scores = questions.pivot_table(index="student", columns=["assignment", "question"], values="score",
                                   aggfunc="sum")
    scores.columns = [f"{a}/{qn}" for a, qn in scores.columns]
    scores = scores.reindex(people["student"]).reset_index()
    return ReportFrames(overview=overview, submissions=submissions, questions=questions, scores=scores)


def _format_sheet(ws, df: pd.DataFrame, percent_cols: tuple[str, ...] = ()) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws.freeze_panes = "B2"
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for i, col in enumerate(df.columns, start=1):
        values = [str(col)] + [str(v) for v in df[col].head(200).tolist()]
        ws.column_dimensions[get_column_letter(i)].width = min(60, max(8, max(len(v) for v in values) + 2))
        if col in percent_cols:
            for row in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                row[0].number_format = "0.0%"
    ws.auto_filter.ref = ws.dimensions


def write_reports(course: Course, output: Path) -> list[Path]:
    """Write grades.csv (one row per student) and grades.xlsx (overview, submissions, scores, questions)."""
    frames = build_frames(course)
    output.mkdir(parents=True, exist_ok=True)
    csv_path = output / "grades.csv"
    xlsx_path = output / "grades.xlsx"
    frames.overview.to_csv(csv_path, index=False)
    subs = frames.submissions.copy()
    subs["submitted_at"] = subs["submitted_at"].astype(str).replace({"NaT": "", "None": "", "nan": ""})
    with pd.ExcelWriter(xlsx_path, engine="openpyxl") as writer:
        for name, df, pct in (("overview", frames.overview, ("percent",)),
                              ("submissions", subs, ()),
                              ("scores", frames.scores, ()),
                              ("questions", frames.questions, ())):
            df.to_excel(writer, sheet_name=name, index=False)
            _format_sheet(writer.sheets[name], df, pct)
    return [csv_path, xlsx_path]
