"""Every sheet of the course passes `gradehub validate`: lint, full marks, zero for the blank
version, within its time budget."""

import pytest

from conftest import REPO
from gradehub.authoring import validate
from gradehub.course import load_course

COURSE = load_course(REPO)


@pytest.mark.slow
# nbgrader sheets; the otter sheet's solution and wrong answers are graded in test_otter.py
@pytest.mark.parametrize("assignment", [a.id for a in COURSE.assignments if a.format == "nbgrader"])
def test_sheet_validates(assignment):
    report = validate(COURSE, assignment)
    assert report.ok, "\n".join(report.lines())


def test_every_assignment_has_a_source_and_a_release():
    for a in COURSE.assignments:
        assert (COURSE.source_dir(a.id) / f"{a.id}.ipynb").is_file(), a.id
        assert (COURSE.release_dir(a.id) / f"{a.id}.ipynb").is_file(), a.id
