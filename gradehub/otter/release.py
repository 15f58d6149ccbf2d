"""``gradehub release`` for an otter assignment: otter's assign step, then gradehub's two notebooks.

``source/<a>/<name>.ipynb`` is the otter master notebook. Releasing it:

1. runs ``otter assign`` (:func:`gradehub.otter.assign.assign_master`);
2. writes ``release/<a>/``: otter's student notebook with the graded closing section, and the
   files otter gives students (data, ``student_files``);
3. writes ``source/<a>/autograder/<name>.ipynb``, the grading notebook (hidden tests; committed
   with the source, never released);
4. registers the assignment in the gradebook with nbgrader's own generate step run on the
   grading notebook in a scratch course root, so the gradebook has one grade cell per question
   with otter's points, exactly as for any sheet.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..course import OTTER_GRADING_DIR, Course, CourseError, gradebook_url
from ..gradebook import open_gradebook, sync_assignment_dates
from ..release import StaleReport, generate
from .assign import OtterAssignment, assign_master, is_otter_master
from .build import grading_notebook, question_order, release_notebook


@dataclass
class OtterRelease:
    assignment: str
    notebooks: list[str] = field(default_factory=list)
    questions: dict[str, float] = field(default_factory=dict)  # question -> points
    notes: list[str] = field(default_factory=list)


def masters(course: Course, assignment: str) -> list[Path]:
    folder = course.source_dir(assignment)
    if not folder.is_dir():
        raise CourseError(f"source/{assignment}/ does not exist")
    found = sorted(p for p in folder.glob("*.ipynb"))
    if not found and (folder / OTTER_GRADING_DIR / "IMPORTED.json").is_file():
        raise CourseError(f"{assignment} was imported from otter's graded form: import it again to change it")
    if not found:
        raise CourseError(f"source/{assignment}/ holds no otter master notebook")
    for path in found:
        if not is_otter_master(json.loads(path.read_text(encoding="utf-8"))):
            raise CourseError(f"source/{assignment}/{path.name} is not an otter master notebook")
    return found


def write_assignment(course: Course, assignment: str, made: list[OtterAssignment], root: Path | None = None) -> None:
    """The release and grading notebooks of ``made`` under ``root`` (default: the course root)."""
    root = root or course.root
    release = root / "release" / assignment
    grading = root / "source" / assignment / OTTER_GRADING_DIR
    shutil.rmtree(release, ignore_errors=True)
    shutil.rmtree(grading, ignore_errors=True)
    release.mkdir(parents=True)
    grading.mkdir(parents=True)
    for item in made:
        order = question_order(item.student, item.questions)
        nbformat.write(release_notebook(item.student, item.questions, order), release / f"{item.name}.ipynb")
        nbformat.write(
            grading_notebook(item.base, item.questions, order, has_solution=item.has_solution),
            grading / f"{item.name}.ipynb",
        )
        for rel, path in item.files.items():
            target = release / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def register(course: Course, assignment: str) -> None:
    """The gradebook learns the assignment's notebooks, grade cells and points (nbgrader's generate)."""
    with tempfile.TemporaryDirectory(prefix="gradehub-otter-release-") as tmp:
        scratch = Path(tmp)
        shutil.copy2(course.root / "nbgrader_config.py", scratch / "nbgrader_config.py")
        target = scratch / "source" / assignment
        target.mkdir(parents=True)
        for path in sorted(course.grading_source_dir(assignment).glob("*.ipynb")):
            # only the graded section: the rest is otter's notebook, which nbgrader need not read
            nb = nbformat.read(path, as_version=4)
            nb.cells = [c for c in nb.cells if "nbgrader" in c.metadata]
            nbformat.write(nb, target / path.name)
        generate(course, assignment, root=scratch, db=gradebook_url(course))
    with open_gradebook(course) as gb:
        sync_assignment_dates(gb, course)


def release_otter(course: Course, assignment: str) -> OtterRelease:
    """``gradehub release`` for an otter assignment (``format = "otter"`` in course.toml)."""
    made = [assign_master(path) for path in masters(course, assignment)]
    write_assignment(course, assignment, made)
    register(course, assignment)
    result = OtterRelease(assignment, [m.name for m in made])
    for item in made:
        result.questions.update({name: q.points for name, q in item.questions.items()})
        result.notes.extend(item.notes)
    return result


def check_otter_release(course: Course, assignment: str) -> StaleReport:
    """Is the committed release (and grading notebook) what a fresh otter assign gives?"""
    report = StaleReport(assignment)
    made = [assign_master(path) for path in masters(course, assignment)]
    with tempfile.TemporaryDirectory(prefix="gradehub-otter-check-") as tmp:
        scratch = Path(tmp)
        write_assignment(course, assignment, made, root=scratch)
        for fresh_dir, committed_dir in (
            (scratch / "release" / assignment, course.release_dir(assignment)),
            (scratch / "source" / assignment / OTTER_GRADING_DIR, course.grading_source_dir(assignment)),
        ):
            fresh = {str(p.relative_to(fresh_dir)): p for p in fresh_dir.rglob("*") if p.is_file()}
            committed = (
                {str(p.relative_to(committed_dir)): p for p in committed_dir.rglob("*") if p.is_file()}
                if committed_dir.is_dir()
                else {}
            )
            label = committed_dir.relative_to(course.root)
            for name in sorted(set(fresh) | set(committed)):
                if name not in committed:
                    report.differences.append(f"{label}/{name} is missing")
                elif name not in fresh:
                    report.differences.append(f"{label}/{name} should not be there")
                elif _canonical(fresh[name]) != _canonical(committed[name]):
                    report.differences.append(f"{label}/{name} differs from a fresh release")
    return report


def _canonical(path: Path) -> bytes:
    if path.suffix == ".ipynb":
        return json.dumps(json.loads(path.read_text(encoding="utf-8")), sort_keys=True).encode()
    return path.read_bytes()
