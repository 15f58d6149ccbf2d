"""Host checks and recorded values: what crosses from the kernel is plain data, decided on the host.

A record that is not plain data (a lying object, a pickle, a huge array, a NaN where a number
is due) fails that check with the grader's own words, and nothing else; no expected value or
bound appears in a message; a forged record passes only by being the right value.
"""

from __future__ import annotations

import base64
import io
import pickle

import numpy as np
import pytest

from gradehub import protocol, testing
from gradehub.checks import run_host_checks
from gradehub.metadata import kernel_source, split_host_checks
from gradehub.protocol import CellRecords, Recorded, RecordError, decode_value


def _cell(**values) -> CellRecords:
    cell = CellRecords(status="ok")
    for name, value in values.items():
        cell.add(Recorded(name, testing._encode(value, name, 0)))
    return cell


def _npy(arr: np.ndarray, allow_pickle=False) -> dict:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return {"npy": base64.b64encode(buf.getvalue()).decode()}


def _nested(depth: int) -> dict:
    value: object = None
    for _ in range(depth):
        value = {"list": [value]}
    return value


CHECK = "assert_close(got['x'], ref['x'], rtol=1e-9, name='f(2)')\n"


def test_the_right_value_passes_and_a_wrong_one_fails_without_the_expected_value():
    ref = _cell(x=4.123456789)
    assert run_host_checks(CHECK, _cell(x=4.123456789), ref, "t").passed
    bad = run_host_checks(CHECK, _cell(x=5.0), ref, "t")
    assert not bad.passed and "got 5, not the expected value" in bad.reason
    assert "4.12" not in bad.reason


