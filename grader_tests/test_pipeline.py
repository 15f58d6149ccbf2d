"""The grading pipeline end to end in the local sandbox, on a class of deliberately odd submissions.

One class is graded once per module; each test reads what happened to one student. The
`reference` student is graded alone first, so "everyone else scored exactly as when graded
alone" is checked against a real baseline.
"""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest

from conftest import GOOD, cell_by_id, put_submission, scores_of, solve, student_copy
from gradehub.gradebook import open_gradebook, read_status
from gradehub.grading import autograde

pytestmark = pytest.mark.slow

FULL = {"square_tests": 2.0, "add_tests": 1.0, "explain": None}


def _variant(course, kind):
    nb = solve(student_copy(course), GOOD)
    if kind == "good":
        return nb
    if kind == "wrong_square":
        return solve(nb, {"square": "def square(x):\n    return 2 * x"})
    if kind == "edited_test":
        cell_by_id(nb, "square_tests").source = "pass"
        return solve(nb, {"square": "def square(x):\n    return 0"})
    if kind == "deleted_test":
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "add_tests"]
        return solve(nb, {"add": "def add(a, b):\n    return a - b"})
    if kind == "stripped_test":
        cell = cell_by_id(nb, "square_tests")
        cell.source = "print('no tests here')"
        del cell.metadata["nbgrader"]
        return solve(nb, {"square": "def square(x):\n    return -1"})
    if kind == "duplicate_ids":
        dup = nbformat.from_dict(cell_by_id(nb, "square_tests"))
        dup.source = "square = lambda x: x * x  # sneaky redefinition in a fake test cell"
        nb.cells.insert(1, dup)
        return nb
    if kind == "liar":
        return solve(nb, {"square": (
            "class Anything(float):\n"
            "    def __eq__(self, other): return True\n"
            "    def __float__(self): return 9.0\n"
            "    def __array__(self, *a, **k):\n"
            "        import numpy as np; return np.array(9.0)\n"
            "def square(x):\n    return Anything(0.0)")})
    if kind == "loop":
        return solve(nb, {"square": "def square(x):\n    return x * x\nwhile True:\n    pass"})
    if kind == "stubborn_loop":
        return solve(nb, {"add": "def add(a, b):\n    return a + b\nimport signal, time\n"
                                  "signal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.1)"})
    if kind == "exit":
        return solve(nb, {"add": "import os\nos._exit(3)"})
    if kind == "huge_output":
        return solve(nb, {"add": "def add(a, b):\n    return a + b\nfor i in range(200000):\n    print('x' * 80)"})
    if kind == "memory_bomb":
        return solve(nb, {"add": "blocks = []\nwhile True:\n    blocks.append(b'x' * (128 * 2**20))"})
    if kind == "warns":   # correct, but noisy on stderr while the tests call it
        return solve(nb, {"square": "import warnings\ndef square(x):\n"
                                    "    warnings.warn('precision may be lost')\n    return x * x"})
    if kind == "cheat_transformer":   # blank out every test cell before it runs
        return solve(nb, {"square": "def square(x):\n    return 0\n"
                                    "get_ipython().input_transformers_cleanup.append(\n"
                                    "    lambda lines: ['pass\\n'] if any('assert' in l for l in lines) else lines)"})
    if kind == "cheat_blank_all":     # every later cell becomes `pass`, guards included
        return solve(nb, {"square": "def square(x):\n    return 0\n"
                                    "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])"})
    if kind == "cheat_helpers":       # make the assertion helpers and numpy agree with anything
        return solve(nb, {"square": "def square(x):\n    return 0\n"
                                    "import gradehub.testing, numpy\n"
                                    "gradehub.testing.assert_close = lambda *a, **k: None\n"
                                    "assert_close = lambda *a, **k: None\n"
                                    "numpy.allclose = lambda *a, **k: True"})
    if kind == "cheat_silence":       # swallow exceptions so no error output appears
        return solve(nb, {"square": "def square(x):\n    return 0\n"
                                    "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"})
    raise ValueError(kind)


