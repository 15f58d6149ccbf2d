"""Who may read and write what, as pure functions over plain values (no database, no HTTP).

The rules:

- the **instructor** may do everything;
- a **tutor** may read and grade the *manually graded* answers (free-response cells) of the
  students allocated to them, and nothing else: not another group's students, not an
  autograded cell (its score, nor its hidden tests in the source), not an instructor action;
- a student is allocated to the tutor an instructor moved them to (an override), otherwise to
  the tutors of their roster group (``course.toml`` ``[tutors]``: group → accounts);
- a **second marker** (moderation) may read the one answer they were asked to mark, and enter
  a second mark for it; they never see the first mark and never write the gradebook;
- progress: a tutor sees their own, the instructor everyone's;
- anyone else (a student, an unknown account) may do nothing.

Every check raises :class:`PermissionDenied` with a reason a person can read; the service
turns it into HTTP 403.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Iterable, Mapping

NO_TUTOR = "(no tutor)"
TUTOR_GROUP_PREFIX = "tutors-"  # hub groups "tutors-<G>" (gradehub.hub) name a tutor's group


class PermissionDenied(Exception):
    """The actor may not do this; ``str(exc)`` says why (HTTP 403)."""


class InvalidInput(ValueError):
    """The request is malformed or out of range, e.g. points above the cell's maximum (HTTP 400)."""


@dataclass(frozen=True)
class Actor:
    """Who is asking: an account name, and whether it is an instructor of the course."""

    name: str
    instructor: bool = False
    hub_groups: frozenset[str] = frozenset()

    @property
    def hub_tutor_groups(self) -> frozenset[str]:
        """Roster groups the hub says this account tutors (hub groups ``tutors-<G>``)."""
        return frozenset(
            g[len(TUTOR_GROUP_PREFIX) :]
            for g in self.hub_groups
            if g.startswith(TUTOR_GROUP_PREFIX) and len(g) > len(TUTOR_GROUP_PREFIX)
        )


@dataclass(frozen=True)
class Cell:
    """One graded cell of an assignment: ``manual`` is True for free-response (tutor) cells."""

    assignment: str
    notebook: str
    name: str
    max_score: float
    manual: bool


@dataclass(frozen=True)
class Allocation:
    """Which tutor grades which student.

    ``groups``: student → roster group; ``group_tutors``: group → tutor accounts;
    ``overrides``: student → tutor account (set by the instructor; wins over the group).
    """

    groups: Mapping[str, str]
    group_tutors: Mapping[str, tuple[str, ...]]
    overrides: Mapping[str, str] = field(default_factory=dict)

    def with_group_tutors(self, extra: Mapping[str, Iterable[str]]) -> Allocation:
        merged = {g: tuple(t) for g, t in self.group_tutors.items()}
        for group, names in extra.items():
            merged[group] = tuple(dict.fromkeys([*merged.get(group, ()), *names]))
        return Allocation(self.groups, merged, self.overrides)

    def tutors_of(self, student: str) -> tuple[str, ...]:
        """The accounts that grade ``student`` (empty: nobody but the instructor)."""
        if student in self.overrides:
            return (self.overrides[student],)
        return tuple(self.group_tutors.get(self.groups.get(student, ""), ()))

    def students_of(self, tutor: str) -> list[str]:
        return sorted(s for s in self.groups.keys() | self.overrides.keys() if tutor in self.tutors_of(s))

    @property
    def tutors(self) -> list[str]:
        """Every tutor account: listed for a group, or the target of an override."""
        names = {t for ts in self.group_tutors.values() for t in ts} | set(self.overrides.values())
        return sorted(names)

    def is_tutor(self, name: str) -> bool:
        return name in self.tutors


def allocation_for(actor: Actor, allocation: Allocation) -> Allocation:
    """The allocation as ``actor``'s request sees it: hub groups ``tutors-<G>`` add them to G."""
    extra = {g: (actor.name,) for g in actor.hub_tutor_groups}
    return allocation.with_group_tutors(extra) if extra else allocation


# --------------------------------------------------------------------------- checks


def is_staff(actor: Actor, allocation: Allocation) -> bool:
    return actor.instructor or allocation.is_tutor(actor.name)


def check_staff(actor: Actor, allocation: Allocation, *, second_marker: bool = False) -> None:
    """The actor is an instructor, a tutor, or (``second_marker``) has moderation work."""
    if not (is_staff(actor, allocation) or second_marker):
        raise PermissionDenied(f"{actor.name} is neither a tutor nor an instructor of this course")


def check_instructor(actor: Actor, action: str = "this") -> None:
    if not actor.instructor:
        raise PermissionDenied(f"{action} is for instructors only; {actor.name} is not one")


def may_grade_student(actor: Actor, allocation: Allocation, student: str) -> bool:
    return actor.instructor or actor.name in allocation.tutors_of(student)


def check_student(actor: Actor, allocation: Allocation, student: str) -> None:
    """The actor may see ``student``'s free-response answers."""
    if may_grade_student(actor, allocation, student):
        return
    raise PermissionDenied(f"{student} is not one of {actor.name}'s students")


def check_cell(actor: Actor, cell: Cell) -> None:
    """Tutors see and grade only manually graded cells; autograded ones are the instructor's."""
    if actor.instructor or cell.manual:
        return
    raise PermissionDenied(
        f"{cell.assignment}/{cell.notebook}/{cell.name} is autograded; tutors neither see nor change autograded scores"
    )


def check_read_answer(actor: Actor, allocation: Allocation, student: str, cell: Cell) -> None:
    check_cell(actor, cell)
    check_student(actor, allocation, student)


def check_write_grade(actor: Actor, allocation: Allocation, student: str, cell: Cell) -> None:
    """Write the first (gradebook) mark: the student's tutor or the instructor."""
    check_read_answer(actor, allocation, student, cell)


def check_rubric(actor: Actor, allocation: Allocation, cell: Cell, *, second_marker: bool = False) -> None:
    """The model answer of a free-response cell; an autograded cell's source holds hidden tests."""
    check_staff(actor, allocation, second_marker=second_marker)
    check_cell(actor, cell)


def check_progress(actor: Actor, tutor: str) -> None:
    if actor.instructor or actor.name == tutor:
        return
    raise PermissionDenied(f"{actor.name} may see only their own progress; {tutor}'s is for instructors")


def check_second_mark(actor: Actor, marker: str | None) -> None:
    """Only the account the sample item was assigned to enters its second mark."""
    if marker is not None and actor.name == marker:
        return
    if marker is None:
        raise PermissionDenied("this answer is not in a moderation sample")
    raise PermissionDenied(f"this second marking is assigned to {marker}, not {actor.name}")


def check_points(points: object, cell: Cell) -> float:
    """Points as a float within [0, max_score]; anything else is :class:`InvalidInput`."""
    if isinstance(points, bool) or points is None:
        raise InvalidInput("points: a number is required")
    try:
        value = float(points)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(f"points: {points!r} is not a number") from None
    if not math.isfinite(value):
        raise InvalidInput(f"points: {points!r} is not a finite number")
    if value < 0 or value > cell.max_score:
        raise InvalidInput(f"points: {value:g} is outside 0 … {cell.max_score:g} for {cell.name}")
    return value


MAX_COMMENT = 20_000


def check_comment(comment: object) -> str | None:
    if comment is None:
        return None
    if not isinstance(comment, str):
        raise InvalidInput("comment: expected text")
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"comment: at most {MAX_COMMENT} characters")
    return comment.strip() or None
