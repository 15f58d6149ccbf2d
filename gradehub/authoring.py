"""Checks for source notebooks: lint the structure, then execute both versions.

``validate`` answers the author's questions before students see a sheet: are the regions
closed, does every answer have hidden tests, does anything of the solution leak into the
release, does the reference solution get full marks within the time budget, and does the
untouched student version get zero on every autograded test?
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

from .checks import AuthoringError, forgeable_share, notebook_verdicts, run_host_checks
from .course import Course
from .metadata import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    END_HIDDEN,
    END_SOLUTION,
    MarkerError,
    host_checks_of,
    graded_meta,
    is_solution,
    nbgrader_meta,
    strip_host_checks,
)
from .protocol import FORGEABLE, MANUAL, UNVERIFIED
from .release import generate
from .sandbox.base import Outcome, SandboxJob, get_sandbox
from .sandbox.executor import cell_records, execute_notebook, grade_id_statuses, test_records
from .sanitize import sanitize

#: validate fails a sheet on which forged records could earn this share of the autograded points
MAX_FORGEABLE_SHARE = 0.10
_MIN_LEAK_LINE = 12


@dataclass
class Problem:
    notebook: str
    cell: str
    message: str
    level: str = "error"

    def __str__(self) -> str:
        return f"{self.level}: {self.notebook}: cell {self.cell}: {self.message}"


@dataclass
class ValidationReport:
    assignment: str
    problems: list[Problem] = field(default_factory=list)
    info: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.level == "error" for p in self.problems)

    def add(self, notebook: str, cell: str, message: str, level: str = "error") -> None:
        self.problems.append(Problem(notebook, cell, message, level))

    def lines(self) -> list[str]:
        head = f"{self.assignment}: {'ok' if self.ok else 'FAILED'}"
        return [head, *(f"  {i}" for i in self.info), *(f"  {p}" for p in self.problems)]


def nbgrader_metadata(
    grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False, points: float | None = None
) -> dict:
    """A cell's ``metadata`` for an nbgrader source notebook (schema 3), for sheets built in code."""
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _label(cell, index: int) -> str:
    meta = nbgrader_meta(cell)
    return f"`{meta['grade_id']}`" if meta else f"#{index + 1}"


def _regions(source: str, begin: str, end: str) -> tuple[list[str], str | None]:
    """Text inside begin/end markers, or an error when they are unbalanced."""
    inside: list[str] = []
    depth, found = 0, []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(begin):
            if depth:
                return [], f"'{begin}' opened twice without '{end}'"
            depth = 1
            continue
        if stripped.startswith(end):
            if not depth:
                return [], f"'{end}' without '{begin}'"
            depth = 0
            found.append("\n".join(inside))
            inside = []
            continue
        if depth:
            inside.append(line)
    if depth:
        return [], f"'{begin}' is never closed with '{end}'"
    return found, None


def lint_notebook(nb, name: str, report: ValidationReport) -> None:
    seen: dict[str, int] = {}
    pending_answer: str | None = None
    for i, cell in enumerate(nb.cells):
        label = _label(cell, i)
        raw = cell.get("metadata", {}).get("nbgrader")
        meta = nbgrader_meta(cell)
        if raw is not None and meta is None:
            report.add(name, label, "nbgrader metadata without a grade_id")
            continue
        if cell.cell_type == "code" and meta is None:
            report.add(
                name,
                label,
                "code cell without nbgrader metadata: make it read-only, an answer or a test "
                "(a student could edit it and the grader could not restore it)",
            )
        sol_regions, sol_err = _regions(cell.source, BEGIN_SOLUTION, END_SOLUTION)
        hid_regions, hid_err = _regions(cell.source, BEGIN_HIDDEN, END_HIDDEN)
        for err in (sol_err, hid_err):
            if err:
                report.add(name, label, err)
        if meta is None:
            if sol_regions or hid_regions:
                report.add(name, label, "solution or hidden-test markers in a cell without nbgrader metadata")
            continue
        gid = meta["grade_id"]
        if gid in seen:
            report.add(name, label, f"grade_id {gid!r} is also used by cell #{seen[gid] + 1}")
        seen[gid] = i
        if not re.fullmatch(r"[A-Za-z0-9_-]+", gid):
            report.add(name, label, "grade_id may hold only letters, digits, '-' and '_'")
        if meta.get("grade"):
            points = meta.get("points")
            if not isinstance(points, (int, float)) or isinstance(points, bool) or points <= 0:
                report.add(name, label, f"graded cell needs points > 0 (has {points!r})")
        if sol_regions and not meta.get("solution"):
            report.add(name, label, "solution markers in a cell that is not a solution cell")
        if hid_regions and not (meta.get("grade") and not meta.get("solution")):
            report.add(name, label, "hidden-test markers outside a test cell")
        if is_solution(cell) and not sol_regions and cell.cell_type == "code":
            report.add(
                name,
                label,
                "answer cell has no '### BEGIN SOLUTION' region; the whole cell would be replaced",
                level="warning",
            )
        autograded_answer = is_solution(cell) and not meta.get("grade") and cell.cell_type == "code"
        is_test = meta.get("grade") and not meta.get("solution") and cell.cell_type == "code"
        if autograded_answer:
            if pending_answer:
                report.add(name, f"`{pending_answer}`", "autograded answer has no test cell with hidden tests")
            pending_answer = gid
        elif is_test and hid_regions:
            pending_answer = None
    if pending_answer:
        report.add(name, f"`{pending_answer}`", "autograded answer has no test cell with hidden tests")
    if not any((m := nbgrader_meta(c)) and m.get("grade") for c in nb.cells):
        report.add(name, "-", "notebook has no graded cell")


