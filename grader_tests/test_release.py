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
