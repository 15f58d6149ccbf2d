"""The report frames: gradebook rows, course.toml and the extensions shaped in pandas.

- ``questions``: one row per student × assignment × question: automatic, manual and final
  score, the question's share of the late penalty, who graded it, tutor comments, and
  whether its cell ran (``execution``) — so a genuine 0 is told apart from a crash;
- ``submissions``: one row per roster student × assignment: status, submission time, the
  deadline that applied (extensions included), lateness, penalty, the policy, totals;
- ``overview``: one row per student: group, per-week totals, course total, percentage,
  whether the exam bonus threshold is met;
- ``scores``: one row per student, one column per assignment/question (final score);
- ``items``, ``groups``, ``policies``, ``extensions``: see :mod:`gradehub.report.summaries`.

Late penalties are computed here, at report time, from the submission time, course.toml's
deadline and policy, and the extensions in the gradebook; a changed deadline changes
every number at the next report.

A status column separates a genuine zero (``graded``) from a crash (``failed: ...``), an
unreadable file (``invalid: ...``), no submission (``missing``) and open manual grading.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..course import Course
from ..gradebook import Extension
from ..late import as_utc, describe_applied, penalty_points
from .read import cell_order, cells_not_run, local_times, read_gradebook, test_cases
from .summaries import extension_table, group_summary, item_statistics, policy_table
from ..variants import VariantError, assignment_specs, describe_variants, graded_variants

Progress = Callable[[str, int, int], None]  # (what is happening, step done, steps in all)

# how the workbook and the HTML page show a column: a share (0.0%) or a decimal (0.00)
PERCENT_COLUMNS = {
    "percent",
    "difficulty",
    "share_zero",
    "share_failed",
    "submission_rate",
    "mean_percent",
    "median_percent",
    "exam_bonus_share",
}
DECIMAL_COLUMNS = {"mean", "discrimination", "late_hours", "late_penalty"}


def is_percent_column(name) -> bool:
    return name in PERCENT_COLUMNS or str(name).endswith("mean %")


@dataclass
class ReportFrames:
    overview: pd.DataFrame
    submissions: pd.DataFrame
    questions: pd.DataFrame
    scores: pd.DataFrame  # one row per student, one column per assignment/question
    items: pd.DataFrame = field(default_factory=pd.DataFrame)
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)
    policies: pd.DataFrame = field(default_factory=pd.DataFrame)
    extensions: pd.DataFrame = field(default_factory=pd.DataFrame)
    meta: dict = field(default_factory=dict)
    # one row per test case of questions graded by cases (otter); empty for nbgrader-only courses
    cases: pd.DataFrame = field(default_factory=pd.DataFrame)

    def tables(self) -> dict[str, pd.DataFrame]:
        tables = {
            "overview": self.overview,
            "questions": self.questions,
            "groups": self.groups,
            "items": self.items,
            "submissions": self.submissions,
            "scores": self.scores,
            "policies": self.policies,
            "extensions": self.extensions,
        }
        if len(self.cases):
            tables["cases"] = self.cases
        return tables


def _status_text(status: str | None, message: str | None) -> str:
    if status is None:
        return "graded"
    if status in ("failed", "invalid", "error"):
        return f"{status}: {message}"
    if status == "needs_manual":
        return "graded"  # "needs manual grading" while a grade is still open (set by the caller)
    return status


def build_frames(course: Course, progress: Progress | None = None) -> ReportFrames:
    """Read the gradebook, course.toml and the extensions into the report frames."""
    step = progress or (lambda what, done, total: None)
    step("reading the gradebook", 0, 4)
    raw = read_gradebook(course)
    cells, grades, comments, subs, students, status = (
        raw[k] for k in ("cells", "grades", "comments", "subs", "students", "status")
    )
    step("shaping per-question scores", 1, 4)
    tz = course.timezone
    order = [a.id for a in course.assignments]
    by_id = {a.id: a for a in course.assignments}
    rank = {aid: i for i, aid in enumerate(order)}
    position, comment_target = cell_order(course, order)
    cells = cells[cells["assignment"].isin(order)].copy()
    cells["pos"] = [
        position.get(k, 10**6) for k in zip(cells["assignment"], cells["notebook"], cells["question"], strict=True)
    ]
    cells["rank"] = cells["assignment"].map(rank)
    cells = cells.sort_values(["rank", "notebook", "pos", "question"], ignore_index=True)

    if course.roster_path.is_file():
        roster = pd.DataFrame(
            [s.__dict__ for s in course.roster()], columns=["id", "first_name", "last_name", "email", "group"]
        )
    else:
        roster = pd.DataFrame(columns=["id", "first_name", "last_name", "email", "group"])
    roster = roster.rename(columns={"id": "student"})
    extra = students[~students["student"].isin(roster["student"])].assign(group="")
    people = pd.concat([roster, extra[roster.columns]], ignore_index=True).fillna("")
    people = people.sort_values("student", ignore_index=True)
    group_of = dict(zip(people["student"], people["group"], strict=True))

    # --- status and extensions, needed by everything below
    status = status.drop_duplicates(["assignment", "student"], keep="last")
    history = raw["history"]
    latest: dict[tuple[str, str], Extension] = {}
    for ext in history:
        latest[(ext.assignment, ext.student)] = ext
    current = {k: v for k, v in latest.items() if v.until is not None}

    # --- questions: every student × every question of every assignment they submitted
    for col in ("auto_score", "manual_score", "extra_credit"):
        grades[col] = pd.to_numeric(grades[col], errors="coerce").astype(float)
    q = grades.merge(
        cells[["assignment", "notebook", "question", "max_score", "cell_type", "rank", "pos"]],
        on=["assignment", "notebook", "question"],
        how="inner",
    )
    q["graded"] = q["manual_score"].notna() | q["auto_score"].notna()
    q["score"] = q["manual_score"].where(q["manual_score"].notna(), q["auto_score"])
    q["score"] = q["score"].fillna(0.0) + q["extra_credit"].fillna(0.0)
    q["needs_manual_grade"] = q["needs_manual_grade"].fillna(False).astype(bool)
    q["group"] = q["student"].map(group_of).fillna("")
    # grader: who entered the manual score, as the tutor grading service recorded it; for a
    # score entered elsewhere (formgrader), the student's tutor(s) (instructor's move, else group)
    tutors = {g: ", ".join(accounts) for g, accounts in course.tutors.items()}
    overrides = (
        dict(zip(raw["overrides"]["student"], raw["overrides"]["tutor"], strict=True)) if "overrides" in raw else {}
    )
    responsible = q["student"].map(lambda st: overrides.get(st) or tutors.get(group_of.get(st, "")) or "manual")
    grader = np.where(q["manual_score"].notna(), responsible, np.where(q["auto_score"].notna(), "autograder", ""))
    if "marks" in raw and len(raw["marks"]):
        marks = q[["student", "assignment", "notebook", "question", "manual_score"]].merge(
            raw["marks"], on=["student", "assignment", "notebook", "question"], how="left"
        )
        recorded = (
            marks["tutor"].notna()
            & marks["manual_score"].notna()
            & (pd.to_numeric(marks["marked"], errors="coerce") == marks["manual_score"])
        ).to_numpy()
        grader = np.where(recorded, marks["tutor"].to_numpy(dtype=object), grader)
    q["grader"] = grader
    # tutor comments, attached to the question they comment on
    if len(comments):
        comments["question"] = [
            comment_target.get(k, k[2])
            for k in zip(comments["assignment"], comments["notebook"], comments["cell"], strict=True)
        ]
        known_q = set(zip(cells["assignment"], cells["notebook"], cells["question"], strict=True))
        last_q = cells.groupby(["assignment", "notebook"])["question"].last().to_dict()
        comments["question"] = [
            qq if (a, n, qq) in known_q else last_q.get((a, n), qq)
            for a, n, qq in zip(comments["assignment"], comments["notebook"], comments["question"], strict=True)
        ]
        keys = ["student", "assignment", "notebook", "question"]
        several = comments.duplicated(keys, keep=False)
        joined = pd.concat(
            [
                comments.loc[~several, [*keys, "manual_comment"]],
                comments[several]
                .groupby(keys)["manual_comment"]
                .agg(lambda s: "\n".join(str(x) for x in s))
                .reset_index(),
            ],
            ignore_index=True,
        )
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
            if row.status != "failed":  # invalid file or platform error: nothing ran
                execution[rows] = f"not run ({row.status}): {row.message}"
                continue
            not_run = cells_not_run(course, row.student, row.assignment)
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
    totals = (
        sums.groupby(["student", "assignment"])
        .agg(
            auto=("auto0", "sum"),
            manual=("manual0", "sum"),
            score=("score", "sum"),
            open_manual=("needs_manual_grade", "sum"),
        )
        .reset_index()
    )
    subs["submitted_at"] = pd.to_datetime(subs["submitted_at"], errors="coerce", format="ISO8601")
    s = grid.merge(subs, on=["student", "assignment"], how="left")
    s = s.merge(totals, on=["student", "assignment"], how="left")
    s = s.merge(
        status[["student", "assignment", "status", "message", "flags", "graded_at"]],
        on=["student", "assignment"],
        how="left",
    )
    s["max_score"] = s["assignment"].map(max_by_assignment).fillna(0.0).astype(float)
    s["submitted"] = s["submitted_at"].notna() | s["status"].notna()

    # late penalties, vectorised per assignment: gradehub.late.penalty_points applies the rules of
    # late_penalty (a test checks the two agree) to the deadline each student had
    submitted_utc = local_times(s["submitted_at"], "UTC")
    sub_keys: list[tuple[str, str]] = list(zip(s["assignment"], s["student"], strict=True))
    ext_until = local_times(
        pd.Series([current[k].until if k in current else None for k in sub_keys], index=s.index, dtype=object), "UTC"
    )
    course_due = local_times(
        s["assignment"].map({a.id: as_utc(a.due) if a.due else None for a in course.assignments}).astype(object), "UTC"
    )
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
        policies[i] = describe_applied(a.late_policy, a.due, current[sub_keys[i]].until)
    s["late_hours"] = np.where(late > 0, late / 3600, 0.0).round(2)
    s["late_penalty"] = np.where(s["submitted"].to_numpy(dtype=bool), penalties, 0.0)
    s["late_policy"] = policies
    s["extension"] = [current[k].describe() if k in current else "" for k in sub_keys]
    s["due"] = effective.dt.tz_convert(tz)
    s["submitted_at"] = submitted_utc.dt.tz_convert(tz)
    s["score"] = s["score"].fillna(0.0)
    s["auto"] = s["auto"].fillna(0.0)
    s["manual"] = s["manual"].fillna(0.0)
    s["total"] = (s["score"] - s["late_penalty"]).clip(lower=0.0)
    s["percent"] = np.where(s["max_score"] > 0, s["total"] / s["max_score"].where(s["max_score"] > 0, 1), 0.0)
    s["status"] = pd.Series(
        [
            "missing" if not sub else _status_text(st if isinstance(st, str) else None, msg)
            for sub, st, msg in zip(s["submitted"], s["status"], s["message"], strict=True)
        ],
        index=s.index,
        dtype=object,
    )
    s.loc[(s["status"] == "graded") & (s["open_manual"].fillna(0) > 0), "status"] = "needs manual grading"
    s["flags"] = [_flags_text(f) for f in s["flags"]]
    s["variant"] = _variant_texts(course, s)
    s["graded_at"] = local_times(s["graded_at"], tz)
    s["rank"] = s["assignment"].map(rank)
    s = s.sort_values(["rank", "student"], ignore_index=True)
    submissions = s[
        [
            "student",
            "group",
            "assignment",
            "status",
            "submitted_at",
            "due",
            "late_hours",
            "late_penalty",
            "late_policy",
            "extension",
            "auto",
            "manual",
            "score",
            "max_score",
            "total",
            "percent",
            "flags",
            "variant",
            "graded_at",
        ]
    ].reset_index(drop=True)

    # the late penalty, spread over the questions in proportion to their points (sums to the sheet's)
    share = (s["late_penalty"] / s["max_score"].where(s["max_score"] > 0)).fillna(0.0)
    share_of = pd.Series(share.to_numpy(), index=pd.MultiIndex.from_frame(s[["student", "assignment"]]))
    q["late_penalty"] = (
        share_of.reindex(pd.MultiIndex.from_frame(q[["student", "assignment"]])).fillna(0.0).to_numpy()
        * q["max_score"].to_numpy()
    )
    q = q.sort_values(["rank", "student", "notebook", "pos", "question"], ignore_index=True)
    questions = q[
        [
            "student",
            "group",
            "assignment",
            "notebook",
            "question",
            "cell_type",
            "max_score",
            "auto_score",
            "manual_score",
            "extra_credit",
            "score",
            "late_penalty",
            "needs_manual_grade",
            "grader",
            "comments",
            "execution",
        ]
    ].reset_index(drop=True)

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
    ov["submitted"] = (
        submissions[submissions["status"] != "missing"]
        .groupby("student")
        .size()
        .reindex(ov.index)
        .fillna(0)
        .astype(int)
    )
    overview = ov.reset_index().sort_values("student", ignore_index=True)

    scores = questions.pivot_table(
        index="student", columns=["assignment", "question"], values="score", aggfunc="sum", sort=False
    )
    wanted_cols = [
        (a, qq) for a, qq in zip(cells["assignment"], cells["question"], strict=True) if (a, qq) in scores.columns
    ]
    scores = scores.reindex(columns=list(dict.fromkeys(wanted_cols)))
    scores.columns = [f"{a}/{qn}" for a, qn in scores.columns]
    scores = scores.reindex(people["student"]).reset_index().rename(columns={"index": "student"})

    items = item_statistics(questions, cells)
    groups = group_summary(overview, submissions, questions, course, order)
    policies = policy_table(course, submissions, max_by_assignment, current)
    extensions = extension_table(history, current, tz)
    meta = {
        "course": course.id,
        "title": course.title,
        "timezone": tz,
        "generated": pd.Timestamp.now(tz=tz),
        "exam_bonus_threshold": course.exam_bonus_threshold,
        "course_max": course_max,
        "assignments": order,
        "titles": {a.id: a.title for a in course.assignments},
    }
    step("frames ready", 4, 4)
    return ReportFrames(
        overview=overview,
        submissions=submissions,
        questions=questions,
        scores=scores,
        items=items,
        groups=groups,
        policies=policies,
        extensions=extensions,
        meta=meta,
        cases=test_cases(course, [a.id for a in course.assignments if a.format == "otter"]),
    )


def _variant_texts(course: Course, s: pd.DataFrame) -> list[str]:
    """Each submission's variant as it was graded (sheets with per-student variants only; the
    others read no file)."""
    with_variants = set()
    for aid in s["assignment"].unique():
        try:
            if assignment_specs(course, str(aid)):
                with_variants.add(aid)
        except VariantError:
            continue
    return [
        describe_variants(graded_variants(course, st, a)) if a in with_variants else ""
        for st, a in zip(s["student"], s["assignment"], strict=True)
    ]


def _flags_text(value) -> str:
    if not isinstance(value, str) or not value:
        return ""
    try:
        items = json.loads(value)
    except ValueError:
        return value
    return "; ".join(str(x) for x in items) if isinstance(items, list) else str(items)
