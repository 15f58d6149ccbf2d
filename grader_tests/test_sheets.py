"""Every sheet of the course passes `gradehub validate`: lint, full marks, zero for the blank
version, within its time budget."""

import pytest

from conftest import REPO
from gradehub.authoring import validate
from gradehub.course import load_course

COURSE = load_course(REPO)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", [a.id for a in COURSE.assignments])
def test_sheet_validates(assignment):
    if COURSE.assignment(assignment).format == "otter":
        from gradehub.otter.release import validate_otter

        report = validate_otter(COURSE, assignment)  # otter's assign step, then the same runs
    else:
        report = validate(COURSE, assignment)
    assert report.ok, "\n".join(report.lines())


def test_every_assignment_has_a_source_and_a_release():
    for a in COURSE.assignments:
        assert (COURSE.source_dir(a.id) / f"{a.id}.ipynb").is_file(), a.id
        assert (COURSE.release_dir(a.id) / f"{a.id}.ipynb").is_file(), a.id
