"""The tutoring state, kept in the gradebook database next to nbgrader's tables.

Scores and comments live where nbgrader keeps them (``grade.manual_score``,
``comment.manual_comment``, ``grade.needs_manual_grade``), so the formgrader, feedback and
``gradehub report`` read the same values. What nbgrader has no place for gets four tables,
defined in :mod:`gradehub.gradebook.schema` like ``gradehub_status``:

``gradehub_tutor_overrides``  student → tutor account, set by the instructor (move, split)
``gradehub_tutor_marks``      who entered the current manual score of an answer, and when
``gradehub_tutor_flags``      a tutor's question to the instructor about one answer
``gradehub_moderation``       a sample of graded answers, their second marker and second mark

This module checks no permissions: :mod:`gradehub.tutoring.api` does, before calling it.
"""

from __future__ import annotations

import datetime as dt
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Iterable, Iterator, Mapping

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ..course import Course
from ..gradebook import (
    MODERATION as _MODERATION,
    TUTOR_FLAGS,
    TUTOR_MARKS,
    TUTOR_OVERRIDES,
    TUTOR_TABLES,
    comments_sql,
    create_tables,
    grades_sql,
    mark_graded,
    open_gradebook,
)
from .permissions import NO_TUTOR, Allocation, Cell

OVERRIDES = TUTOR_OVERRIDES.name
MARKS = TUTOR_MARKS.name
FLAGS = TUTOR_FLAGS.name
MODERATION = _MODERATION.name

_CELLS_SQL = """
SELECT a.name AS assignment, n.name AS notebook, bc.name AS cell, gc.max_score AS max_score,
       CASE WHEN EXISTS (SELECT 1 FROM base_cell b2 JOIN solution_cells sc ON sc.id = b2.id
                         WHERE b2.notebook_id = bc.notebook_id AND b2.name = bc.name)
            THEN 1 ELSE 0 END AS manual
FROM grade_cells gc
JOIN base_cell bc ON bc.id = gc.id
JOIN notebook n ON n.id = bc.notebook_id
JOIN assignment a ON a.id = n.assignment_id
UNION ALL
SELECT a.name, n.name, bc.name, tc.max_score, 1
FROM task_cells tc
JOIN base_cell bc ON bc.id = tc.id
JOIN notebook n ON n.id = bc.notebook_id
JOIN assignment a ON a.id = n.assignment_id
"""

_GRADES_SQL = grades_sql()
_COMMENTS_SQL = comments_sql()


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def ensure_tables(engine: Engine) -> None:
    """Create the tutoring tables if they are missing (idempotent)."""
    create_tables(engine, *TUTOR_TABLES)


Key = tuple[str, str, str, str]  # (assignment, student, notebook, cell)


@dataclass
class Answer:
    """One student's answer to one manually graded cell, with its gradebook state."""

    assignment: str
    student: str
    notebook: str
    cell: str
    max_score: float
    auto_score: float | None
    manual_score: float | None
    needs_manual_grade: bool
    comment: str | None = None
    graded_by: str | None = None
    graded_at: str | None = None
    flag: Flag | None = None

    @property
    def key(self) -> Key:
        return (self.assignment, self.student, self.notebook, self.cell)

    @property
    def graded(self) -> bool:
        return not self.needs_manual_grade

    @property
    def blank(self) -> bool:
        """Scored zero by the autograder because the answer was left as released."""
        return self.graded and self.manual_score is None and self.auto_score is not None

    @property
    def score(self) -> float | None:
        return self.manual_score if self.manual_score is not None else self.auto_score


@dataclass
class Flag:
    assignment: str
    student: str
    notebook: str
    cell: str
    raised_by: str
    message: str
    raised_at: str
    resolved_by: str | None = None
    resolved_at: str | None = None

    @property
    def key(self) -> Key:
        return (self.assignment, self.student, self.notebook, self.cell)

    @property
    def open(self) -> bool:
        return self.resolved_at is None


