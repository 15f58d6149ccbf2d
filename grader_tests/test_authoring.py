"""gradehub validate: lint errors name the notebook and cell; execution checks both versions."""

import nbformat
import pytest

from conftest import cell_by_id, toy_source
from gradehub.authoring import ValidationReport, find_leaks, lint_notebook, validate


def _lint(nb):
    report = ValidationReport("toy")
    lint_notebook(nb, "toy.ipynb", report)
    return [str(p) for p in report.problems]


def test_clean_source_has_no_problems():
    assert _lint(toy_source()) == []


@pytest.mark.parametrize("break_it, words", [
    (lambda nb: setattr(cell_by_id(nb, "square"), "source", "def square(x):\n    ### BEGIN SOLUTION\n    return x*x"),
     "cell `square`: '### BEGIN SOLUTION' is never closed"),
    (lambda nb: setattr(cell_by_id(nb, "square_tests"), "source", "assert_close(square(3), 9)"),
     "cell `square`: autograded answer has no test cell with hidden tests"),
    (lambda nb: cell_by_id(nb, "add_tests").metadata.nbgrader.update(grade_id="square_tests"),
     "grade_id 'square_tests' is also used"),
    (lambda nb: cell_by_id(nb, "add_tests").metadata.nbgrader.update(points=0), "needs points > 0"),
    (lambda nb: nb.cells.append(nbformat.v4.new_code_cell("x = 1")), "code cell without nbgrader metadata"),
    (lambda nb: setattr(cell_by_id(nb, "setup"), "source", "### BEGIN HIDDEN TESTS\nx=1\n### END HIDDEN TESTS"),
     "cell `setup`: hidden-test markers outside a test cell"),
])
def test_lint_errors(break_it, words):
    nb = toy_source()
    break_it(nb)
    problems = _lint(nb)
    assert any(words in p and p.startswith("error: toy.ipynb: cell") for p in problems), problems


def test_leak_into_release_is_found():
    src = toy_source()
    rel = nbformat.from_dict(src)
    cell_by_id(rel, "square_tests").source += "\nassert_close(square(-4.5), 20.25)"
    report = ValidationReport("toy")
    find_leaks(src, rel, "toy.ipynb", report)
    assert any("leaks into the release" in str(p) and "`square_tests`" in str(p) for p in report.problems)


@pytest.mark.slow
def test_validate_passes_the_toy_sheet(toy_course):
    report = validate(toy_course, "toy")
    assert report.ok, report.lines()
    assert any("scores 0 on every autograded test" in i for i in report.info)


@pytest.mark.slow
def test_validate_catches_a_wrong_reference_and_a_test_that_passes_blank(toy_course):
    path = toy_course.source_dir("toy") / "toy.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell_by_id(nb, "square").source = cell_by_id(nb, "square").source.replace("x * x", "x + x")
    cell_by_id(nb, "add_tests").source = "### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS"
    nbformat.write(nb, path)
    lines = "\n".join(validate(toy_course, "toy").lines())
    assert "toy: FAILED" in lines
    assert "cell `square_tests`: reference solution raises GradingError" in lines
    assert "cell `add_tests`: the unanswered student version scores 1 of 1" in lines