KINDS = ["good", "wrong_square", "edited_test", "deleted_test", "stripped_test", "duplicate_ids", "liar",
         "loop", "stubborn_loop", "exit", "huge_output", "memory_bomb",
         "warns", "cheat_transformer", "cheat_blank_all", "cheat_helpers", "cheat_silence"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade `reference` alone, then the whole class in parallel; return (course, summaries)."""
    import conftest
    course = conftest.toy_course.__wrapped__(tmp_path_factory.mktemp("pipeline"))
    put_submission(course, "reference", _variant(course, "good"))
    alone = autograde(course, "toy", jobs=1, sandbox="local")
    for kind in KINDS:
        put_submission(course, kind.replace("_", "-"), _variant(course, kind))
    put_submission(course, "broken-json", '{"cells": [')
    put_submission(course, "not-a-notebook", json.dumps({"hello": "world"}))
    (course.submitted_dir() / "bad name..x").mkdir()
    put_submission(course, "too-big", "{" + " " * (2 * 2**20) + "}")
    run = autograde(course, "toy", jobs=2, sandbox="local")
    return course, alone, run


def _result(run, student):
    return next(r for r in run.results if r.student == student)


def test_reference_alone_gets_full_marks(graded):
    course, alone, _ = graded
    assert [r.student for r in alone.results] == ["reference"]
    assert scores_of(course)["reference"] == FULL
    assert _result(alone, "reference").status == "needs_manual"


def test_good_student_in_the_crowd_scores_as_when_alone(graded):
    course, _, run = graded
    assert scores_of(course)["good"] == scores_of(course)["reference"]
    assert not run.platform_failed


def test_a_warning_on_stderr_costs_nothing(graded):
    course, _, _ = graded
    assert scores_of(course)["warns"] == FULL


def test_wrong_answer_loses_only_its_points(graded):
    course, _, _ = graded
    assert scores_of(course)["wrong-square"] == {"square_tests": 0.0, "add_tests": 1.0, "explain": None}


@pytest.mark.parametrize("student, lost", [("edited-test", "square_tests"), ("deleted-test", "add_tests"),
                                           ("stripped-test", "square_tests")])
def test_tampered_test_cells_are_restored_and_scored(graded, student, lost):
    course, _, run = graded
    scores = scores_of(course)[student]
    assert scores[lost] == 0.0
    assert all(v == FULL[k] for k, v in scores.items() if k != lost)
    assert any("restored cell" in n for n in _result(run, student).notes)


def test_duplicate_test_id_does_not_count_twice(graded):
    course, _, run = graded
    assert scores_of(course)["duplicate-ids"] == FULL
    assert any("repeats the id" in n for n in _result(run, "duplicate-ids").notes)


def test_lying_eq_object_scores_zero(graded):
    course, _, _ = graded
    assert scores_of(course)["liar"]["square_tests"] == 0.0
    assert scores_of(course)["liar"]["add_tests"] == 1.0


def test_infinite_loop_is_interrupted_and_the_rest_is_graded(graded):
    course, _, run = graded
    r = _result(run, "loop")
    assert r.status == "failed"
    assert "cell `square` stopped after 4 s (cell time limit); the rest ran" in r.message
    # the loop came after the definition, so the tests still find square() and add()
    assert scores_of(course)["loop"]["square_tests"] == 2.0
    assert scores_of(course)["loop"]["add_tests"] == 1.0


def test_loop_that_ignores_interrupts_is_stopped(graded):
    course, _, run = graded
    r = _result(run, "stubborn-loop")
    assert r.status == "failed"
    assert "cell `add` did not stop when interrupted after 4 s" in r.message
    assert scores_of(course)["stubborn-loop"] == {"square_tests": 2.0, "add_tests": 0.0, "explain": None}


def test_kernel_death_gives_partial_credit_and_a_reason(graded):
    course, _, run = graded
    r = _result(run, "exit")
    assert r.status == "failed"
    assert "kernel died in cell `add`" in r.message and "exit code 3" in r.message
    scores = scores_of(course)["exit"]
    assert scores["square_tests"] == 2.0 and scores["add_tests"] == 0.0


def test_huge_output_is_capped_and_graded(graded):
    course, _, run = graded
    r = _result(run, "huge-output")
    assert scores_of(course)["huge-output"]["add_tests"] == 1.0
    assert any("output was cut" in n for n in r.notes)
    executed = course.autograded_dir("huge-output", "toy") / "toy.ipynb"
    assert executed.stat().st_size < 200 * 2**10


def test_memory_bomb_is_stopped_with_a_readable_status(graded):
    course, _, run = graded
    r = _result(run, "memory-bomb")
    assert r.status == "failed"
    assert "out of memory in cell `add` (limit 384 MiB)" in r.message
    assert scores_of(course)["memory-bomb"]["square_tests"] == 2.0


@pytest.mark.parametrize("student, words", [("broken-json", "not valid JSON"),
                                            ("not-a-notebook", "not a Jupyter notebook"),
                                            ("too-big", "over the limit")])
def test_unreadable_submissions_get_a_clear_status(graded, student, words):
    course, _, run = graded
    r = _result(run, student)
    assert r.status == "invalid" and words in r.message
    assert set(scores_of(course)[student].values()) == {0.0}


def test_odd_directory_names_are_skipped_with_a_reason(graded):
    _, _, run = graded
    assert [s.name for s in run.skipped] == ["bad name..x"]


def test_status_table_has_one_row_per_submission(graded):
    course, _, run = graded
    with open_gradebook(course) as gb:
        status = read_status(gb, "toy")
    graded_students = {r.student for r in run.results} | {"reference"}
    assert {s for (_, s) in status} == graded_students


def test_rerun_is_idempotent_and_force_regrades(graded, tmp_path):
    course, _, _ = graded
    before = scores_of(course)
    again = autograde(course, "toy", jobs=2, sandbox="local")
    assert again.results == [] and again.up_to_date == len(before)
    assert scores_of(course) == before
    # a resubmission is regraded on the next run without --force
    put_submission(course, "wrong-square", _variant(course, "good"),
                   when=__import__("datetime").datetime(2026, 10, 23, 21, 0, tzinfo=__import__("datetime").timezone.utc))
    third = autograde(course, "toy", jobs=2, sandbox="local")
    assert [r.student for r in third.results] == ["wrong-square"]
    assert scores_of(course)["wrong-square"] == FULL
    forced = autograde(course, "toy", jobs=2, sandbox="local", students=["reference"], force=True)
    assert [r.student for r in forced.results] == ["reference"]
    assert scores_of(course)["reference"] == FULL


def test_no_half_written_state_is_left(graded):
    course, _, _ = graded
    assert not (course.state_dir / "tmp").exists() or not any((course.state_dir / "tmp").iterdir())
    for d in course.autograded_dir().iterdir():
        assert (d / "toy" / "gradehub-result.json").is_file()


@pytest.mark.parametrize("student, flag", [
    ("cheat-transformer", "input transformers"),
    ("cheat-blank-all", "cells did not run as written before test `square_tests`"),
    ("cheat-helpers", "gradehub.testing.assert_close"),
    ("cheat-silence", "custom exception handler"),
])
def test_cheats_do_not_pay_and_are_flagged(graded, student, flag):
    course, _, run = graded
    r = _result(run, student)
    assert scores_of(course)[student]["square_tests"] == 0.0
    assert any(flag in f for f in r.flags), r.flags
    from gradehub.gradebook import open_gradebook, read_status
    with open_gradebook(course) as gb:
        assert any(flag in f for f in read_status(gb, "toy")[("toy", student)].flags)


def test_honest_students_are_not_flagged(graded):
    _, _, run = graded
    assert _result(run, "good").flags == [] and _result(run, "wrong-square").flags == []


def test_first_grading_already_counts_an_extension(toy_course):
    """The penalty autograde writes is final without a report run: extensions count from the start."""
    import datetime as dt

    from gradehub.extensions import grant_extension
    due = dt.datetime(2026, 10, 23, 23, 59, tzinfo=dt.timezone.utc)
    late = due + dt.timedelta(days=1, hours=2)             # 2 started days late: 0.5 of the points
    grant_extension(toy_course, "alice", "toy", due + dt.timedelta(days=2), granted_by="prof", reason="ill")
    for student in ("alice", "bob"):
        put_submission(toy_course, student, solve(student_copy(toy_course), GOOD), when=late)
    autograde(toy_course, "toy", jobs=1, sandbox="local")
    with open_gradebook(toy_course) as gb:
        alice, bob = gb.find_submission("toy", "alice"), gb.find_submission("toy", "bob")
        assert alice.late_submission_penalty == 0.0 and alice.extension == dt.timedelta(days=2)
        assert bob.late_submission_penalty == pytest.approx(0.5 * bob.max_score) and bob.extension is None
    result = json.loads((toy_course.autograded_dir("alice", "toy") / "gradehub-result.json").read_text())
    assert "deadline extended to" in result["late_policy"]


def test_grading_works_in_a_process_that_holds_many_descriptors(toy_course):
    """A long-running coordinator (a test session, a hub, a Dask client) can hold descriptors
    numbered past 1024, where select.select() refuses to wait on the worker's pipe."""
    import os

    put_submission(toy_course, "alice", solve(student_copy(toy_course), GOOD))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        summary = autograde(toy_course, "toy", jobs=1, sandbox="local")
    finally:
        for fd in held:
            os.close(fd)
    # graded (the toy's free-response answer waits for a tutor), not a crash of the worker
    assert [(r.student, r.status, r.platform_error) for r in summary.results] == [("alice", "needs_manual", False)]


def test_executing_notebooks_leaves_no_descriptors_behind(toy_course, tmp_path):
    """A grading worker executes a whole class in one process: every notebook must give back its
    kernel client's channels and ZeroMQ contexts (each left ~17 descriptors open before)."""
    import os

    from gradehub.sandbox.base import SandboxJob, get_sandbox
    from gradehub.sandbox.executor import execute_notebook

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])

    def run(i):
        job_dir = tmp_path / f"job{i}"
        job_dir.mkdir()
        execute_notebook(nb, get_sandbox("local"), SandboxJob(job_dir, toy_course.limits, threads=1, label="fd"))
        return len(os.listdir("/proc/self/fd"))

    first = run(0)
    assert [run(i) for i in range(1, 4)] == [first] * 3
