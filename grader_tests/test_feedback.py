"""Feedback pages: a real toy class graded in the local sandbox; no hidden-test source reaches any page.

The class includes the ways hidden tests usually leak: a failing hidden test (its traceback
quotes the hidden line), a student function that raises with the test cell's source as its
message (``In[-1]``) inside a *visible* test, and one that prints the cell's source and its
``repr`` while the hidden tests run.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from conftest import GOOD, put_submission, solve, student_copy

HIDDEN = ["record('neg', square(-4.5))", "record('zero', square(0))", "record('sum', add(-7, BASE))",
          "assert_close(got['neg'], ref['neg']", "assert_equal(got['sum'], ref['sum']"]
TOKENS = ["-4.5", "-7, BASE", "square(0)", "HIDDEN TESTS", "HOST CHECKS", "ref["]
DUE = dt.datetime(2026, 10, 23, 23, 59, tzinfo=dt.timezone.utc)

LEAKY_SQUARE = ("def square(x):\n"
                "    raise ValueError('the test was: ' + get_ipython().user_ns['In'][-1])")
SNOOPING_ADD = ("def add(a, b):\n"
                "    src = get_ipython().user_ns['In'][-1]\n"
                "    print(src)\n"
                "    print(repr(src))\n"
                "    print(src[-40:])\n"
                "    return a + b")


def _norm(text: str) -> str:
    text = re.sub(r"\\[nrt]", "", text)
    return re.sub(r"[\s'\"`\\]", "", text)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    import conftest
    from gradehub.gradebook import open_gradebook
    from gradehub.grading import autograde

    course = conftest.toy_course.__wrapped__(tmp_path_factory.mktemp("feedback"))
    on_time = DUE - dt.timedelta(hours=3)
    put_submission(course, "good", solve(student_copy(course), GOOD), when=on_time)
    put_submission(course, "negsquare", solve(student_copy(course), {
        **GOOD, "square": "def square(x):\n    return abs(x) * x"}), when=on_time)
    put_submission(course, "leaky", solve(student_copy(course), {
        **GOOD, "square": LEAKY_SQUARE, "add": SNOOPING_ADD}), when=on_time)
    put_submission(course, "crash", solve(student_copy(course), {**GOOD, "add": "import os\nos._exit(3)"}),
                   when=on_time)
    put_submission(course, "broken", '{"cells": [', when=on_time)
    put_submission(course, "late", solve(student_copy(course), GOOD), when=DUE + dt.timedelta(days=1, hours=2))
    autograde(course, "toy", jobs=2, sandbox="local")
    with open_gradebook(course) as gb:
        gb.find_comment("explain", "toy", "toy", "good").manual_comment = "Good: 'product' is the key word."
        grade = gb.find_grade("explain", "toy", "toy", "good")
        grade.manual_score, grade.needs_manual_grade = 1.0, False
        gb.db.commit()
    from gradehub.feedback import generate_feedback
    run = generate_feedback(course, "toy")
    return course, run


def _page(course, student) -> str:
    return (course.root / "feedback" / student / "toy" / "toy.html").read_text(encoding="utf-8")


def _visible_text(page: str) -> str:
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


pytestmark = pytest.mark.slow


def test_every_graded_student_gets_a_page(graded):
    course, run = graded
    assert not run.skipped
    assert sorted(p.parts[-3] for p in run.written) == ["broken", "crash", "good", "late", "leaky", "negsquare"]


def test_the_executed_notebooks_do_hold_hidden_source(graded):
    """The attack is real: without redaction, these outputs would leak the hidden tests."""
    course, _ = graded
    executed = (course.autograded_dir("negsquare", "toy") / "toy.ipynb").read_text()
    assert "square(-4.5)" in executed            # the traceback of the failing hidden test
    executed = (course.autograded_dir("leaky", "toy") / "toy.ipynb").read_text()
    assert "add(-7, BASE)" in executed and "BEGIN HIDDEN TESTS" in executed


def test_no_hidden_test_source_reaches_any_feedback_file(graded):
    course, _ = graded
    files = sorted((course.root / "feedback").rglob("*"))
    files = [f for f in files if f.is_file()]
    assert len(files) == 6
    for f in files:
        raw = f.read_text(encoding="utf-8")
        for text in (raw, html.unescape(raw)):
            for token in TOKENS:
                assert token not in text, f"{f}: {token!r}"
            # the expected value of square(-4.5); negsquare's own answer, -20.25, may be shown
            assert not re.search(r"(?<![-\d])20\.25", text), f"{f}: the expected value"
            normalized = _norm(text)
            for line in HIDDEN:
                assert _norm(line) not in normalized, f"{f}: {line!r}"


def test_passing_student_sees_answers_tests_and_comments(graded):
    course, _ = graded
    text = _visible_text(_page(course, "good"))
    assert "4 of 4 points" in text
    assert "return x * x" in text                          # their answer
    assert "assert_close(square(3), 9)" in text            # the visible test
    assert "Tests passed — 2 of 2 points" in text
    assert "Hidden tests are shown only as passed or failed" in text
    assert "Good: 'product' is the key word." in text
    assert "It is a product." in text                      # the written answer


def test_failing_hidden_test_shows_only_passed_failed_and_points(graded):
    course, _ = graded
    text = _visible_text(_page(course, "negsquare"))
    assert "Tests failed — 0 of 2 points" in text
    # the reason is the grader's own words, without the expected value
    assert "square of a negative number: got -20.25, not the expected value" in text
    assert "AssertionError" not in text and "GradingError" not in text


def test_failure_shows_the_grader_s_reason_and_no_kernel_output(graded):
    course, _ = graded
    text = _visible_text(_page(course, "leaky"))
    assert "Tests failed — 0 of 2 points" in text
    assert "the test stopped with a ValueError before it" in text
    assert "the test was: assert_close" not in text   # the kernel's own message is not shown


def test_every_page_forbids_script_by_content_security_policy(graded):
    course, run = graded
    for path in run.written:
        page = path.read_text(encoding="utf-8")
        policy = re.search(r"http-equiv='Content-Security-Policy' content=\"([^\"]+)\"", page).group(1)
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert "<script" not in page.lower()


def test_crash_is_explained_in_plain_words(graded):
    course, _ = graded
    text = _visible_text(_page(course, "crash"))
    assert "What happened when your notebook ran" in text
    assert "ended unexpectedly" in text and "exit code 3" in text
    assert "the cell did not run (the notebook stopped before it)" in text


def test_unreadable_file_is_explained(graded):
    course, _ = graded
    text = _visible_text(_page(course, "broken"))
    assert "We could not read the notebook you submitted" in text and "0 of 4 points" in text


def test_late_penalty_and_policy_are_shown(graded):
    course, _ = graded
    text = _visible_text(_page(course, "late"))
    assert "late penalty 2 points" in text                  # 2 started days × 25% of 4, capped at 50%
    assert "25% per started day after 15 min grace, at most 50%" in text
    assert "late by 26 hours" in text


# ----------------------------------------------------------------------------- the redactor alone (fast)


@pytest.mark.parametrize("output", [
    "assert_close(square(-4.5), 20.25)",
    "    assert_close(square(-4.5), 20.25)  # quoted in a traceback",
    "\x1b[32m----> 3\x1b[39m assert_close(square(\x1b[32m-4.5\x1b[39m), 20.25)",
    repr("assert_close(square(3), 9)\n### BEGIN HIDDEN TESTS\nassert_close(square(-4.5), 20.25)\n"),
    "(-7, BASE), 3)",                  # a fragment of a hidden line
    "### END HIDDEN TESTS",
])
def test_redactor_removes_hidden_lines_fragments_and_reprs(output):
    from gradehub.feedback import Redactor
    r = Redactor([["assert_close(square(-4.5), 20.25)", "assert_equal(add(-7, BASE), 3)"]],
                 public_text="assert_close(square(3), 9)")
    assert r.clean(output).strip() == ""


def test_redactor_keeps_ordinary_output_and_public_lines():
    from gradehub.feedback import Redactor
    r = Redactor([["import numpy as np", "assert_close(square(-4.5), 20.25)"]],
                 public_text="import numpy as np\nassert_close(square(3), 9)")
    assert r.clean("tau_hat = 2.2545 us\nimport numpy as np") == "tau_hat = 2.2545 us\nimport numpy as np"
    assert r.leaks("<pre>assert_close(square(-4.5), 20.25)</pre>")
    assert not r.leaks("<pre>assert_close(square(3), 9)</pre>")
