"""Every autograded task of every sheet must fail for plausible wrong implementations.

Wrong answers live in ``grader_tests/mutants/<assignment>.py`` as ``MUTANTS = {task: [code, ...]}``
(at least two per task). All of a sheet's mutants run in one kernel, together with its correct
alternatives (``sheetprobes.probe``): see ``gradehub.authoring.check_mutants``.
"""


import pytest

import sheetprobes
from conftest import REPO
from gradehub.authoring import _tasks, check_mutants
from gradehub.course import load_course
from gradehub.sanitize import nbgrader_meta

MUTANT_DIR = REPO / "grader_tests" / "mutants"
COURSE = load_course(REPO)


def _mutants(assignment):
    return sheetprobes.load("mutants", assignment)


def test_harness_catches_wrong_toy_answers_and_not_right_ones(toy_course):
    results = check_mutants(toy_course, "toy", _mutants("toy"))
    assert [(r.task, r.caught, r.lost_points) for r in results] == [
        ("square", True, 2.0), ("square", True, 2.0), ("add", True, 1.0)]
    right = check_mutants(toy_course, "toy", {"square": ["def square(x):\n    return x ** 2"]})
    assert [r.caught for r in right] == [False]


@pytest.mark.slow
# nbgrader sheets (the otter sheet's mutants are graded in test_otter.py)
@pytest.mark.parametrize("assignment", [a.id for a in COURSE.assignments
                                        if a.format == "nbgrader" and (MUTANT_DIR / f"{a.id}.py").exists()])
def test_every_task_has_two_wrong_answers_that_lose_points(assignment):
    import nbformat
    mutants = _mutants(assignment)
    source = nbformat.read(COURSE.source_dir(assignment) / f"{assignment}.ipynb", as_version=4)
    tasks = [nbgrader_meta(source.cells[a])["grade_id"] for a, _, _ in _tasks(source)]
    assert sorted(tasks) == sorted(mutants), "every autograded task needs wrong answers"
    assert all(len(codes) >= 2 for codes in mutants.values())
    missed = [f"{r.task}[{r.index}]" for r in sheetprobes.probe(assignment)[0] if not r.caught]
    assert missed == [], f"wrong answers that pass every test: {missed}"


def test_every_sheet_has_a_mutant_file():
    assert [a.id for a in COURSE.assignments if not (MUTANT_DIR / f"{a.id}.py").exists()] == []