def find_leaks(source, release, name: str, report: ValidationReport) -> None:
    """Report any line from a solution or hidden-test region that appears in the release."""
    public: set[str] = set()
    secret: dict[str, str] = {}
    for i, cell in enumerate(source.cells):
        sol, _ = _regions(cell.source, BEGIN_SOLUTION, END_SOLUTION)
        hid, _ = _regions(cell.source, BEGIN_HIDDEN, END_HIDDEN)
        hidden_lines = {ln.strip() for region in sol + hid for ln in region.splitlines()}
        # Lines outside every region are public, even when a hidden test repeats one of them
        # (a visible check and a hidden one may both call `model.eval()`).
        depth = 0
        for ln in cell.source.splitlines():
            marker = ln.strip()
            if marker in (BEGIN_SOLUTION, BEGIN_HIDDEN):
                depth += 1
            elif marker in (END_SOLUTION, END_HIDDEN):
                depth = max(0, depth - 1)
            elif depth == 0:
                public.add(marker)
        for ln in hidden_lines:
            secret.setdefault(ln, _label(cell, i))
    release_text = "\n".join(c.source for c in release.cells)
    release_lines = {ln.strip() for ln in release_text.splitlines()}
    for line, where in secret.items():
        if len(line) >= _MIN_LEAK_LINE and line not in public and line in release_lines:
            report.add(name, where, f"solution or hidden test leaks into the release: {line[:60]!r}")


def kernel_copy(source):
    """The source notebook as a kernel may run it: outputs cleared, host checks removed."""
    nb = nbformat.from_dict(source)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return strip_host_checks(nb)


def _run(nb, course: Course, timeout: float, data_dir: Path):
    """Execute trusted author code in the local sandbox, with the sheet's data files beside it."""
    limits = replace(course.limits, notebook_timeout=timeout, cell_timeout=timeout)
    job_dir = Path(tempfile.mkdtemp(prefix="gh-v-", dir="/tmp"))
    try:
        for f in data_dir.rglob("*"):
            if f.is_file() and f.suffix != ".ipynb" and ".ipynb_checkpoints" not in f.parts:
                target = job_dir / f.relative_to(data_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, target)
        return execute_notebook(nb, get_sandbox("local"), SandboxJob(job_dir, limits, threads=2, label="validate"))
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)


