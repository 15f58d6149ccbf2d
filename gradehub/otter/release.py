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

import copy
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..authoring import ValidationReport
from ..course import OTTER_GRADING_DIR, Course, CourseError, gradebook_url
from ..gradebook import open_gradebook, sync_assignment_dates
from ..metadata import kernel_source
from ..release import StaleReport, generate, release_differences
from .assign import OtterAssignment, OtterUnsupported, assign_master, is_otter_master
from .build import grading_notebook, question_order, release_notebook
from .verdict import forgeable_points


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
        result.notes.extend(forgeable_notes(item.questions))
    return result


def forgeable_notes(questions: dict) -> list[str]:
    """One note per question whose points a student could earn with a forged record: public
    cases (their expected output is in the student's notebook) and hidden cases whose expected
    output is guessable (``True``) and not a comparison the host evaluates. They score as otter
    scores them, marked *forgeable*; put the points on hidden cases the host can check."""
    notes = []
    for name, question in questions.items():
        share = forgeable_points(question)
        if share > 0:
            notes.append(
                f"{name}: {share:g} of {question.points:g} point(s) on cases a forged record could pass "
                "(public, or hidden with a guessable output such as True that is no comparison the host evaluates)"
            )
    return notes


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
            label = str(committed_dir.relative_to(course.root))
            report.differences += release_differences(fresh_dir, committed_dir, label)
    return report


def validate_otter(course: Course, assignment: str, execute: bool = True) -> ValidationReport:
    """``gradehub validate`` for an otter assignment: otter's assign step on the master, then, in
    a kernel (the local sandbox), the grading notebook (the solution) must run without an error
    and score full marks, and the unanswered release (sanitized, as grading sees it) zero."""
    report = ValidationReport(assignment)
    try:
        made = [assign_master(path) for path in masters(course, assignment)]
    except (CourseError, OtterUnsupported) as exc:
        report.add(f"source/{assignment}", "-", str(exc))
        return report
    for item in made:
        report.info.extend(f"{item.name}.ipynb: {note}" for note in [*item.notes, *forgeable_notes(item.questions)])
    if not execute:
        return report
    with tempfile.TemporaryDirectory(prefix="gradehub-otter-validate-") as tmp:
        scratch = Path(tmp)
        write_assignment(course, assignment, made, root=scratch)
        release_dir = scratch / "release" / assignment
        for path in sorted((scratch / "source" / assignment / OTTER_GRADING_DIR).glob("*.ipynb")):
            _check_runs(course, path, release_dir, report)
    return report


def _check_runs(course: Course, grading_path: Path, release_dir: Path, report: ValidationReport) -> None:
    from ..checks import notebook_verdicts
    from ..sandbox.executor import grade_id_statuses, test_records
    from ..sanitize import sanitize

    name, label = grading_path.stem, grading_path.name
    grading = nbformat.read(grading_path, as_version=4)
    release = nbformat.read(release_dir / label, as_version=4)
    timeout = max(course.assignment(report.assignment).time_budget * 3, 60)
    reference = copy.deepcopy(grading)
    for cell in reference.cells:
        if cell.cell_type == "code":
            cell.source = kernel_source(cell.source)
    run = _run_here(course, reference, release_dir, timeout)
    for index, cell in enumerate(run.executed.cells):
        record = run.cells.get(index)
        if cell.cell_type == "code" and record is not None and record.status == "error":
            report.add(label, f"cell #{index}", f"the solution raises {record.error_name or 'an error'}")
    ref = test_records(run)
    verdicts, problems = notebook_verdicts(
        name, grading, run.executed, grade_id_statuses(run), ref, ref, reference_run=True
    )
    for problem in problems:
        report.add(label, "-", problem)
    for v in verdicts:
        if v.points is not None and v.points < v.max_points:
            report.add(label, f"`{v.grade_id}`", f"the solution scores {v.points:g} of {v.max_points:g}")
    clean = sanitize(release_dir / label, grading, release, course.limits.max_notebook_bytes)
    if clean.notebook is None:
        report.add(label, "-", f"the student version cannot be sanitized: {clean.error}")
        return
    blank_run = _run_here(course, clean.notebook, release_dir, timeout)
    blank, _ = notebook_verdicts(
        name, grading, blank_run.executed, grade_id_statuses(blank_run), test_records(blank_run), ref
    )
    for v in blank:
        if v.points:
            report.add(label, f"`{v.grade_id}`", f"the unanswered release scores {v.points:g} of {v.max_points:g}")
    report.info.append(f"{label}: the solution scores full marks, the unanswered release zero" if report.ok else label)


def _run_here(course: Course, nb, data_dir: Path, timeout: float):
    """Trusted author code in the local sandbox, the release beside it (notebook included: otter's
    init cell ``otter.Notebook("x.ipynb")`` reads it), as grading runs a submission."""
    from dataclasses import replace

    from ..sandbox.base import SandboxJob, get_sandbox
    from ..sandbox.executor import execute_notebook

    limits = replace(course.limits, notebook_timeout=timeout, cell_timeout=timeout)
    with tempfile.TemporaryDirectory(prefix="gh-otter-v-", dir="/tmp") as tmp:
        job_dir = Path(tmp)
        shutil.copytree(data_dir, job_dir, dirs_exist_ok=True)
        return execute_notebook(nb, get_sandbox("local"), SandboxJob(job_dir, limits, threads=2, label="validate"))
