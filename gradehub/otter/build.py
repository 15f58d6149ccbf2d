"""The two notebooks gradehub makes of an otter assignment: the release and the grading notebook.

The *release* is otter's student notebook, unchanged, with a closing section: one locked,
graded cell ``grader.check("q1")`` per autograded question (nbgrader metadata: grade id = the
question's name, points = otter's points for it). That is where the gradebook, the formgrader,
feedback and reports find the question; students can run it like any check.

The *grading notebook* (``source/<a>/autograder/<name>.ipynb``, never released) is the notebook
otter's autograder runs (the solutions where the master has them) with the same closing
section, whose cells now run the question's test cases, as ``otter run`` does after the whole
notebook has run: the examples' *source* in the kernel (:func:`gradehub.otter.kernel.run_case`),
the expected outputs in a host-check region that never reaches a kernel (see
:mod:`gradehub.checks`). Grading a submission keeps the student's cells and replaces the
closing section with the grading notebook's, so every question is tested at the end, in
order, in one namespace, as otter does.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from ..metadata import BEGIN_HIDDEN, BEGIN_HOST, END_HIDDEN, END_HOST
from .tests import Question

SECTION_ID = "otter-autograded"
RUNNER_NAME = "_gh_otter"
_CHECK = re.compile(r"""grader\.check\(\s*(['"])([^'"]+)\1\s*\)""")
_QUESTION_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$")
SECTION_TEXT = (
    "## Questions checked at the end\n\n"
    "The notebook has no `grader.check` cell for the questions below: gradehub runs their tests, "
    "public and hidden, here, as `otter run` does. Run these cells to check your answers against "
    "the public tests."
)


def _nbgrader(grade_id: str, *, grade: bool, points: float = 0.0) -> dict:
    meta: dict[str, Any] = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": True,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return meta


def question_order(nb: NotebookNode, questions: dict[str, Question]) -> list[str]:
    """The questions in the order the notebook checks them, then any others by name."""
    order: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            for match in _CHECK.finditer(cell.source):
                if match.group(2) in questions and match.group(2) not in order:
                    order.append(match.group(2))
    return order + sorted(q for q in questions if q not in order)


def check_question_name(name: str) -> None:
    if not _QUESTION_NAME.match(name):
        raise ValueError(f"question name {name!r}: gradehub needs letters, digits, '_', '-' or '.'")


def _plain(nb: NotebookNode) -> NotebookNode:
    """A copy without nbgrader metadata, outputs or execution counts."""
    out = copy.deepcopy(nb)
    out.nbformat, out.nbformat_minor = 4, max(5, int(out.get("nbformat_minor", 5)))  # cell ids
    for cell in out.cells:
        cell.metadata.pop("nbgrader", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return out


def _check_cells(nb: NotebookNode, order: list[str]) -> dict[str, int]:
    """question -> index of the first cell that is just ``grader.check("q")`` (where otter checks it)."""
    found: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        match = _CHECK.fullmatch(cell.source.strip())
        if match and match.group(2) in order and match.group(2) not in found:
            found[match.group(2)] = index
    return found


def _graded(nb: NotebookNode, questions: dict[str, Question], order: list[str], source_of) -> NotebookNode:
    """Mark each question's check cell as its graded cell; questions never checked go at the end.

    A cell whose ``otter.tests`` metadata names questions is checked right after it, as otter's
    grading does (``GradingPreprocessor.add_checks``): a check cell is put there.
    """
    at = _check_cells(nb, order)
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        named = (
            (cell.metadata.get("otter") or {}).get("tests") if isinstance(cell.metadata.get("otter"), dict) else None
        )
        for name in named if isinstance(named, list) else []:
            if name in order and name not in at:
                cells.append(nbformat.v4.new_code_cell(f'grader.check("{name}")'))
                at[name] = -1
    nb.cells = cells
    at = _check_cells(nb, order)
    for name, index in at.items():
        cell = nb.cells[index]
        cell.source = source_of(name)
        cell.metadata["nbgrader"] = _nbgrader(name, grade=True, points=questions[name].points)
    rest = [name for name in order if name not in at]
    if rest:
        nb.cells.append(
            nbformat.v4.new_markdown_cell(SECTION_TEXT, metadata={"nbgrader": _nbgrader(SECTION_ID, grade=False)})
        )
        for name in rest:
            nb.cells.append(
                nbformat.v4.new_code_cell(
                    source_of(name), metadata={"nbgrader": _nbgrader(name, grade=True, points=questions[name].points)}
                )
            )
    _ids(nb)
    return nb


def release_notebook(student_nb: NotebookNode, questions: dict[str, Question], order: list[str]) -> NotebookNode:
    """otter's student notebook, each question's ``grader.check`` cell graded (locked, its points)."""
    return _graded(_plain(student_nb), questions, order, lambda name: f'grader.check("{name}")')


def runner_source() -> str:
    """The first lines of a test cell: :mod:`gradehub.otter.kernel`, defined in the kernel.

    Its code travels in the notebook (not as an import), so grading needs nothing in the image
    but :mod:`gradehub.testing`; a changed runner makes ``gradehub release --check`` report the
    grading notebook stale.
    """
    from . import kernel

    code = Path(kernel.__file__).read_text(encoding="utf-8")
    return (
        "# gradehub's otter test runner (gradehub/otter/kernel.py)\n"
        "import types as _gh_types\n"
        f"{RUNNER_NAME} = _gh_types.ModuleType('gradehub_otter_kernel')\n"
        f"exec(compile({code!r}, 'gradehub/otter/kernel.py', 'exec'), {RUNNER_NAME}.__dict__)\n"
        "del _gh_types"
    )


def test_cell_source(question: Question, *, reference_must_pass: bool) -> str:
    """The grading notebook's cell of one question: kernel part, then the host checks."""
    lines = [
        f"# gradehub: the tests of otter question {question.name} (expected outputs stay with the grader)",
        BEGIN_HIDDEN,
        runner_source(),
    ]
    if question.in_kernel is not None:
        lines.append(f"{RUNNER_NAME}.run_in_kernel_test({question.name!r}, {question.in_kernel!r}, globals())")
    else:
        for index, case in enumerate(question.cases):
            examples = [{"source": e.kernel_source, "skip": e.skip} for e in case.examples]
            lines.append(f"{RUNNER_NAME}.run_case({f'{question.name}/{index}'!r}, {examples!r}, globals())")
    lines += [
        BEGIN_HOST,
        "from gradehub.otter.verdict import judge_question",
        f"judge_question({question.to_json()!r}, got, ref, award, reference_must_pass={reference_must_pass!r})",
        END_HOST,
        END_HIDDEN,
    ]
    return "\n".join(lines)


def grading_notebook(
    base_nb: NotebookNode, questions: dict[str, Question], order: list[str], *, has_solution: bool
) -> NotebookNode:
    """The notebook grading runs: ``base_nb`` (solutions, where known), each check cell now running
    the question's tests where the student's notebook checks it, as ``otter run`` does."""
    nb = _plain(base_nb)
    nb.metadata.get("otter", {}).pop("tests", None)  # the hidden tests live in the test cells only
    return _graded(
        nb, questions, order, lambda name: test_cell_source(questions[name], reference_must_pass=has_solution)
    )


def _ids(nb: NotebookNode) -> None:
    """Stable cell ids (so a fresh release compares equal to the committed one)."""
    used: set[str] = set()
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader") or {}
        base = meta.get("grade_id") or f"cell-{index}"
        cid, n = re.sub(r"[^A-Za-z0-9_-]", "-", base)[:60], 1
        while cid in used:
            n += 1
            cid = f"{base}-{n}"
        used.add(cid)
        cell["id"] = cid