@dataclass
class ModerationItem:
    assignment: str
    student: str
    notebook: str
    cell: str
    marker: str
    first_marker: str
    first_score: float | None  # the gradebook score when the sample was drawn
    second_score: float | None
    second_comment: str | None
    drawn_by: str
    drawn_at: str
    marked_at: str | None
    current_score: float | None = None  # the gradebook score now
    max_score: float = 0.0

    @property
    def key(self) -> Key:
        return (self.assignment, self.student, self.notebook, self.cell)

    @property
    def marked(self) -> bool:
        return self.second_score is not None

    @property
    def difference(self) -> float | None:
        if self.second_score is None or self.current_score is None:
            return None
        return self.second_score - self.current_score

    @property
    def disagree(self) -> bool:
        return self.difference is not None and abs(self.difference) > 1e-9


@dataclass
class ProgressRow:
    """One tutor × one week: their students' free-response answers, graded or not."""

    tutor: str
    assignment: str
    students: int = 0
    answers: int = 0
    graded: int = 0
    flagged: int = 0
    graded_by_tutor: int = 0  # answers whose current mark this tutor entered
    second_marks_open: int = 0  # moderation items assigned to this tutor, not yet marked
    student_ids: set[str] = field(default_factory=set, repr=False)

    @property
    def to_grade(self) -> int:
        return self.answers - self.graded

    @property
    def share(self) -> float:
        return self.graded / self.answers if self.answers else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "tutor": self.tutor,
            "assignment": self.assignment,
            "students": self.students,
            "answers": self.answers,
            "graded": self.graded,
            "to_grade": self.to_grade,
            "flagged": self.flagged,
            "graded_by_tutor": self.graded_by_tutor,
            "second_marks_open": self.second_marks_open,
        }


