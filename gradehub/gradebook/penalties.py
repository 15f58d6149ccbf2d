"""Penalties in nbgrader's own columns: the numbers gradehub computes, written where nbgrader shows them.

Penalties are never stored as the truth: reports and feedback recompute them from the
submission time, course.toml's deadline and policy, and the extension in force
(:func:`gradehub.late.late_penalty`). :func:`sync_penalties` writes the same numbers into
``SubmittedNotebook.late_submission_penalty``, ``SubmittedAssignment.extension`` and
``Assignment.duedate`` so that the formgrader and ``nbgrader export`` agree. It runs after
every ``gradehub extend`` and every ``gradehub report``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, func, inspect, select, update
from sqlalchemy.engine import Engine

from ..course import Course
from ..late import as_utc, late_penalty
from .extensions import read_extensions
from .schema import ASSIGNMENT, BASE_CELL, GRADE_CELLS, NOTEBOOK, SUBMITTED_ASSIGNMENT, SUBMITTED_NOTEBOOK


@dataclass(frozen=True)
class PenaltyChange:
    assignment: str
    student: str
    before: float
    after: float


def sync_penalties(course: Course, engine: Engine) -> list[PenaltyChange]:
    """Recompute every submission's penalty from course.toml + extensions; write nbgrader's columns.

    Writes only what differs, in one transaction: ``assignment.duedate`` (course.toml's
    deadline, naive UTC), ``submitted_assignment.extension`` (extension − deadline) and the
    penalty on the submission's first notebook by name (the convention of
    :func:`gradehub.gradebook.write_submission`; the others get none). Returns the
    submissions whose penalty changed. A gradebook without nbgrader's tables is left alone.
    """
    if not inspect(engine).has_table(SUBMITTED_ASSIGNMENT.name):
        return []
    extensions = read_extensions(engine)
    by_id = {a.id: a for a in course.assignments}
    A, N, B, G = ASSIGNMENT, NOTEBOOK, BASE_CELL, GRADE_CELLS
    SA, SN = SUBMITTED_ASSIGNMENT, SUBMITTED_NOTEBOOK
    changes: list[PenaltyChange] = []
    with engine.begin() as conn:
        due_updates = []
        for aid, name, duedate in conn.execute(select(A.c.id, A.c.name, A.c.duedate)):
            a = by_id.get(name)
            if a is None:
                continue
            wanted = as_utc(a.due).replace(tzinfo=None) if a.due else None
            if duedate != wanted:
                due_updates.append({"a_id": aid, "due": wanted})
        if due_updates:
            conn.execute(update(A).where(A.c.id == bindparam("a_id")).values(duedate=bindparam("due")), due_updates)
        max_scores = dict(
            conn.execute(
                select(A.c.name, func.sum(G.c.max_score))
                .select_from(
                    A.join(N, N.c.assignment_id == A.c.id).join(B, B.c.notebook_id == N.c.id).join(G, G.c.id == B.c.id)
                )
                .group_by(A.c.name)
            ).all()
        )
        notebooks: dict[str, list[tuple[str, str, float | None]]] = {}
        for nb_id, sa_id, name, penalty in conn.execute(
            select(SN.c.id, SN.c.assignment_id, N.c.name, SN.c.late_submission_penalty).select_from(
                SN.join(N, N.c.id == SN.c.notebook_id)
            )
        ):
            notebooks.setdefault(sa_id, []).append((name, nb_id, penalty))
        nb_updates, ext_updates = [], []
        for sa_id, aname, student, timestamp, extension in conn.execute(
            select(SA.c.id, A.c.name, SA.c.student_id, SA.c.timestamp, SA.c.extension).select_from(
                SA.join(A, A.c.id == SA.c.assignment_id)
            )
        ):
            a = by_id.get(aname)
            if a is None:
                continue
            ext = extensions.get((aname, student))
            p = late_penalty(
                a.late_policy, a.due, timestamp, float(max_scores.get(aname) or 0.0), ext.until if ext else None
            )
            wanted_ext = (
                (ext.until - as_utc(a.due)) if (ext and ext.until and a.due and ext.until > as_utc(a.due)) else None
            )
            if extension != wanted_ext:
                ext_updates.append({"sa_id": sa_id, "ext": wanted_ext})
            nbs = sorted(notebooks.get(sa_id, []))
            before = sum(x[2] or 0.0 for x in nbs)
            for i, (_, nb_id, stored) in enumerate(nbs):
                wanted_pen = p.points if (i == 0 and p.points) else None
                if stored != wanted_pen:
                    nb_updates.append({"nb_id": nb_id, "pen": wanted_pen})
            if abs(before - p.points) > 1e-9:
                changes.append(PenaltyChange(aname, student, before, p.points))
        if nb_updates:
            conn.execute(
                update(SN).where(SN.c.id == bindparam("nb_id")).values(late_submission_penalty=bindparam("pen")),
                nb_updates,
            )
        if ext_updates:
            conn.execute(
                update(SA).where(SA.c.id == bindparam("sa_id")).values(extension=bindparam("ext")), ext_updates
            )
    return changes
