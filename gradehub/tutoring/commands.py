"""``gradehub tutors …``: progress and the instructor's actions from the shell.

Whoever runs the command on the course root acts as the instructor (they can write the
gradebook anyway); the actions and their checks are the service's (:class:`.api.Grading`).
"""

from __future__ import annotations

import getpass
from typing import Any

from rich.console import Console
from rich.table import Table

from .api import Grading, NotFound
from .permissions import Actor, InvalidInput, PermissionDenied


def _actor() -> Actor:
    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in a bare container (KeyError, OSError, ...)
        name = "instructor"
    return Actor(name, instructor=True)


def _bar(done: int, total: int, width: int = 12) -> str:
    filled = round(width * done / total) if total else width
    return "█" * filled + "░" * (width - filled)


def status(grading: Grading, out: Console, assignment: str | None) -> int:
    data = grading.progress(_actor(), assignment)
    table = Table(title="Free-response grading per tutor and week")
    for col in ("tutor", "week", "students", "graded", "to grade", "flagged", "second marks open", ""):
        table.add_column(col, justify="right" if col not in ("tutor", "week", "") else "left")
    for r in data["rows"]:
        table.add_row(
            r["tutor"],
            r["assignment"],
            str(r["students"]),
            f"{r['graded']} / {r['answers']}",
            str(r["to_grade"]),
            str(r["flagged"] or ""),
            str(r["second_marks_open"] or ""),
            _bar(r["graded"], r["answers"]),
        )
    out.print(table)
    for t in data.get("totals", []):
        out.print(
            f"{t['assignment']}: {t['graded']} of {t['answers']} answers graded, {t['to_grade']} to grade, "
            f"{t['flagged']} flagged",
            markup=False,
            highlight=False,
        )
    if not data.get("totals"):
        out.print("no graded submissions with free-response answers yet")
    return 0


def move(grading: Grading, out: Console, student: str, tutor: str | None) -> int:
    result = grading.move(_actor(), student, tutor)
    out.print(f"{student} is graded by {', '.join(result['tutors'])} in every week", markup=False)
    return 0


def split(grading: Grading, out: Console, group: str, tutors: list[str]) -> int:
    result = grading.split(_actor(), group, tutors)
    for tutor, students in result.items():
        out.print(f"{tutor}: {', '.join(students) or 'nobody'}", markup=False)
    return 0


def moderate(
    grading: Grading, out: Console, assignment: str, sample: int | None, marker: str | None, seed: int | None
) -> int:
    actor = _actor()
    if sample is not None:
        drawn = grading.draw_sample(actor, assignment, sample, marker=marker, seed=seed)
        out.print(
            f"drew {len(drawn)} answer(s) of {assignment} for a second marking"
            + ("" if len(drawn) == sample else " (no more graded answers to draw)"),
            markup=False,
        )
    data: dict[str, Any] = grading.moderation(actor, assignment)
    table = Table(
        title=f"Moderation of {assignment}: {data['marked']} of {len(data['items'])} second-marked, "
        f"{data['disagreements']} disagree"
    )
    for col in ("student", "question", "first marker", "mark", "second marker", "second mark", "difference"):
        table.add_column(col)
    for i in data["items"]:
        diff = i["difference"]
        table.add_row(
            i["student"],
            f"{i['notebook']}/{i['cell']}",
            i["first_marker"] or "?",
            _num(i["current_score"]),
            i["marker"],
            _num(i["second_score"]) if i["marked"] else "open",
            f"[red]{diff:+g}[/red]" if i["disagree"] else ("0" if diff is not None else ""),
        )
    out.print(table)
    return 0


def _num(value) -> str:
    return "–" if value is None else f"{float(value):g}"


def run(args, out: Console, err: Console) -> int:
    """Dispatch ``gradehub tutors ACTION``; refusals and bad input are one line and exit 2."""
    grading = Grading(args.course_root)
    try:
        if args.tutors_command == "status":
            return status(grading, out, args.assignment)
        if args.tutors_command == "move":
            if bool(args.tutor) == bool(args.back):
                raise InvalidInput("move: name the TUTOR, or --back for the student's group tutors")
            return move(grading, out, args.student, None if args.back else args.tutor)
        if args.tutors_command == "split":
            return split(grading, out, args.group, [args.tutor1, args.tutor2])
        return moderate(grading, out, args.assignment, args.sample, args.marker, args.seed)
    except (InvalidInput, NotFound, PermissionDenied) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        return 2
