"""otter's ``final_grades.csv`` layout, from gradehub's grading of an otter assignment.

The layout of ``otter grade`` (``otter/grade/utils.py``): columns ``file``, the questions in
name order, ``total_points_earned``, ``percent_correct`` (total / possible, rounded to 4
digits), ``grading_status``; the first row ``points-per-question`` holds what each question is
worth, then one row per submission sorted by ``file``. ``file`` is the submitted notebook's
path as ``submitted/<student>/<assignment>/<name>.ipynb``; a submission gradehub could not run
has zeros and the reason in ``grading_status``, as otter writes its error there.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..course import Course, CourseError
from ..protocol import verdicts_from_json

POINTS_POSSIBLE_LABEL = "points-per-question"


def _fmt(value: float) -> str:
    return f"{value:g}"


def final_grades_rows(course: Course, assignment: str) -> list[dict[str, str]]:
    course.assignment(assignment)
    root = course.autograded_dir()
    results = sorted(root.glob(f"*/{assignment}/gradehub-result.json")) if root.is_dir() else []
    if not results:
        raise CourseError(f"no graded submission of {assignment}: run `gradehub autograde {assignment}` first")
    rows: list[dict[str, str]] = []
    possible: dict[str, float] = {}
    for path in results:
        data = json.loads(path.read_text(encoding="utf-8"))
        student = path.parent.parent.name
        verdicts = [v for v in verdicts_from_json(data.get("verdicts")) if v.kind != "manual"]
        for v in verdicts:
            possible[v.grade_id] = v.max_points
        names = sorted({v.notebook for v in verdicts}) or [assignment]
        completed = data.get("status") in ("graded", "needs_manual", "failed")
        row = {
            "file": f"submitted/{student}/{assignment}/{names[0]}.ipynb",
            **{v.grade_id: _fmt(v.points or 0.0) for v in verdicts},
        }
        total = sum(v.points or 0.0 for v in verdicts)
        row["total_points_earned"] = _fmt(total)
        row["_possible"] = str(sum(v.max_points for v in verdicts))
        row["grading_status"] = "Completed" if completed else str(data.get("message", data.get("status", "")))
        rows.append(row)
    questions = sorted(possible)
    total_possible = sum(possible.values())
    for row in rows:
        row.pop("_possible")
        for q in questions:
            row.setdefault(q, "0")
        earned = float(row["total_points_earned"])
        row["percent_correct"] = _fmt(round(earned / total_possible, 4) if total_possible else 0)
    header = {
        "file": POINTS_POSSIBLE_LABEL,
        **{q: _fmt(possible[q]) for q in questions},
        "total_points_earned": _fmt(total_possible),
        "percent_correct": "1",
        "grading_status": "--",
    }
    return [header, *sorted(rows, key=lambda r: r["file"])]


def write_final_grades(course: Course, assignment: str, output: Path) -> Path:
    rows = final_grades_rows(course, assignment)
    questions = [k for k in rows[0] if k not in ("file", "total_points_earned", "percent_correct", "grading_status")]
    columns = ["file", *questions, "total_points_earned", "percent_correct", "grading_status"]
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return output