def validate(course: Course, assignment: str, execute: bool = True) -> ValidationReport:
    report = ValidationReport(assignment)
    a = course.assignment(assignment)
    source_dir = course.source_dir(assignment)
    notebooks = sorted(source_dir.glob("*.ipynb")) if source_dir.is_dir() else []
    if not notebooks:
        report.add(f"source/{assignment}", "-", "no source notebook")
        return report
    sources = {}
    for path in notebooks:
        try:
            sources[path.stem] = nbformat.read(path, as_version=4)
        except Exception as exc:  # noqa: BLE001 - any parse problem is the author's to fix
            report.add(path.name, "-", f"cannot read notebook: {exc}")
    for name, nb in sources.items():
        lint_notebook(nb, f"{name}.ipynb", report)
    if not report.ok:
        return report

    with tempfile.TemporaryDirectory(prefix="gradehub-validate-") as tmp:
        root = Path(tmp)
        shutil.copy2(course.root / "nbgrader_config.py", root / "nbgrader_config.py")
        shutil.copytree(source_dir, root / "source" / assignment)
        try:
            generate(course, assignment, root=root, db=f"sqlite:///{root / 'gradebook.db'}")
        except Exception as exc:  # noqa: BLE001
            report.add(f"source/{assignment}", "-", f"nbgrader cannot generate the release: {exc}")
            return report
        releases = {n: nbformat.read(root / "release" / assignment / f"{n}.ipynb", as_version=4) for n in sources}
        for name in sources:
            find_leaks(sources[name], releases[name], f"{name}.ipynb", report)
        if not execute or not report.ok:
            return report
        budget = a.time_budget
        for name, source in sources.items():
            label = f"{name}.ipynb"
            try:
                host_checks_of(source)
            except MarkerError as exc:
                report.add(label, "-", str(exc))
                continue
            started = time.monotonic()
            run = _run(kernel_copy(source), course, timeout=max(budget * 3, 60), data_dir=source_dir)
            elapsed = time.monotonic() - started
            report.info.append(f"{label}: reference solution ran in {elapsed:.1f} s (budget {budget:g} s)")
            if run.outcome is not Outcome.COMPLETED:
                report.add(label, run.failed_cell or "-", f"reference solution did not complete: {run.message}")
            for i, cell in enumerate(run.executed.cells):
                meta = nbgrader_meta(cell)
                rec = run.cells.get(i)
                status = rec.status if rec else None
                if cell.cell_type == "code" and status == "error":
                    err: dict = next((o for o in cell.outputs if o.get("output_type") == "error"), {})
                    report.add(
                        label,
                        _label(cell, i),
                        f"reference solution raises {err.get('ename', 'an error')}: {str(err.get('evalue', ''))[:200]}",
                    )
                elif meta and status == "timeout":
                    report.add(label, _label(cell, i), "reference solution hits the cell time limit")
            ref = test_records(run)
            verdicts, problems = notebook_verdicts(
                name, source, run.executed, grade_id_statuses(run), ref, ref, reference_run=True
            )
            for problem in problems:
                report.add(label, "-", problem)
            for v in verdicts:
                if v.kind != MANUAL and v.points is not None and v.points < v.max_points:
                    report.add(
                        label,
                        f"`{v.grade_id}`",
                        f"reference solution scores {v.points:g} of {v.max_points:g}"
                        + (f": {v.reason}" if v.reason else ""),
                    )
            # The budget is for an idle machine; on a loaded one (CI, several engineers) the kernel
            # gets a share of the cores, so the wall time is compared with the budget scaled by it.
            load = os.getloadavg()[0] / (os.cpu_count() or 1)
            allowed = budget * max(1.0, load)
            if load > 1.0:
                report.info.append(f"{label}: machine load {load:.1f} per core; budget scaled to {allowed:.0f} s")
            if elapsed > allowed:
                report.add(
                    label,
                    "-",
                    f"reference solution takes {elapsed:.1f} s, over the budget of {budget:g} s"
                    + (f" (scaled to {allowed:.0f} s for a load of {load:.1f} per core)" if load > 1 else ""),
                )
            share = forgeable_share(verdicts)
            unverified = [v.grade_id for v in verdicts if v.kind == UNVERIFIED]
            forgeable = [v.grade_id for v in verdicts if v.kind == FORGEABLE]
            report.info.append(
                f"{label}: a forged record could earn {share:.0%} of the autograded points"
                + (f" (unverified: {', '.join(unverified)})" if unverified else "")
                + (f" (forgeable: {', '.join(forgeable)})" if forgeable else "")
            )
            if share >= MAX_FORGEABLE_SHARE:
                report.add(
                    label,
                    "-",
                    f"a forged record could earn {share:.0%} of the autograded points "
                    f"(at most {MAX_FORGEABLE_SHARE:.0%}): add verified host checks (docs/authoring.md)",
                )

            rel_path = root / "release" / assignment / f"{name}.ipynb"
            clean = sanitize(rel_path, source, releases[name], course.limits.max_notebook_bytes)
            if not clean.ok:
                report.add(label, "-", f"student version cannot be sanitized: {clean.error}")
                continue
            run = _run(clean.notebook, course, timeout=max(budget * 3, 60), data_dir=root / "release" / assignment)
            blank, _ = notebook_verdicts(name, source, run.executed, grade_id_statuses(run), test_records(run), ref)
            for v in blank:
                if v.kind != MANUAL and v.points:
                    report.add(
                        label,
                        f"`{v.grade_id}`",
                        f"the unanswered student version scores {v.points:g} "
                        f"of {v.max_points:g}; its tests pass without an answer",
                    )
            for i, cell in enumerate(run.executed.cells):
                meta = nbgrader_meta(cell)
                rec = run.cells.get(i)
                if meta and not meta.get("grade") and not meta.get("solution") and rec and rec.status == "error":
                    report.add(
                        label,
                        _label(cell, i),
                        "a read-only cell fails in the student version (plots and setup must survive unanswered tasks)",
                    )
            report.info.append(
                f"{label}: student version scores 0 on every autograded test"
                if report.ok
                else f"{label}: student version checked"
            )
    return report


