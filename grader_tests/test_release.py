"""release/ is generated, and --check catches a stale one."""

import json

import nbformat
import pytest

from conftest import REPO, cell_by_id
from gradehub.course import load_course
from gradehub.release import check_release


def test_fresh_release_is_up_to_date(toy_course):
    assert check_release(toy_course, "toy").differences == []


def test_changed_source_makes_release_stale(toy_course):
    path = toy_course.source_dir("toy") / "toy.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell_by_id(nb, "intro").source = "# A new introduction"
    nbformat.write(nb, path)
    report = check_release(toy_course, "toy")
    assert report.stale and report.differences == ["release/toy/toy.ipynb differs from a fresh release"]


def test_stray_file_in_release_is_reported(toy_course):
    (toy_course.release_dir("toy") / "notes.txt").write_text("x")
    assert "release/toy/notes.txt should not be there" in check_release(toy_course, "toy").differences


def test_release_hides_solutions_and_hidden_tests(toy_course):
    text = (toy_course.release_dir("toy") / "toy.ipynb").read_text()
    assert "HIDDEN TESTS" not in text and "return x * x" not in text and "Rubric" not in text


@pytest.mark.slow
@pytest.mark.parametrize("assignment", [a.id for a in load_course(REPO).assignments])
def test_committed_releases_are_up_to_date(assignment):
    course = load_course(REPO)
    if course.assignment(assignment).format == "otter":
        from gradehub.otter.release import check_otter_release

        report = check_otter_release(course, assignment)  # otter's assign step, then gradehub's notebooks
    else:
        report = check_release(course, assignment)
    assert report.differences == [], f"run `gradehub release {assignment}` and commit release/"


@pytest.mark.slow
def test_a_stale_otter_release_and_grading_notebook_are_caught(tmp_path):
    """``gradehub release --check`` on an otter assignment compares both folders otter's assign
    step writes: the student's release and the grading notebook (hidden tests) in source/."""
    from otter_sheet import ASSIGNMENT, otter_course

    from gradehub.otter.release import check_otter_release

    course = otter_course(tmp_path / "course")
    assert check_otter_release(course, ASSIGNMENT).differences == []
    (course.release_dir(ASSIGNMENT) / "notes.txt").write_text("x")
    grading = next(course.grading_source_dir(ASSIGNMENT).glob("*.ipynb"))
    nb = nbformat.read(grading, as_version=4)
    nb.cells[0].source += "\n# edited by hand"
    nbformat.write(nb, grading)
    label = grading.parent.relative_to(course.root)
    assert check_otter_release(course, ASSIGNMENT).differences == [
        f"release/{ASSIGNMENT}/notes.txt should not be there",
        f"{label}/{grading.name} differs from a fresh release",
    ]