class Store:
    """Reads and writes of the tutoring state over one open :class:`nbgrader.api.Gradebook`."""

    def __init__(self, course: Course, gb: Gradebook):
        self.course = course
        self.gb = gb

    def _rows(self, sql: str, params: dict | None = None) -> list[Any]:
        return self.gb.db.execute(text(sql), params or {}).fetchall()

    def _run(self, sql: str, params: dict) -> None:
        self.gb.db.execute(text(sql), params)

    # ------------------------------------------------------------------ cells

    def cells(self, assignment: str | None = None) -> dict[tuple[str, str, str], Cell]:
        """Every graded cell, keyed by (assignment, notebook, cell), in notebook order of names."""
        out = {}
        for r in self._rows(_CELLS_SQL):
            if assignment is None or r.assignment == assignment:
                out[(r.assignment, r.notebook, r.cell)] = Cell(
                    r.assignment, r.notebook, r.cell, float(r.max_score), bool(r.manual)
                )
        return out

    def cell(self, assignment: str, notebook: str, cell: str) -> Cell | None:
        return self.cells(assignment).get((assignment, notebook, cell))

    # ------------------------------------------------------------------ answers

    def answers(
        self,
        assignment: str | None = None,
        *,
        students: Iterable[str] | None = None,
        notebook: str | None = None,
        cell: str | None = None,
        manual_only: bool = True,
    ) -> list[Answer]:
        """Graded cells of submitted assignments (by default only the free-response ones)."""
        cells = self.cells(assignment)
        where, params = [], {}
        if assignment is not None:
            where.append("a.name = :a")
            params["a"] = assignment
        if notebook is not None:
            where.append("n.name = :n")
            params["n"] = notebook
        if cell is not None:
            where.append("bc.name = :c")
            params["c"] = cell
        suffix = (" WHERE " + " AND ".join(where)) if where else ""
        wanted = set(students) if students is not None else None
        comments = {
            (r.assignment, r.student, r.notebook, r.cell): r.manual_comment
            for r in self._rows(_COMMENTS_SQL + suffix, params)
        }
        marks = {
            (r.assignment, r.student, r.notebook, r.cell): (r.tutor, r.graded_at)
            for r in self._rows(f"SELECT assignment, student, notebook, cell, tutor, graded_at FROM {MARKS}")
        }
        flags = {f.key: f for f in self.flags(assignment, open_only=True)}
        out = []
        for r in self._rows(_GRADES_SQL + suffix, params):
            info = cells.get((r.assignment, r.notebook, r.cell))
            if info is None or (manual_only and not info.manual):
                continue
            if wanted is not None and r.student not in wanted:
                continue
            key = (r.assignment, r.student, r.notebook, r.cell)
            by, at = marks.get(key, (None, None))
            out.append(
                Answer(
                    r.assignment,
                    r.student,
                    r.notebook,
                    r.cell,
                    info.max_score,
                    _float(r.auto_score),
                    _float(r.manual_score),
                    bool(r.needs_manual_grade),
                    comments.get(key),
                    by,
                    at,
                    flags.get(key),
                )
            )
        order = {k: i for i, k in enumerate(cells)}
        out.sort(key=lambda a: (a.assignment, order.get((a.assignment, a.notebook, a.cell), 0), a.student))
        return out

    def answer(self, assignment: str, student: str, notebook: str, cell: str) -> Answer | None:
        found = self.answers(assignment, students=[student], notebook=notebook, cell=cell, manual_only=False)
        return found[0] if found else None

    def set_grade(self, key: Key, *, points: float, comment: str | None, by: str) -> None:
        """Write a manual score and comment to nbgrader's tables; record who entered it."""
        assignment, student, notebook, cell = key
        grade = self.gb.find_grade(cell, notebook, assignment, student)
        grade.manual_score = points
        grade.needs_manual_grade = False
        try:
            self.gb.find_comment(cell, notebook, assignment, student).manual_comment = comment
        except MissingEntry:
            pass
        params = dict(zip(("a", "s", "n", "c"), key, strict=True))
        self._run(f"DELETE FROM {MARKS} WHERE assignment = :a AND student = :s AND notebook = :n AND cell = :c", params)
        self._run(
            f"INSERT INTO {MARKS} (assignment, student, notebook, cell, tutor, score, graded_at) "
            "VALUES (:a, :s, :n, :c, :by, :score, :at)",
            {**params, "by": by, "score": points, "at": now()},
        )
        self.gb.db.flush()
        # The submission's status says "needs manual grading" until the last answer is graded.
        open_left = self._rows(
            "SELECT COUNT(*) AS n FROM grade g JOIN submitted_notebook sn ON sn.id = g.notebook_id "
            "JOIN submitted_assignment sa ON sa.id = sn.assignment_id JOIN assignment a ON a.id = sa.assignment_id "
            "WHERE a.name = :a AND sa.student_id = :s AND g.needs_manual_grade = :t",
            {"a": assignment, "s": student, "t": True},
        )[0].n
        if not open_left:
            mark_graded(self.gb.db, assignment, student)

    # ------------------------------------------------------------------ flags

    def flags(self, assignment: str | None = None, *, open_only: bool = True) -> list[Flag]:
        sql = (
            f"SELECT assignment, student, notebook, cell, raised_by, message, raised_at, resolved_by, "
            f"resolved_at FROM {FLAGS}"
        )
        rows = [Flag(*r) for r in self._rows(sql)]
        return sorted(
            (f for f in rows if (assignment is None or f.assignment == assignment) and (f.open or not open_only)),
            key=lambda f: f.raised_at,
        )

    def raise_flag(self, key: Key, *, by: str, message: str) -> None:
        params = dict(zip(("a", "s", "n", "c"), key, strict=True))
        self._run(f"DELETE FROM {FLAGS} WHERE assignment = :a AND student = :s AND notebook = :n AND cell = :c", params)
        self._run(
            f"INSERT INTO {FLAGS} (assignment, student, notebook, cell, raised_by, message, raised_at) "
            "VALUES (:a, :s, :n, :c, :by, :m, :at)",
            {**params, "by": by, "m": message, "at": now()},
        )
        self._set_nbgrader_flag(key)

    def resolve_flag(self, key: Key, *, by: str) -> bool:
        params = dict(zip(("a", "s", "n", "c"), key, strict=True))
        found = self._rows(
            f"SELECT resolved_at FROM {FLAGS} WHERE assignment = :a AND student = :s AND notebook = :n AND cell = :c",
            params,
        )
        if not found or found[0].resolved_at is not None:
            return False
        self._run(
            f"UPDATE {FLAGS} SET resolved_by = :by, resolved_at = :at WHERE assignment = :a "
            "AND student = :s AND notebook = :n AND cell = :c",
            {**params, "by": by, "at": now()},
        )
        self._set_nbgrader_flag(key)
        return True

    def _set_nbgrader_flag(self, key: Key) -> None:
        """nbgrader's own per-notebook flag (the formgrader shows it) follows the open flags."""
        assignment, student, notebook, _ = key
        still_open = self._rows(
            f"SELECT COUNT(*) AS n FROM {FLAGS} WHERE assignment = :a AND student = :s AND notebook = :n "
            "AND resolved_at IS NULL",
            {"a": assignment, "s": student, "n": notebook},
        )[0].n
        try:
            self.gb.find_submission_notebook(notebook, assignment, student).flagged = bool(still_open)
        except MissingEntry:
            pass

    # ------------------------------------------------------------------ allocation

    def overrides(self) -> dict[str, tuple[str, str, str, str]]:
        """student → (tutor, reason, set_by, set_at)."""
        return {
            r.student: (r.tutor, r.reason, r.set_by, r.set_at)
            for r in self._rows(f"SELECT student, tutor, reason, set_by, set_at FROM {OVERRIDES}")
        }

    def set_override(self, student: str, tutor: str, *, reason: str, by: str) -> None:
        self._run(f"DELETE FROM {OVERRIDES} WHERE student = :s", {"s": student})
        self._run(
            f"INSERT INTO {OVERRIDES} (student, tutor, reason, set_by, set_at) VALUES (:s, :t, :r, :by, :at)",
            {"s": student, "t": tutor, "r": reason, "by": by, "at": now()},
        )

    def clear_override(self, student: str) -> bool:
        had = student in self.overrides()
        self._run(f"DELETE FROM {OVERRIDES} WHERE student = :s", {"s": student})
        return had

    def allocation(self, extra_tutors: Mapping[str, Iterable[str]] | None = None) -> Allocation:
        """Roster groups, ``[tutors]`` (plus ``extra_tutors``, e.g. the hub's demo tutor), overrides."""
        roster = self.course.roster() if self.course.roster_path.is_file() else []
        base = Allocation(
            groups={s.id: s.group for s in roster},
            group_tutors=dict(self.course.tutors),
            overrides={s: v[0] for s, v in self.overrides().items()},
        )
        return base.with_group_tutors(extra_tutors) if extra_tutors else base

    # ------------------------------------------------------------------ moderation

    def moderation(self, assignment: str | None = None, *, marker: str | None = None) -> list[ModerationItem]:
        rows = self._rows(
            f"SELECT assignment, student, notebook, cell, marker, first_marker, first_score, "
            f"second_score, second_comment, drawn_by, drawn_at, marked_at FROM {MODERATION}"
        )
        items = [ModerationItem(*r) for r in rows]
        items = [
            i
            for i in items
            if (assignment is None or i.assignment == assignment) and (marker is None or i.marker == marker)
        ]
        if items:
            current = {a.key: a for a in self.answers(assignment)}
            for item in items:
                answer = current.get(item.key)
                if answer is not None:
                    item.current_score, item.max_score = answer.score, answer.max_score
        return sorted(items, key=lambda i: (i.assignment, i.notebook, i.cell, i.student))

    def moderation_item(self, key: Key) -> ModerationItem | None:
        found = [i for i in self.moderation(key[0]) if i.key == key]
        return found[0] if found else None

    def draw_sample(
        self,
        assignment: str,
        n: int,
        *,
        drawn_by: str,
        choose_marker: Callable[[Answer], str | None],
        rng: random.Random,
    ) -> list[ModerationItem]:
        """Draw ``n`` graded answers not sampled before; ``choose_marker`` names each second marker."""
        sampled = {i.key for i in self.moderation(assignment)}
        candidates = [
            a for a in self.answers(assignment) if a.graded and a.manual_score is not None and a.key not in sampled
        ]
        rng.shuffle(candidates)
        drawn: list[Key] = []
        for answer in candidates:
            if len(drawn) == n:
                break
            marker = choose_marker(answer)
            if marker is None:  # nobody but the first marker could second-mark it
                continue
            params = dict(zip(("a", "s", "n", "c"), answer.key, strict=True))
            self._run(
                f"INSERT INTO {MODERATION} (assignment, student, notebook, cell, marker, first_marker, "
                "first_score, drawn_by, drawn_at) VALUES (:a, :s, :n, :c, :m, :f, :fs, :by, :at)",
                {**params, "m": marker, "f": answer.graded_by or "", "fs": answer.score, "by": drawn_by, "at": now()},
            )
            drawn.append(answer.key)
        return [i for i in self.moderation(assignment) if i.key in set(drawn)]

    def set_second_mark(self, key: Key, *, points: float, comment: str | None) -> None:
        params = dict(zip(("a", "s", "n", "c"), key, strict=True))
        self._run(
            f"UPDATE {MODERATION} SET second_score = :p, second_comment = :cm, marked_at = :at "
            "WHERE assignment = :a AND student = :s AND notebook = :n AND cell = :c",
            {**params, "p": points, "cm": comment, "at": now()},
        )

    # ------------------------------------------------------------------ progress

    def progress(
        self, allocation: Allocation, assignment: str | None = None, answers: list[Answer] | None = None
    ) -> list[ProgressRow]:
        """Graded / to grade per tutor and week; students without a tutor under ``(no tutor)``.

        A student whose group has two tutors (and no override) counts for both of them.
        ``answers``: :meth:`answers` of ``assignment`` when the caller has them already.
        """
        rows: dict[tuple[str, str], ProgressRow] = {}
        ids = [a.id for a in self.course.assignments if assignment is None or a.id == assignment]
        for aid in ids:
            for tutor in allocation.tutors:
                rows[(tutor, aid)] = ProgressRow(tutor, aid)
        for answer in self.answers(assignment) if answers is None else answers:
            for tutor in allocation.tutors_of(answer.student) or (NO_TUTOR,):
                row = rows.setdefault((tutor, answer.assignment), ProgressRow(tutor, answer.assignment))
                row.student_ids.add(answer.student)
                row.answers += 1
                row.graded += answer.graded
                row.flagged += answer.flag is not None
            if answer.graded_by and answer.graded:
                row = rows.setdefault(
                    (answer.graded_by, answer.assignment), ProgressRow(answer.graded_by, answer.assignment)
                )
                row.graded_by_tutor += 1
        for item in self.moderation(assignment):
            if not item.marked:
                row = rows.setdefault((item.marker, item.assignment), ProgressRow(item.marker, item.assignment))
                row.second_marks_open += 1
        for row in rows.values():
            row.students = len(row.student_ids)
        order = {aid: i for i, aid in enumerate(a.id for a in self.course.assignments)}
        return sorted(
            rows.values(), key=lambda r: (r.tutor == NO_TUTOR, r.tutor, order.get(r.assignment, 99), r.assignment)
        )

    def commit(self) -> None:
        self.gb.db.commit()

    def rollback(self) -> None:
        self.gb.db.rollback()


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


@contextmanager
def open_store(course: Course) -> Iterator[Store]:
    """The store over the course's gradebook; the caller commits (a failure rolls back)."""
    with open_gradebook(course) as gb:
        ensure_tables(gb.engine)
        store = Store(course, gb)
        try:
            yield store
        except BaseException:
            gb.db.rollback()
            raise