def test_values_survive_the_round_trip_exactly():
    import torch
    value = {"a": [1, 2.5, True, None, "s"], "arr": np.arange(6).reshape(2, 3), "t": torch.tensor([0.5, 1.5]),
             "f32": np.float32(0.1)}
    decoded = decode_value(testing._encode(value, "v", 0))
    assert decoded["a"] == [1, 2.5, True, None, "s"]
    assert decoded["arr"].dtype == np.int64 and decoded["arr"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert decoded["t"].tolist() == [0.5, 1.5] and decoded["f32"] == float(np.float32(0.1))


class LyingFloat(float):
    def __eq__(self, other):
        return True


class Liar:
    def __eq__(self, other):
        return True

    def __float__(self):
        return 4.0


@pytest.mark.parametrize("value", [Liar(), LyingFloat(3.0), np.array([1 + 2j]), object(), {1: 2}])
def test_a_value_that_is_not_plain_data_cannot_be_recorded(value):
    with pytest.raises(testing.GradingError):
        testing._encode(value, "x", 0)


def test_a_record_the_kernel_could_not_encode_fails_only_its_own_check():
    got = CellRecords(status="ok")
    got.add(Recorded.from_message({"name": "x", "error": "print(In[-1]) smuggled here"}))
    got.add(Recorded("y", testing._encode(2.0, "y", 0)))
    ref = _cell(x=1.0, y=2.0)
    outcome = run_host_checks(CHECK, got, ref, "t")
    assert not outcome.passed and "not usable" in outcome.reason and "smuggled" not in outcome.reason
    assert run_host_checks("assert_close(got['y'], ref['y'])", got, ref, "t").passed


@pytest.mark.parametrize("encoded, words", [
    (_npy(np.array([object()], dtype=object), allow_pickle=True), "not a valid .npy without pickle"),
    ({"npy": base64.b64encode(pickle.dumps([1, 2])).decode()}, "not a valid .npy without pickle"),
    ({"npy": "%%% not base64"}, "not a valid .npy without pickle"),
    (_npy(np.array([1 + 1j])), "is not an array of real numbers"),
    (_npy(np.zeros(3, dtype=[("a", "f8")])), "is not an array of real numbers"),
    ({"list": [1.5]}, "not plain data"),                  # a raw JSON number is not how numbers travel
    ({"npy": "AAAA", "extra": 1}, "not plain data"),
    (_nested(12), "nested too deeply"),
    ("x" * 200_000, "too long"),
])
def test_decode_refuses_anything_but_plain_data(encoded, words):
    with pytest.raises(RecordError, match=words):
        decode_value(encoded)


def test_a_huge_array_is_refused(monkeypatch):
    monkeypatch.setattr(protocol, "MAX_ELEMENTS", 1000)
    with pytest.raises(RecordError, match="too large"):
        decode_value(_npy(np.zeros(1001)))


def test_nan_where_a_number_is_due_fails_that_check_and_nothing_else():
    got, ref = _cell(x=float("nan"), y=1.0), _cell(x=2.0, y=1.0)
    outcome = run_host_checks(CHECK, got, ref, "t")
    assert not outcome.passed and "NaN" in outcome.reason
    assert run_host_checks("assert_close(got['y'], ref['y'])", got, ref, "t").passed


def test_an_odd_value_that_breaks_the_check_code_is_a_failure_not_a_crash():
    outcome = run_host_checks("assert_true(got['x'] * 2 > ref['x'], 'too small')", _cell(x="text"), _cell(x=1.0), "t")
    assert not outcome.passed and outcome.authoring_error is None
    assert "could not be checked" in outcome.reason


def test_a_missing_record_names_only_a_builtin_exception():
    got = CellRecords(status="error", error_name=protocol.safe_error_name("NotImplementedError"))
    outcome = run_host_checks(CHECK, got, _cell(x=1.0), "t")
    assert "no value recorded for `x`" in outcome.reason and "NotImplementedError" in outcome.reason
    assert protocol.safe_error_name("aW1wb3J0IG9z") is None and protocol.safe_error_name("Secret_Leak") is None


def test_duplicate_names_fail():
    got = _cell(x=1.0)
    got.add(Recorded("x", testing._encode(1.0, "x", 0)))
    assert not run_host_checks(CHECK, got, _cell(x=1.0), "t").passed


def test_forgeable_checks_are_counted():
    only_forgeable = "with forgeable('a timing'):\n    assert_true(got['t'] < 1.0, 'too slow')\n"
    both = only_forgeable + CHECK
    assert run_host_checks(only_forgeable, _cell(t=0.1), _cell(t=0.1), "t").forgeable
    assert not run_host_checks(both, _cell(t=0.1, x=1.0), _cell(t=0.1, x=1.0), "t").forgeable


def test_messages_never_show_a_bound_or_an_expected_array():
    out = run_host_checks("assert_in_range(got['x'], 0.65, 0.71, name='coverage')", _cell(x=0.9), _cell(), "t")
    assert "0.65" not in out.reason and "0.71" not in out.reason and "0.9" in out.reason
    out = run_host_checks("assert_close(got['a'], ref['a'], name='a')", _cell(a=np.array([1.0, 2.0, 30.0])),
                          _cell(a=np.array([1.0, 2.0, 3.0])), "t")
    assert "1 of 3 values differ" in out.reason and "3.0" not in out.reason.replace("30", "")


def test_reference_problems_are_the_author_s():
    out = run_host_checks("assert_close(got['x'], ref['missing'])", _cell(x=1.0), _cell(x=1.0), "t")
    assert not out.passed and "reference solution recorded no value" in out.authoring_error


def test_host_regions_never_reach_the_kernel():
    src = ("visible()\n### BEGIN HIDDEN TESTS\nrecord('x', f(2))\n### BEGIN HOST CHECKS\n"
           "assert_close(got['x'], 4.0)\n### END HOST CHECKS\n### END HIDDEN TESTS\n")
    kernel, host = split_host_checks(src)
    assert "assert_close" not in kernel and "record('x', f(2))" in kernel
    assert host == "assert_close(got['x'], 4.0)\n"
    assert "4.0" not in kernel_source(src.replace("### END HOST CHECKS\n", ""))   # unclosed: cut


def test_a_broken_host_check_region_stops_grading_with_the_author_s_error(toy_course):
    """An unclosed HOST CHECKS region is an authoring error named before any student is graded."""
    import nbformat

    from conftest import put_submission, student_copy
    from gradehub.grading import GradingError, autograde

    src = toy_course.source_dir("toy") / "toy.ipynb"
    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        if "record('neg'" in cell.source:
            cell.source = cell.source.replace("### END HOST CHECKS\n", "")
    nbformat.write(nb, src)
    put_submission(toy_course, "alice", student_copy(toy_course))
    with pytest.raises(GradingError, match="BEGIN HOST CHECKS without ### END HOST CHECKS"):
        autograde(toy_course, "toy", sandbox="local", jobs=1)


def test_values_recorded_outside_a_test_cell_count_for_nothing(toy_course):
    """A student who learnt the right values records them from an answer cell: they are ignored."""
    from conftest import put_submission, scores_of, solve, student_copy
    from gradehub.grading import autograde

    forged = ("from gradehub.testing import record\n"
              "record('neg', 20.25)\nrecord('zero', 0.0)\nrecord('sum', 3)\n"
              "def square(x):\n    raise NotImplementedError()")
    put_submission(toy_course, "forger", solve(student_copy(toy_course), {"square": forged}))
    autograde(toy_course, "toy", sandbox="local", jobs=1)
    scores = scores_of(toy_course)["forger"]
    assert scores["square_tests"] == 0.0 and scores["add_tests"] == 0.0
