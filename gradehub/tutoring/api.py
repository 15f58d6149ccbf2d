"""Everything a tutor or an instructor can do, as methods that take the actor first.

Each method opens the store, checks the permission (:mod:`.permissions`), does the work and
returns plain data (dicts and lists that serialize to JSON). The HTTP service and the
command line are thin layers over this class; neither checks permissions on its own.
"""

from __future__ import annotations

import random
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Iterator, Mapping

from ..course import Course, is_valid_id, load_course
from ..variants import describe_variants, graded_variants
from .answers import AnswerReader, read_rubric
from .permissions import (
    NO_TUTOR,
    Actor,
    Allocation,
    Cell,
    InvalidInput,
    allocation_for,
    check_comment,
    check_instructor,
    check_points,
    check_progress,
    check_read_answer,
    check_rubric,
    check_second_mark,
    check_staff,
    check_student,
    check_write_grade,
)
from .store import Answer, Key, ModerationItem, Store, open_store

INSTRUCTOR_GROUPS = ("instructors",)
MAX_FLAG = 2000


class NotFound(LookupError):
    """No such assignment, cell, student submission or sample item (HTTP 404)."""


class Grading:
    """The grading workflow of one course root.

    ``instructors``: accounts with the instructor's rights (besides members of the hub groups
    ``instructor_groups``). ``extra_tutors``: group → accounts added to ``course.toml``'s
    ``[tutors]`` (the hub passes its demo tutor this way).
    """

    def __init__(
        self,
        course_root: str | Path,
        *,
        instructors: Iterable[str] = (),
        instructor_groups: Iterable[str] = INSTRUCTOR_GROUPS,
        extra_tutors: Mapping[str, Iterable[str]] | None = None,
    ):
        self.course_root = Path(course_root)
        self.instructors = frozenset(instructors)
        self.instructor_groups = frozenset(instructor_groups)
        self.extra_tutors = {g: tuple(v) for g, v in (extra_tutors or {}).items()}

    # ------------------------------------------------------------------ plumbing

    def course(self) -> Course:
        return load_course(self.course_root)

    def actor(self, model: Mapping[str, Any]) -> Actor:
        """An :class:`Actor` from a hub user model (``name``, ``groups``)."""
        groups = frozenset(g for g in model.get("groups") or () if isinstance(g, str))
        name = str(model["name"])
        return Actor(
            name, instructor=name in self.instructors or bool(groups & self.instructor_groups), hub_groups=groups
        )

    @contextmanager
    def _open(self, actor: Actor, *, write: bool = False) -> Iterator[tuple[Store, Allocation]]:
        course = self.course()
        with open_store(course) as store:
            allocation = allocation_for(actor, store.allocation(self.extra_tutors))
            yield store, allocation
            if write:
                store.commit()

    def _assignment(self, store: Store, assignment: str) -> None:
        if assignment not in {a.id for a in store.course.assignments}:
            raise NotFound(f"unknown assignment {assignment!r}")

    def _cell(self, store: Store, assignment: str, notebook: str, cell: str) -> Cell:
        self._assignment(store, assignment)
        found = store.cell(assignment, notebook, cell)
        if found is None:
            raise NotFound(f"no graded cell {assignment}/{notebook}/{cell}")
        return found

    def _names(self, course: Course) -> dict[str, dict[str, str]]:
        roster = course.roster() if course.roster_path.is_file() else []
        return {s.id: {"name": f"{s.first_name} {s.last_name}".strip() or s.id, "group": s.group} for s in roster}

    def _answer_dict(self, answer: Answer, reader: AnswerReader, names: dict, *, blind: bool = False) -> dict[str, Any]:
        text = reader.answer(answer.assignment, answer.student, answer.notebook, answer.cell)
        info = names.get(answer.student, {"name": answer.student, "group": ""})
        out: dict[str, Any] = {
            "assignment": answer.assignment,
            "student": answer.student,
            "student_name": info["name"],
            "group": info["group"],
            "notebook": answer.notebook,
            "cell": answer.cell,
            "max_score": answer.max_score,
            "answer": text.source,
            "answer_html": text.html,
            "answer_problem": text.problem,
            "cell_type": text.cell_type,
        }
        if not blind:
            out.update(
                {
                    "auto_score": answer.auto_score,
                    "manual_score": answer.manual_score,
                    "score": answer.score,
                    "needs_manual_grade": answer.needs_manual_grade,
                    "graded": answer.graded,
                    "blank": answer.blank,
                    "comment": answer.comment,
                    "graded_by": answer.graded_by,
                    "graded_at": answer.graded_at,
                    # a sheet with per-student data: the student's own parameters, as graded
                    "variant": describe_variants(graded_variants(reader.course, answer.student, answer.assignment)),
                    "flag": None
                    if answer.flag is None
                    else {
                        "message": answer.flag.message,
                        "raised_by": answer.flag.raised_by,
                        "raised_at": answer.flag.raised_at,
                    },
                }
            )
        return out

    def _visible_students(self, actor: Actor, allocation: Allocation) -> set[str] | None:
        """None: everyone (the instructor)."""
        return None if actor.instructor else set(allocation.students_of(actor.name))

    # ------------------------------------------------------------------ who am I

    def me(self, actor: Actor) -> dict[str, Any]:
        with self._open(actor) as (store, allocation):
            second = store.moderation(marker=actor.name)
            check_staff(actor, allocation, second_marker=bool(second))
            return {
                "name": actor.name,
                "instructor": actor.instructor,
                "tutor": allocation.is_tutor(actor.name),
                "students": allocation.students_of(actor.name),
                "assignments": [{"id": a.id, "title": a.title} for a in store.course.assignments],
                "course": {"id": store.course.id, "title": store.course.title},
                "second_marks_open": sum(not i.marked for i in second),
            }

    # ------------------------------------------------------------------ progress

    def progress(self, actor: Actor, assignment: str | None = None, tutor: str | None = None) -> dict[str, Any]:
        """Tutors: their own rows. The instructor: every tutor's rows and a total per week."""
        with self._open(actor) as (store, allocation):
            second = store.moderation(marker=actor.name)
            check_staff(actor, allocation, second_marker=bool(second))
            if assignment is not None:
                self._assignment(store, assignment)
            if tutor is not None:
                check_progress(actor, tutor)
            elif not actor.instructor:
                tutor = actor.name
            answers = store.answers(assignment)
            rows = store.progress(allocation, assignment, answers)
            if tutor is not None:
                rows = [r for r in rows if r.tutor == tutor]
            out: dict[str, Any] = {"rows": [r.as_dict() for r in rows]}
            if actor.instructor and tutor is None:
                totals: dict[str, Counter] = {}
                for a in answers:
                    t = totals.setdefault(a.assignment, Counter())
                    t["answers"] += 1
                    t["graded"] += a.graded
                    t["flagged"] += a.flag is not None
                out["totals"] = [
                    {
                        "assignment": aid,
                        "answers": t["answers"],
                        "graded": t["graded"],
                        "to_grade": t["answers"] - t["graded"],
                        "flagged": t["flagged"],
                    }
                    for aid, t in totals.items()
                ]
            return out

    # ------------------------------------------------------------------ reading answers

    def questions(self, actor: Actor, assignment: str) -> list[dict[str, Any]]:
        """The free-response questions of a week, with the actor's progress on each."""
        with self._open(actor) as (store, allocation):
            check_staff(actor, allocation)
            self._assignment(store, assignment)
            visible = self._visible_students(actor, allocation)
            answers = store.answers(assignment, students=visible)
            out = []
            for (a, nb, name), cell in store.cells(assignment).items():
                if not cell.manual:
                    continue
                mine = [x for x in answers if (x.notebook, x.cell) == (nb, name)]
                out.append(
                    {
                        "assignment": a,
                        "notebook": nb,
                        "cell": name,
                        "max_score": cell.max_score,
                        "answers": len(mine),
                        "graded": sum(x.graded for x in mine),
                        "flagged": sum(x.flag is not None for x in mine),
                    }
                )
            return out

    def students(self, actor: Actor, assignment: str) -> list[dict[str, Any]]:
        """The actor's students who submitted the week, with their grading progress."""
        with self._open(actor) as (store, allocation):
            check_staff(actor, allocation)
            self._assignment(store, assignment)
            visible = self._visible_students(actor, allocation)
            names = self._names(store.course)
            by_student: dict[str, list[Answer]] = {}
            for answer in store.answers(assignment, students=visible):
                by_student.setdefault(answer.student, []).append(answer)
            return [
                {
                    "student": s,
                    "student_name": names.get(s, {}).get("name", s),
                    "group": names.get(s, {}).get("group", ""),
                    "tutors": list(allocation.tutors_of(s)) or [NO_TUTOR],
                    "answers": len(xs),
                    "graded": sum(x.graded for x in xs),
                    "flagged": sum(x.flag is not None for x in xs),
                }
                for s, xs in sorted(by_student.items())
            ]

    def rubric(self, actor: Actor, assignment: str, notebook: str, cell: str) -> dict[str, Any]:
        with self._open(actor) as (store, allocation):
            info = self._cell(store, assignment, notebook, cell)
            second = [
                i for i in store.moderation(assignment, marker=actor.name) if (i.notebook, i.cell) == (notebook, cell)
            ]
            check_rubric(actor, allocation, info, second_marker=bool(second))
            return _rubric_dict(store.course, info)

    def question_answers(
        self, actor: Actor, assignment: str, notebook: str, cell: str, *, todo_only: bool = False
    ) -> dict[str, Any]:
        """All of the actor's students' answers to one question, with the model answer."""
        with self._open(actor) as (store, allocation):
            check_staff(actor, allocation)
            info = self._cell(store, assignment, notebook, cell)
            check_rubric(actor, allocation, info)
            visible = self._visible_students(actor, allocation)
            reader, names = AnswerReader(store.course), self._names(store.course)
            answers = [
                a
                for a in store.answers(assignment, students=visible, notebook=notebook, cell=cell)
                if a.needs_manual_grade or not todo_only
            ]
            out = _rubric_dict(store.course, info)
            out["answers"] = [self._answer_dict(a, reader, names) for a in answers]
            return out

    def student_answers(self, actor: Actor, assignment: str, student: str) -> dict[str, Any]:
        """All free-response answers of one student in one week, each with its model answer."""
        with self._open(actor) as (store, allocation):
            check_staff(actor, allocation)
            check_student(actor, allocation, student)
            self._assignment(store, assignment)
            reader, names = AnswerReader(store.course), self._names(store.course)
            answers = store.answers(assignment, students=[student])
            if not answers:
                raise NotFound(f"no graded submission of {assignment} by {student}")
            cells = store.cells(assignment)
            rubrics = {
                (a.notebook, a.cell): _rubric_dict(store.course, cells[(assignment, a.notebook, a.cell)])
                for a in answers
            }
            items = [{**self._answer_dict(a, reader, names), "rubric": rubrics[(a.notebook, a.cell)]} for a in answers]
            info = names.get(student, {"name": student, "group": ""})
            return {
                "assignment": assignment,
                "student": student,
                "student_name": info["name"],
                "group": info["group"],
                "variant": describe_variants(graded_variants(store.course, student, assignment)),
                "answers": items,
            }

    def get_grade(self, actor: Actor, key: Key) -> dict[str, Any]:
        assignment, student, notebook, cell = key
        with self._open(actor) as (store, allocation):
            check_staff(actor, allocation)
            info = self._cell(store, assignment, notebook, cell)
            check_read_answer(actor, allocation, student, info)
            answer = store.answer(*key)
            if answer is None:
                raise NotFound(f"no graded submission of {assignment} by {student}")
            if not info.manual:  # the instructor reading an autograded cell
                return {
                    "assignment": assignment,
                    "student": student,
                    "notebook": notebook,
                    "cell": cell,
                    "max_score": info.max_score,
                    "auto_score": answer.auto_score,
                    "manual_score": answer.manual_score,
                    "score": answer.score,
                    "needs_manual_grade": answer.needs_manual_grade,
                    "comment": answer.comment,
                }
            return self._answer_dict(answer, AnswerReader(store.course), self._names(store.course))

    # ------------------------------------------------------------------ writing grades

    def set_grade(
        self, actor: Actor, key: Key, *, points: Any = None, comment: Any = None, flag: Any = None
    ) -> dict[str, Any]:
        """Enter points (within the cell's maximum) and a comment; raise or clear a flag.

        ``flag``: a message raises (or updates) a flag for the instructor; ``False`` or ``""``
        clears the open one; ``None`` leaves it as it is. Points may be left out only to flag.
        """
        assignment, student, notebook, cell = key
        with self._open(actor, write=True) as (store, allocation):
            check_staff(actor, allocation)
            info = self._cell(store, assignment, notebook, cell)
            check_write_grade(actor, allocation, student, info)
            answer = store.answer(*key)
            if answer is None:
                raise NotFound(f"no graded submission of {assignment} by {student}")
            comment = check_comment(comment)
            if points is None and flag in (None, False, "") and comment is not None:
                raise InvalidInput("points: required with a comment")
            if points is None and flag is None:
                raise InvalidInput("points: a number is required")
            if points is not None:
                store.set_grade(key, points=check_points(points, info), comment=comment, by=actor.name)
            if isinstance(flag, str) and flag.strip():
                if len(flag) > MAX_FLAG:
                    raise InvalidInput(f"flag: at most {MAX_FLAG} characters")
                store.raise_flag(key, by=actor.name, message=flag.strip())
            elif flag is False or flag == "":
                store.resolve_flag(key, by=actor.name)
            elif flag is not None and not isinstance(flag, str):
                raise InvalidInput("flag: a message, or false to clear it")
        return self.get_grade(actor, key)

    # ------------------------------------------------------------------ instructor: allocation

    def allocation(self, actor: Actor) -> dict[str, Any]:
        check_instructor(actor, "The tutor allocation")
        with self._open(actor) as (store, allocation):
            names = self._names(store.course)
            overrides = store.overrides()
            return {
                "groups": {g: list(t) for g, t in sorted(allocation.group_tutors.items())},
                "tutors": allocation.tutors,
                "students": [
                    {
                        "student": s,
                        "student_name": names.get(s, {}).get("name", s),
                        "group": allocation.groups.get(s, ""),
                        "tutors": list(allocation.tutors_of(s)) or [NO_TUTOR],
                        "override": (
                            {
                                "tutor": overrides[s][0],
                                "reason": overrides[s][1],
                                "set_by": overrides[s][2],
                                "set_at": overrides[s][3],
                            }
                            if s in overrides
                            else None
                        ),
                    }
                    for s in sorted(allocation.groups)
                ],
            }

    def move(self, actor: Actor, student: str, tutor: str | None) -> dict[str, Any]:
        """Give ``student`` to ``tutor`` for every week (``None``: back to their group's tutors)."""
        check_instructor(actor, "Moving a student")
        with self._open(actor, write=True) as (store, allocation):
            if student not in allocation.groups:
                raise NotFound(f"{student} is not in the roster")
            if tutor is None:
                store.clear_override(student)
            else:
                if not is_valid_id(tutor):
                    raise InvalidInput(f"{tutor!r} is not a valid account name")
                store.set_override(student, tutor, reason="moved", by=actor.name)
        with self._open(actor) as (store, allocation):
            return {"student": student, "tutors": list(allocation.tutors_of(student)) or [NO_TUTOR]}

    def split(self, actor: Actor, group: str, tutors: Iterable[str]) -> dict[str, list[str]]:
        """Split a group's students between tutors (alternating in roster order), for every week."""
        check_instructor(actor, "Splitting a group")
        tutors = list(dict.fromkeys(tutors))
        if len(tutors) < 2:
            raise InvalidInput("split: name two different tutors")
        for t in tutors:
            if not is_valid_id(t):
                raise InvalidInput(f"{t!r} is not a valid account name")
        with self._open(actor, write=True) as (store, _allocation):
            members = [s.id for s in store.course.roster() if s.group == group]
            if not members:
                raise NotFound(f"group {group!r} has no students in the roster")
            out: dict[str, list[str]] = {t: [] for t in tutors}
            for i, student in enumerate(members):
                tutor = tutors[i % len(tutors)]
                store.set_override(student, tutor, reason=f"split {group}", by=actor.name)
                out[tutor].append(student)
            return out

    # ------------------------------------------------------------------ flags

    def flags(self, actor: Actor, assignment: str | None = None) -> list[dict[str, Any]]:
        check_instructor(actor, "The list of flags")
        with self._open(actor) as (store, _):
            return [f.__dict__ | {"open": f.open} for f in store.flags(assignment, open_only=True)]

    def resolve_flag(self, actor: Actor, key: Key) -> bool:
        check_instructor(actor, "Resolving a flag")
        with self._open(actor, write=True) as (store, _):
            return store.resolve_flag(key, by=actor.name)

    # ------------------------------------------------------------------ moderation

    def draw_sample(
        self, actor: Actor, assignment: str, n: object, *, marker: str | None = None, seed: int | None = None
    ) -> list[dict[str, Any]]:
        """Draw ``n`` already graded answers for a second marking.

        Each goes to ``marker`` if given, else to the tutor with the fewest items of this draw
        among those who neither entered the first mark nor tutor the student; if there is
        none, to the instructor who draws.
        """
        check_instructor(actor, "Drawing a moderation sample")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise InvalidInput("sample: a positive number of answers is required")
        if marker is not None and not is_valid_id(marker):
            raise InvalidInput(f"{marker!r} is not a valid account name")
        rng = random.Random(seed)  # noqa: S311 - a reproducible sample for moderation, not a secret
        with self._open(actor, write=True) as (store, allocation):
            self._assignment(store, assignment)
            load: Counter = Counter()

            def choose(answer: Answer) -> str | None:
                first = answer.graded_by
                if marker is not None:
                    return None if marker == first else marker
                candidates = [
                    t for t in allocation.tutors if t != first and t not in allocation.tutors_of(answer.student)
                ]
                if not candidates:
                    return actor.name if actor.name != first else None
                fewest = min(load[t] for t in candidates)
                chosen = rng.choice([t for t in candidates if load[t] == fewest])
                load[chosen] += 1
                return chosen

            items = store.draw_sample(assignment, n, drawn_by=actor.name, choose_marker=choose, rng=rng)
            return [self._item_dict(i, blind=False) for i in items]

    def _item_dict(self, item: ModerationItem, *, blind: bool) -> dict[str, Any]:
        out = {
            "assignment": item.assignment,
            "student": item.student,
            "notebook": item.notebook,
            "cell": item.cell,
            "marker": item.marker,
            "max_score": item.max_score,
            "second_score": item.second_score,
            "second_comment": item.second_comment,
            "marked": item.marked,
            "drawn_at": item.drawn_at,
            "marked_at": item.marked_at,
        }
        if not blind:
            out.update(
                {
                    "first_marker": item.first_marker,
                    "first_score": item.first_score,
                    "current_score": item.current_score,
                    "difference": item.difference,
                    "disagree": item.disagree,
                    "drawn_by": item.drawn_by,
                }
            )
        return out

    def moderation(self, actor: Actor, assignment: str | None = None) -> dict[str, Any]:
        """The instructor: every sample item with both marks and where they disagree.
        A second marker: their own items, blind (without the first mark)."""
        with self._open(actor) as (store, allocation):
            if assignment is not None:
                self._assignment(store, assignment)
            if actor.instructor:
                items = store.moderation(assignment)
                return {
                    "items": [self._item_dict(i, blind=False) for i in items],
                    "marked": sum(i.marked for i in items),
                    "disagreements": sum(i.disagree for i in items),
                }
            items = store.moderation(assignment, marker=actor.name)
            check_staff(actor, allocation, second_marker=bool(items))
            return {"items": [self._item_dict(i, blind=True) for i in items]}

    def second_marking(self, actor: Actor, assignment: str | None = None) -> list[dict[str, Any]]:
        """The actor's own sample items with the answer and the rubric, blind."""
        with self._open(actor) as (store, allocation):
            items = store.moderation(assignment, marker=actor.name)
            check_staff(actor, allocation, second_marker=bool(items))
            reader, names = AnswerReader(store.course), self._names(store.course)
            out = []
            for item in items:
                answer = store.answer(*item.key)
                if answer is None:
                    continue
                info = store.cell(item.assignment, item.notebook, item.cell)
                out.append(
                    {
                        **self._item_dict(item, blind=True),
                        **self._answer_dict(answer, reader, names, blind=True),
                        "rubric": _rubric_dict(store.course, info) if info else {},
                    }
                )
            return out

    def set_second_mark(self, actor: Actor, key: Key, *, points: Any, comment: Any = None) -> dict[str, Any]:
        with self._open(actor, write=True) as (store, _):
            item = store.moderation_item(key)
            check_second_mark(actor, item.marker if item else None)
            info = store.cell(key[0], key[2], key[3])
            if info is None:
                raise NotFound("the cell of this sample item no longer exists")
            store.set_second_mark(key, points=check_points(points, info), comment=check_comment(comment))
        with self._open(actor) as (store, _):
            item = store.moderation_item(key)
            if item is None:
                raise NotFound("this sample item no longer exists")
            return self._item_dict(item, blind=not actor.instructor)


def _rubric_dict(course: Course, cell: Cell) -> dict[str, Any]:
    """The question, model answer and rubric of ``cell`` from the source notebook."""
    found = read_rubric(course, cell.assignment, cell.notebook, cell.name)
    out: dict[str, Any] = {
        "assignment": cell.assignment,
        "notebook": cell.notebook,
        "cell": cell.name,
        "max_score": cell.max_score,
    }
    if found is None:
        return out | {
            "question": "",
            "model_answer": "",
            "rubric": "",
            "cell_type": "markdown",
            "question_html": "",
            "rubric_html": "",
            "model_answer_html": '<p class="problem">no model answer in the source notebook</p>',
        }
    return out | found.as_dict()
