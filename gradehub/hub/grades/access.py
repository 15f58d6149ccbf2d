"""Who may see whose results, as pure functions over plain values (no database, no HTTP).

- a **student** sees their own page only;
- an **instructor** (hub group ``instructors`` or a configured account) sees every student's;
- a **tutor** sees the students they grade: the students an instructor moved to them, and
  otherwise the students of the roster groups they tutor (``course.toml`` ``[tutors]``, the hub's
  extra tutors such as the demo tutor, the hub groups ``tutors-<G>``);
- anyone else sees nothing.

Staff see a student's page exactly as the student does (nothing released later shows early).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

INSTRUCTOR_GROUP = "instructors"
TUTOR_GROUP_PREFIX = "tutors-"


class Forbidden(Exception):
    """The viewer may not see this (HTTP 403); ``str(exc)`` says why."""


@dataclass(frozen=True)
class Viewer:
    name: str
    instructor: bool = False
    tutor_groups: frozenset[str] = frozenset()  # roster groups the hub says they tutor


@dataclass(frozen=True)
class Allocation:
    """Roster groups, group tutors and the instructor's moves (student -> tutor)."""

    groups: Mapping[str, str]  # student -> roster group
    group_tutors: Mapping[str, tuple[str, ...]]
    overrides: Mapping[str, str] = field(default_factory=dict)

    def tutors_of(self, student: str, viewer: Viewer | None = None) -> tuple[str, ...]:
        if student in self.overrides:
            return (self.overrides[student],)
        group = self.groups.get(student, "")
        tutors = tuple(self.group_tutors.get(group, ()))
        if viewer is not None and group and group in viewer.tutor_groups:
            tutors += (viewer.name,)
        return tutors


def viewer_from(model: Mapping, instructors: Iterable[str] = ()) -> Viewer:
    """A :class:`Viewer` from a hub user model (``name``, ``groups``)."""
    groups = {g for g in model.get("groups") or () if isinstance(g, str)}
    name = str(model["name"])
    return Viewer(
        name,
        instructor=name in set(instructors) or INSTRUCTOR_GROUP in groups,
        tutor_groups=frozenset(g[len(TUTOR_GROUP_PREFIX) :] for g in groups if g.startswith(TUTOR_GROUP_PREFIX)),
    )


def may_see(viewer: Viewer, student: str, allocation: Allocation) -> bool:
    return viewer.name == student or viewer.instructor or viewer.name in allocation.tutors_of(student, viewer)


def check_may_see(viewer: Viewer, student: str, allocation: Allocation) -> None:
    if not may_see(viewer, student, allocation):
        raise Forbidden(f"{viewer.name} may not see the results of another student")


def visible_students(viewer: Viewer, students: Iterable[str], allocation: Allocation) -> list[str]:
    """The students whose pages ``viewer`` may open (staff: to choose one)."""
    return sorted(s for s in students if s != viewer.name and may_see(viewer, s, allocation))


def is_staff(viewer: Viewer, students: Iterable[str], allocation: Allocation) -> bool:
    return viewer.instructor or bool(visible_students(viewer, students, allocation))


def check_instructor(viewer: Viewer, action: str) -> None:
    if not viewer.instructor:
        raise Forbidden(f"{action} is for instructors only")