# ----------------------------------------------------------------------------- wrong answers


@dataclass
class MutantResult:
    task: str
    index: int
    caught: bool  # at least one test cell of the task failed
    lost_points: float  # points the wrong answer loses
    detail: str = ""


def _tasks(nb) -> list[tuple[int, int, list[int]]]:
    """(answer index, last index of its block, test cell indices) per autograded answer."""
    answers = [
        i
        for i, c in enumerate(nb.cells)
        if is_solution(c) and c.cell_type == "code" and not graded_meta(c).get("grade")
    ]
    out = []
    for k, start in enumerate(answers):
        stop = answers[k + 1] if k + 1 < len(answers) else len(nb.cells)
        tests = [
            i
            for i in range(start + 1, stop)
            if (m := nbgrader_meta(nb.cells[i]))
            and m.get("grade")
            and not m.get("solution")
            and nb.cells[i].cell_type == "code"
        ]
        if tests:
            out.append((start, tests[-1], tests))
    return out


def check_mutants(
    course: Course, assignment: str, mutants: dict[str, list[str]], notebook: str | None = None
) -> list[MutantResult]:
    """Run every replacement of a task's answer against the task's tests, in one kernel per sheet.

    After the reference block of a task (answer, the cells up to its last test), each
    replacement is run, then the block's test cells again; the reference block then runs once
    more, so later tasks see correct earlier answers. The verdicts are decided on the host, as
    in grading: the replacement's records against the reference's records of the same run. A
    replacement is *caught* when a test cell fails: wrong answers (grader_tests/mutants) must
    be, correct alternatives (grader_tests/alternatives) must not.
    """
    name = notebook or assignment
    source = nbformat.read(course.source_dir(assignment) / f"{name}.ipynb", as_version=4)
    host = host_checks_of(source)
    tasks = {graded_meta(source.cells[a])["grade_id"]: (a, last, tests) for a, last, tests in _tasks(source)}
    unknown = sorted(set(mutants) - set(tasks))
    if unknown:
        raise ValueError(f"no autograded answer with id {', '.join(unknown)} in {name}.ipynb")
    kernel = kernel_copy(source)
    cells: list = []
    # probes: (task, mutant index, [(position, source index of its test)])
    probes: list[tuple[str, int, list[tuple[int, int]]]] = []
    by_end = {last: gid for gid, (_, last, _) in tasks.items()}
    reference_positions: dict[int, int] = {}

    def plain_copy(j: int):
        copy = nbformat.v4.new_code_cell(kernel.cells[j].source)  # a fresh cell id, no metadata
        return copy

    for i, cell in enumerate(kernel.cells):
        reference_positions[i] = len(cells)
        cells.append(nbformat.from_dict(cell))
        gid = by_end.get(i)
        if gid is None or gid not in mutants:
            continue
        answer, last, tests = tasks[gid]
        block = list(range(answer + 1, last + 1))
        for k, code in enumerate(mutants[gid]):
            cells.append(nbformat.v4.new_code_cell(code))
            positions = []
            for j in block:
                if j in tests:
                    positions.append((len(cells), j))
                cells.append(plain_copy(j))
            probes.append((gid, k, positions))
        for j in [answer, *block]:  # restore the reference for later tasks
            cells.append(plain_copy(j))
    nb = nbformat.v4.new_notebook(cells=cells, metadata=source.metadata)
    budget = course.assignment(assignment).time_budget
    run = _run(nb, course, timeout=max(budget * (2 + len(probes)), 120), data_dir=course.source_dir(assignment))
    results = []
    for gid, k, positions in probes:
        lost, reasons = 0.0, []
        for position, j in positions:
            meta = graded_meta(source.cells[j])
            got = cell_records(run, position)
            checks = host.get(meta["grade_id"])
            if checks is None:  # an old-style test: the kernel's reply decides
                passed = got.status == "ok" and not any(
                    o.get("output_type") == "error" for o in run.executed.cells[position].get("outputs", [])
                )
                reason = "" if passed else f"{got.error_name or got.status}"
            else:
                ref = cell_records(run, reference_positions[j])
                outcome = run_host_checks(checks, got, ref, f"`{meta['grade_id']}`")
                if outcome.authoring_error:
                    raise AuthoringError(f"{name}.ipynb `{meta['grade_id']}`: {outcome.authoring_error}")
                passed, reason = outcome.passed, outcome.reason
            if not passed:
                lost += float(meta.get("points", 0) or 0)
                reasons.append(f"`{meta['grade_id']}`: {reason}")
        results.append(MutantResult(gid, k, bool(reasons), lost, "; ".join(reasons)[:300]))
    return results
