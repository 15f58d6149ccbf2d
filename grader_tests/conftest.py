"""Shared fixtures: a small course root built in a temp dir, and helpers to submit to it."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from gradehub.authoring import nbgrader_metadata as nbg

REPO = Path(__file__).resolve().parent.parent
# nbgrader shells out to `alembic`; make the venv's bin/ visible even when not activated.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")


def toy_source(legacy: bool = False) -> nbformat.NotebookNode:
    """A two-task sheet that runs in a second: square() (2 points), add() (1), one essay (1).

    Its hidden tests record values and are decided by host checks; ``legacy`` gives the same
    sheet with old-style in-kernel asserts (graded, and reported as unverified).
    """
    if legacy:
        square_tests = ("assert_close(square(3), 9)\n### BEGIN HIDDEN TESTS\n"
                        "assert_close(square(-4.5), 20.25)\nassert_close(square(0), 0)\n### END HIDDEN TESTS")
        add_tests = "assert_equal(add(1, 2), 3)\n### BEGIN HIDDEN TESTS\nassert_equal(add(-7, BASE), 3)\n### END HIDDEN TESTS"
    else:
        square_tests = ("assert_close(square(3), 9)\n### BEGIN HIDDEN TESTS\n"
                        "record('neg', square(-4.5))\nrecord('zero', square(0))\n"
                        "### BEGIN HOST CHECKS\n"
                        "assert_close(got['neg'], ref['neg'], name='square of a negative number')\n"
                        "assert_close(got['zero'], ref['zero'], name='square of zero')\n"
                        "### END HOST CHECKS\n### END HIDDEN TESTS")
        add_tests = ("assert_equal(add(1, 2), 3)\n### BEGIN HIDDEN TESTS\nrecord('sum', add(-7, BASE))\n"
                     "### BEGIN HOST CHECKS\nassert_equal(got['sum'], ref['sum'], name='add with a negative number')\n"
                     "### END HOST CHECKS\n### END HIDDEN TESTS")
    cells = [
        nbformat.v4.new_markdown_cell("# Toy sheet\nSquare and add.", metadata=nbg("intro", locked=True)),
        nbformat.v4.new_code_cell("from gradehub.testing import assert_close, assert_equal, record\nBASE = 10",
                                  metadata=nbg("setup", locked=True)),
        nbformat.v4.new_code_cell('def square(x):\n    """x squared."""\n    ### BEGIN SOLUTION\n'
                                  '    return x * x\n    ### END SOLUTION', metadata=nbg("square", solution=True)),
        nbformat.v4.new_code_cell(square_tests, metadata=nbg("square_tests", grade=True, locked=True, points=2)),
        nbformat.v4.new_code_cell('def add(a, b):\n    """a + b."""\n    ### BEGIN SOLUTION\n'
                                  '    return a + b\n    ### END SOLUTION', metadata=nbg("add", solution=True)),
        nbformat.v4.new_code_cell(add_tests, metadata=nbg("add_tests", grade=True, locked=True, points=1)),
        nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nModel answer: squaring is a product.\n"
                                      "Rubric: 1 point for 'product'.\n### END SOLUTION",
                                      metadata=nbg("explain", grade=True, solution=True, points=1)),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    return nb


TOY_COURSE_TOML = """
[course]
id = "toycourse"
title = "Toy"
roster = "roster.csv"

[limits]
cell_timeout = 4
notebook_timeout = 20
memory = "384MiB"
output_cap = "64KiB"
max_notebook_size = "1MiB"

[late_policy]
grace = "15min"
penalty_per_day = 0.25
cap = 0.5

[[assignment]]
id = "toy"
title = "Toy sheet"
due = "2026-10-23T23:59:00+00:00"
time_budget = 30
"""


@pytest.fixture
def toy_course(tmp_path):
    """A released toy course root with a three-student roster; returns the Course."""
    from gradehub.course import load_course
    from gradehub.release import release

    root = tmp_path / "course"
    (root / "source" / "toy").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "course.toml").write_text(TOY_COURSE_TOML)
    (root / "roster.csv").write_text(
        "id,first_name,last_name,email,group\n"
        "alice,Alice,A,a@x.org,A\nbob,Bob,B,b@x.org,B\ncarol,Carol,C,c@x.org,A\n")
    nbformat.write(toy_source(), root / "source" / "toy" / "toy.ipynb")
    course = load_course(root)
    release(course, "toy")
    return course


def student_copy(course, assignment="toy", name="toy") -> nbformat.NotebookNode:
    return nbformat.read(course.release_dir(assignment) / f"{name}.ipynb", as_version=4)


def cell_by_id(nb, grade_id):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(grade_id)


def solve(nb, answers: dict[str, str]) -> nbformat.NotebookNode:
    for gid, src in answers.items():
        cell_by_id(nb, gid).source = src
    return nb


GOOD = {"square": "def square(x):\n    return x * x", "add": "def add(a, b):\n    return a + b",
        "explain": "It is a product."}


def put_submission(course, student, nb_or_text, assignment="toy", name="toy",
                   when=dt.datetime(2026, 10, 23, 20, 0, tzinfo=dt.timezone.utc)):
    """Write submitted/<student>/<assignment>/<name>.ipynb (+ timestamp.txt) directly."""
    d = course.submitted_dir(student, assignment)
    d.mkdir(parents=True, exist_ok=True)
    target = d / f"{name}.ipynb"
    if isinstance(nb_or_text, (str, bytes)):
        target.write_bytes(nb_or_text if isinstance(nb_or_text, bytes) else nb_or_text.encode())
    else:
        nbformat.write(nb_or_text, target)
    (d / "timestamp.txt").write_text(when.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    return d


def scores_of(course, assignment="toy"):
    """{student: {grade_id: auto_score}} from the gradebook."""
    from gradehub.gradebook import open_gradebook
    out = {}
    with open_gradebook(course) as gb:
        for sub in gb.assignment_submissions(assignment):
            out[sub.student.id] = {g.name: g.auto_score for nb in sub.notebooks for g in nb.grades}
    return out


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (``CI`` set, as ``.ci/run`` does) a skip is a failure: CI installs the Docker engine,
    the images, the browser and the compose stack, so a test that skips there skipped for a
    reason the run must show, not hide. Locally a skip stays a skip with its message."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {reason}"
