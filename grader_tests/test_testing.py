"""gradehub.testing: coercion refuses lying objects; messages are readable."""

import numpy as np
import pytest
import torch

from gradehub import testing as t


class LyingFloat(float):
    def __eq__(self, other):
        return True

    def __float__(self):
        return 42.0


class LyingArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)


class ArrayLike:
    def __array__(self, dtype=None, copy=None):
        return np.arange(3.0)


class LyingTensor(torch.Tensor):
    pass


def test_close_values_pass_for_every_honest_type():
    t.assert_close(np.arange(3.0), [0, 1, 2])
    t.assert_close(torch.tensor([0.0, 1.0, 2.0]), np.arange(3.0))
    t.assert_close((0, 1, 2), np.arange(3))
    t.assert_close(np.float32(0.5), 0.5, rtol=1e-6)
    t.assert_close(3, 3.0)


@pytest.mark.parametrize("liar", [LyingFloat(0.0), np.arange(3.0).view(LyingArray), ArrayLike(),
                                  torch.arange(3.0).as_subclass(LyingTensor), [LyingFloat(1.0)]])
def test_lying_objects_are_refused_before_comparison(liar):
    with pytest.raises(t.GradingError):
        t.assert_close(liar, np.arange(3.0))


def test_shape_mismatch_message_names_both_shapes():
    with pytest.raises(AssertionError, match=r"expected shape \(100,\), got \(10, 10\)"):
        t.assert_close(np.zeros((10, 10)), np.zeros(100))


def test_value_mismatch_message_points_at_the_worst_element():
    with pytest.raises(AssertionError, match=r"1 of 3 values differ; at index \(1,\) expected 1, got 5"):
        t.assert_close([0.0, 5.0, 2.0], [0.0, 1.0, 2.0])


def test_scalar_message_and_tolerances():
    t.assert_close(1.0 + 1e-9, 1.0, rtol=1e-8)
    with pytest.raises(AssertionError, match="expected 1 "):
        t.assert_close(1.1, 1.0, rtol=1e-3)
    t.assert_close(1e-12, 0.0, atol=1e-10)


def test_nan_is_not_close_to_a_number():
    with pytest.raises(AssertionError, match="NaN"):
        t.assert_close(float("nan"), 1.0)
    t.assert_close(float("nan"), float("nan"))


def test_as_int_and_as_bool_are_strict():
    assert t.as_int(np.int64(3)) == 3 and t.as_int(3.0) == 3
    with pytest.raises(t.GradingError):
        t.as_int(3.5)
    assert t.as_bool(np.bool_(True)) is True
    with pytest.raises(t.GradingError):
        t.as_bool("yes")

    class Truthy:
        def __bool__(self):
            return True
    with pytest.raises(t.GradingError):
        t.assert_true(Truthy(), "must be a real boolean")


def test_assert_equal_and_range():
    t.assert_equal(np.array([1, -1, 1]), np.array([1, -1, 1]))
    with pytest.raises(AssertionError):
        t.assert_equal(np.array([1.0, -1.0, 1.0]) + 1e-12, np.array([1, -1, 1]))
    assert t.assert_in_range(0.68, 0.65, 0.71) == 0.68
    with pytest.raises(AssertionError, match=r"in \[0.65, 0.71\], got 0.95"):
        t.assert_in_range(0.95, 0.65, 0.71)


def test_object_arrays_and_strings_are_refused():
    with pytest.raises(t.GradingError, match="dtype object"):
        t.as_array(np.array([1, None], dtype=object))
    with pytest.raises(t.GradingError, match="expected a number"):
        t.as_float("3.0")


def test_patching_numpy_after_import_changes_nothing(monkeypatch):
    monkeypatch.setattr(np, "abs", lambda x: np.zeros_like(x))
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    with pytest.raises(AssertionError):
        t.assert_close([1.0], [2.0])
