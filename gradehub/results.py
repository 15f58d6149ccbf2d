"""What a student may know of their results: released grades, feedback, deadlines, the course total.

* :func:`release_grades` (``gradehub grades release ASSIGNMENT [--undo]``): the instructor makes
  an assignment's tutor points and comments, and its totals, visible to its students (a row in
  the gradebook's append-only ``gradehub_grade_releases``); feedback already given out for it is
  given out again, now with (or, after ``--undo``, without) the tutor's points and comments.
* :func:`student_results`: one student's view, as plain data (the grades service renders it and
  serves it as JSON). Before an assignment's grades are released it shows what does not depend
  on grading: whether and when they submitted, the deadline that applied (an extension
  included), how late and the late penalty (a function of times and the policy only). Points
  per task, tutor points and comments, the week's total and the course total count only weeks
  whose grades are released.

The numbers are the report's (:func:`gradehub.report.build_frames`): the grades page, the
feedback, the workbook and the formgrader agree.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .course import Course, CourseError
from .exchange import FeedbackReleaseRun, release_feedback
from .extensions import default_granter
from .gradebook import (
    FeedbackRelease,
    GradeRelease,
    feedback_releases,
    gradebook_engine,
    grade_release_log,
    record_grade_release,
    released_grades,
)
from .late import as_utc, late_penalty, penalty_share


@dataclass
class GradeReleaseResult:
    assignment: str
    released: bool  # the state after the call
    changed: bool  # False: it was already in that state
    release: GradeRelease | None
    feedback: FeedbackReleaseRun | None = None  # feedback given out again for the new state

    def lines(self) -> list[str]:
        state = "released to the students" if self.released else "withdrawn: the students no longer see them"
        head = f"grades of {self.assignment} {state}" if self.changed else f"grades of {self.assignment}: no change"
        out = [head]
        if self.feedback is not None and (self.feedback.released or self.feedback.skipped):
            out.append(f"feedback given out again to {len(self.feedback.released)} student(s)")
            out += [f"  skipped {s}: {why}" for s, why in self.feedback.skipped]
        return out


def release_grades(course: Course, assignment: str, *, undo: bool = False, by: str | None = None) -> GradeReleaseResult:
    """Release (``undo``: withdraw) ``assignment``'s grades; idempotent.

    Students who were given feedback for it get it again, built for the new state.
    """
    course.assignment(assignment)  # a CourseError for an unknown id
    by = by or default_granter()
    engine = gradebook_engine(course)
    try:
        now_released = assignment in released_grades(engine)
        wanted = not undo
        if now_released == wanted:
            return GradeReleaseResult(assignment, wanted, False, None)
        row = record_grade_release(engine, assignment, wanted, by)
        given = sorted(s for (_, s) in feedback_releases(engine, assignment))
    finally:
        engine.dispose()
    result = GradeReleaseResult(assignment, wanted, True, row)
    if given:
        result.feedback = release_feedback(course, assignment, given, by=by)
    return result


def grade_release_states(course: Course) -> list[dict[str, Any]]:
    """Per assignment: released or not, by whom and when (``gradehub grades status``)."""
    engine = gradebook_engine(course)
    try:
        log = grade_release_log(engine)
        given = feedback_releases(engine)
    finally:
        engine.dispose()
    latest: dict[str, GradeRelease] = {}
    for entry in log:
        latest[entry.assignment] = entry
    out = []
    for a in course.assignments:
        row = latest.get(a.id)
        out.append(
            {
                "assignment": a.id,
                "title": a.title,
                "released": bool(row and row.released),
                "by": row.released_by if row else "",
                "at": row.released_at if row else "",
                "feedback_given": sum(1 for (aid, _) in given if aid == a.id),
            }
        )
    return out


# ----------------------------------------------------------------------------- one student's view


@dataclass(frozen=True)
class ResultsContext:
    """What :func:`student_results` reads besides the frames (a service caches it)."""

    frames: Any  # gradehub.report.ReportFrames
    released: dict[str, GradeRelease]
    feedback: dict[tuple[str, str], FeedbackRelease]
    loaded_at: float = 0.0
    course_max: float = 0.0  # every assignment's points, also those not in the gradebook yet


def release_points(course: Course, assignment: str) -> float:
    """An assignment's points as its committed release says (nbgrader's graded cells and tasks):
    what it is worth before the gradebook knows it (0 without a release)."""
    import nbformat

    from .metadata import nbgrader_meta

    total = 0.0
    for path in sorted(course.release_dir(assignment).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = nbgrader_meta(cell) or {}
            if (meta.get("grade") or meta.get("task")) and meta.get("points"):
                total += float(meta["points"])
    return total


def course_max_points(course: Course, frames: Any) -> float:
    """The course's total points, the base of the exam bonus a student works towards: the
    gradebook's maximum for each assignment it knows, the release's points for the others (a
    student in week 3 needs a share of the whole course, not of the weeks so far)."""
    subs = frames.submissions
    known = subs.groupby("assignment")["max_score"].max().to_dict() if len(subs) else {}
    total = 0.0
    for a in course.assignments:
        value = known.get(a.id)
        total += (
            float(value) if value is not None and not pd.isna(value) and value > 0 else release_points(course, a.id)
        )
    return total


def release_state(
    course: Course,
) -> tuple[dict[str, GradeRelease], dict[tuple[str, str], FeedbackRelease]]:
    """Which assignments' grades and which students' feedback are released, as the gradebook
    says now (two small queries: a service may cache the frames, never this)."""
    engine = gradebook_engine(course)
    try:
        return released_grades(engine), feedback_releases(engine)
    finally:
        engine.dispose()


def load_context(course: Course) -> ResultsContext:
    import time

    from .report import build_frames

    frames = build_frames(course)
    released, feedback = release_state(course)
    return ResultsContext(frames, released, feedback, time.monotonic(), course_max_points(course, frames))


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else round(f, 6)


def _iso(value: Any) -> str | None:
    if value is None or value is pd.NaT:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return ts.isoformat()


def _student_status(row: dict, released: bool, due: dt.datetime | None, now: dt.datetime) -> str:
    status = str(row.get("status") or "missing")
    if status == "missing":
        if due is not None and now <= due:
            return "open"
        return "not submitted"
    if not released:
        return "submitted"
    if status == "needs manual grading":
        return "graded; your tutor has not finished"
    return status


@dataclass
class _Totals:
    points: float = 0.0
    max_points: float = 0.0
    weeks: list[str] = field(default_factory=list)


def student_results(
    course: Course,
    student: str,
    context: ResultsContext,
    *,
    now: dt.datetime | None = None,
    visible: Callable[[str], bool] | None = None,
    feedback_url: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """``student``'s results as plain data (the JSON of ``/services/grades/api/me``).

    ``visible(assignment)``: whether the sheet is handed out yet (the exchange's rule); only
    handed-out sheets are listed. ``feedback_url(assignment)``: the link to released feedback.
    """
    now = as_utc(now or dt.datetime.now(dt.UTC))
    frames = context.frames
    subs = frames.submissions[frames.submissions["student"] == student]
    if not len(subs):
        raise CourseError(f"{student} is not a student of {course.id}")
    overview = frames.overview[frames.overview["student"] == student]
    person = overview.iloc[0].to_dict() if len(overview) else {}
    questions = frames.questions[frames.questions["student"] == student]
    by_assignment = {r["assignment"]: r for r in subs.to_dict("records")}
    totals = _Totals()
    weeks = []
    for a in course.assignments:
        if visible is not None and not visible(a.id):
            continue
        row = by_assignment.get(a.id, {})
        released = a.id in context.released
        max_score = _num(row.get("max_score")) or 0.0
        due_applied = row.get("due")
        due_applied_dt = (
            None if due_applied is None or pd.isna(due_applied) else pd.Timestamp(due_applied).to_pydatetime()
        )
        if due_applied_dt is None:
            due_applied_dt = a.due
        now_penalty = late_penalty(a.late_policy, due_applied_dt, now, max_score)
        fb = context.feedback.get((a.id, student))
        week: dict[str, Any] = {
            "id": a.id,
            "title": a.title,
            "due": a.due.isoformat() if a.due else None,
            "due_applied": due_applied_dt.isoformat() if due_applied_dt else None,
            "extension": str(row.get("extension") or "") or None,
            "late_policy": str(row.get("late_policy") or a.late_policy.describe()),
            "grace_seconds": a.late_policy.grace_seconds,
            "penalty_now": {
                "late_hours": round(now_penalty.late_seconds / 3600, 2),
                "share": penalty_share(a.late_policy, now_penalty.late_seconds),
                "points": now_penalty.points,
                "max_points": max_score,
            },
            "status": _student_status(row, released, as_utc(due_applied_dt) if due_applied_dt else None, now),
            "submitted_at": _iso(row.get("submitted_at")),
            "late_hours": _num(row.get("late_hours")) or 0.0,
            "late_penalty": _num(row.get("late_penalty")) or 0.0,
            "grades_released": released,
            "max_score": max_score,
            "score": None,
            "total": None,
            "tasks": [],
            "feedback_url": feedback_url(a.id) if (fb is not None and feedback_url is not None) else None,
            "feedback_released_at": fb.released_at if fb is not None else None,
        }
        submitted = str(row.get("status") or "missing") != "missing"
        if released and submitted:
            week["score"] = _num(row.get("score"))
            week["total"] = _num(row.get("total"))
            week["status_detail"] = str(row.get("status") or "")
            for q in questions[questions["assignment"] == a.id].to_dict("records"):
                manual = _num(q.get("manual_score"))
                auto = _num(q.get("auto_score"))
                week["tasks"].append(
                    {
                        "notebook": q["notebook"],
                        "task": q["question"],
                        "kind": "written" if q.get("cell_type") == "markdown" or auto is None else "tests",
                        "max_score": _num(q.get("max_score")),
                        "auto_score": auto,
                        "tutor_score": manual,
                        "score": _num(q.get("score")) if (auto is not None or manual is not None) else None,
                        "comment": str(q.get("comments") or ""),
                        "execution": str(q.get("execution") or ""),
                    }
                )
        if released:
            totals.points += week["total"] or 0.0
            totals.max_points += max_score
            totals.weeks.append(a.id)
        weeks.append(week)
    course_max = context.course_max
    threshold = float(course.exam_bonus_threshold)
    needed = round(threshold * course_max, 6)
    return {
        "student": student,
        "name": " ".join(str(person.get(k) or "") for k in ("first_name", "last_name")).strip() or student,
        "group": str(person.get("group") or ""),
        "course": {"id": course.id, "title": course.title, "timezone": course.timezone},
        "now": now.isoformat(),
        "assignments": weeks,
        "total": {
            "points": round(totals.points, 6),
            "max_points": round(totals.max_points, 6),
            "released_weeks": totals.weeks,
            "course_max": course_max,
        },
        "exam_bonus": {
            "threshold": threshold,
            "points_needed": needed,
            "points_to_go": round(max(0.0, needed - totals.points), 6),
            "reached": course_max > 0 and totals.points >= needed,
        },
    }


__all__ = [
    "GradeReleaseResult",
    "ResultsContext",
    "grade_release_states",
    "load_context",
    "release_grades",
    "release_state",
    "student_results",
]
