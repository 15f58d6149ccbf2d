"""The one place that writes grades: nbgrader's gradebook plus gradehub's status table.

nbgrader's tables hold scores (so the formgrader, feedback and reports agree); the table
``gradehub_status`` (:mod:`.status`) holds what nbgrader has no place for. Both are written in
one transaction per submission, so a killed run leaves either all of a submission or none.
The only module of :mod:`gradehub.gradebook` that imports nbgrader.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from contextlib import contextmanager
from collections.abc import Iterator

from nbgrader.api import Gradebook, MissingEntry

from ..course import Course, gradebook_url
from .schema import STATUS, create_tables
from .status import StatusRow, replace_status


def ensure_tools_on_path() -> None:
    """Put this interpreter's bin directory on PATH: nbgrader runs ``alembic`` as a subprocess,
    and a virtual environment used without activation lacks it there."""
    bin_dir = os.path.dirname(sys.executable)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


@contextmanager
def open_gradebook(course: Course) -> Iterator[Gradebook]:
    ensure_tools_on_path()
    gb = Gradebook(gradebook_url(course), course_id=course.id)
    try:
        create_tables(gb.engine, STATUS)
        yield gb
    finally:
        gb.close()


def sync_roster(gb: Gradebook, course: Course) -> int:
    """Create or update every roster student in the gradebook; returns how many."""
    students = course.roster()
    for s in students:
        gb.update_or_create_student(s.id, first_name=s.first_name, last_name=s.last_name, email=s.email)
    return len(students)


def sync_assignment_dates(gb: Gradebook, course: Course) -> None:
    for a in course.assignments:
        try:
            assignment = gb.find_assignment(a.id)
        except MissingEntry:
            continue
        due = a.due.astimezone(dt.UTC).replace(tzinfo=None) if a.due else None
        if assignment.duedate != due:
            assignment.duedate = due
    gb.db.commit()


def write_submission(
    gb: Gradebook,
    *,
    assignment: str,
    student: str,
    timestamp: dt.datetime | None,
    scores: dict[str, dict[str, tuple[float | None, bool]]],
    comments: dict[str, dict[str, str | None]],
    status: StatusRow,
    late_penalty: float = 0.0,
    extension: dt.timedelta | None = None,
) -> None:
    """Write one graded submission in a single transaction.

    ``scores[notebook][grade_id] = (auto_score, needs_manual_grade)``;
    ``comments[notebook][grade_id] = auto_comment``.
    """
    session = gb.db
    try:
        try:
            submission = gb.find_submission(assignment, student)
            submission.timestamp = timestamp
        except MissingEntry:
            submission = _new_submission(gb, assignment, student, timestamp)
        submission.extension = extension  # nbgrader's column: how far past the deadline
        by_name = {nb.name: nb for nb in submission.notebooks}
        # nbgrader keeps penalties per notebook; the assignment's penalty goes on the first.
        for i, nb in enumerate(sorted(submission.notebooks, key=lambda n: n.name)):
            nb.late_submission_penalty = late_penalty if (i == 0 and late_penalty) else None
        for nb_name, cell_scores in scores.items():
            nb = by_name.get(nb_name)
            if nb is None:
                continue
            grades = {g.name: g for g in nb.grades}
            for grade_id, (auto_score, needs_manual) in cell_scores.items():
                grade = grades.get(grade_id)
                if grade is None:
                    continue
                grade.auto_score = auto_score
                # A grader's manual score survives regrading, but asks for a second look.
                grade.needs_manual_grade = bool(needs_manual or grade.manual_score is not None)
            nb_comments = {c.name: c for c in nb.comments}
            for grade_id, auto_comment in comments.get(nb_name, {}).items():
                if grade_id in nb_comments:
                    nb_comments[grade_id].auto_comment = auto_comment
        replace_status(session, assignment, student, status)
        session.commit()
    except Exception:
        session.rollback()
        raise


def _new_submission(gb: Gradebook, assignment: str, student: str, timestamp: dt.datetime | None):
    """Like ``Gradebook.add_submission`` but without its intermediate commit."""
    from nbgrader.api import Comment, Grade, SubmittedAssignment, SubmittedNotebook

    with gb.db.no_autoflush:
        submission = SubmittedAssignment(
            assignment=gb.find_assignment(assignment), student=gb.find_student(student), timestamp=timestamp
        )
        for notebook in submission.assignment.notebooks:
            nb = SubmittedNotebook(notebook=notebook, assignment=submission)
            for grade_cell in notebook.grade_cells:
                Grade(cell_id=grade_cell.id, notebook=nb)
            for solution_cell in notebook.solution_cells:
                Comment(cell_id=solution_cell.id, notebook=nb)
            for task_cell in notebook.task_cells:
                Comment(cell_id=task_cell.id, notebook=nb)
                Grade(cell_id=task_cell.id, notebook=nb)
        # Added last: SQLAlchemy 2 cascades into the session only from the parent's collections.
        gb.db.add(submission)
    gb.db.flush()
    return submission
