"""Every correct solution keeps full marks, not only the reference's way of writing it.

Correct alternatives live in ``grader_tests/alternatives/<assignment>.py`` as
``ALTERNATIVES = {task: [code, ...]}``: other draw orders and shapes where a sheet allows them,
loops instead of vectorised code, float32, equivalent algorithms and conventions. Each runs
against its task's tests with the same harness as the wrong answers
(:func:`gradehub.authoring.check_mutants`) and must not lose a point.
"""


import pytest

import sheetprobes
from conftest import REPO
from gradehub.authoring import check_mutants
from gradehub.course import load_course

ALTERNATIVE_DIR = REPO / "grader_tests" / "alternatives"
COURSE = load_course(REPO)


def _alternatives(assignment):
    return sheetprobes.load("alternatives", assignment)


def test_harness_keeps_full_marks_for_a_right_answer_written_differently(toy_course):
    right = {"square": ["def square(x):\n    return x ** 2", "def square(x):\n    return float(x) * float(x)"],
             "add": ["def add(a, b):\n    return sum([a, b])"]}
    results = check_mutants(toy_course, "toy", right)
    assert [(r.task, r.caught, r.lost_points) for r in results] == [
        ("square", False, 0.0), ("square", False, 0.0), ("add", False, 0.0)]


@pytest.mark.slow
# nbgrader sheets (the otter sheet's alternatives are graded in test_otter.py)
@pytest.mark.parametrize("assignment", [a.id for a in COURSE.assignments
                                        if a.format == "nbgrader" and (ALTERNATIVE_DIR / f"{a.id}.py").exists()])
def test_correct_alternatives_keep_full_marks(assignment):
    alternatives = _alternatives(assignment)
    assert alternatives and all(alternatives.values())
    results = sheetprobes.probe(assignment)[1]      # run in one kernel with the sheet's mutants
    assert len(results) == sum(len(v) for v in alternatives.values())
    unfair = [f"{r.task}[{r.index}]: {r.detail}" for r in results if r.caught]
    assert unfair == [], f"correct solutions that lose points: {unfair}"


def test_every_sheet_has_correct_alternatives():
    assert [a.id for a in COURSE.assignments if not (ALTERNATIVE_DIR / f"{a.id}.py").exists()] == []
