"""What tests use inside the kernel: ``record`` for hidden tests, assertion helpers for visible ones.

``record(name, value)`` is the only thing a hidden test does with the student's answer in the
kernel: it sends the value to the grader as plain data (numbers and arrays as ``.npy`` bytes,
never pickle). The verdict is computed by the grader, outside the kernel (see
:mod:`gradehub.checks`), so nothing here needs to be trusted: a student who patches this module
can only send other values, and a forged value earns a point only if it is the right one.

Every helper first *coerces* the student's answer to an exact, well-known type (``float``,
``int``, ``bool`` or a fresh float64/int64 ``numpy.ndarray``) and only then compares. A value
is accepted only if its type is one we trust to convert itself honestly: ``int``, ``float``,
numpy's own scalar types, a plain ``numpy.ndarray`` of numbers, a plain ``torch.Tensor`` and
lists/tuples of those. An object whose ``__eq__``, ``__float__``, ``__array__`` or
``__torch_function__`` lies is refused before any of its methods run, so it cannot pass.

Messages are written for students: ``expected shape (100,), got (10, 10)``.

The references to numpy below are bound at import time. The grader imports this module
before any student code runs, so patching ``numpy.abs`` in a notebook changes nothing here.
"""

from __future__ import annotations

import math
import sys
from typing import Any
from collections.abc import Sequence

import numpy as _np

__all__ = [
    "GradingError",
    "as_array",
    "as_bool",
    "as_float",
    "as_int",
    "assert_all_finite",
    "assert_close",
    "assert_equal",
    "assert_in_range",
    "assert_shape",
    "assert_true",
    "record",
]

_ndarray = _np.ndarray
_asarray_copy = _np.array
_float64 = _np.float64
_int64 = _np.int64
_abs = _np.abs
_isfinite = _np.isfinite
_isnan = _np.isnan
_argmax = _np.argmax
_unravel = _np.unravel_index
_any = _np.any
_all = _np.all
_NUMPY_NUMBER_TYPES = frozenset(
    getattr(_np, name)
    for name in (
        "float16",
        "float32",
        "float64",
        "longdouble",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
    )
)
_NUMPY_BOOL = _np.bool_
_MAX_LIST_LEAVES = 10_000_000
_type = type
_isinstance = isinstance


class GradingError(AssertionError):
    """A failed check; the message is meant for the student."""


def _describe(value: Any) -> str:
    t = _type(value)
    return f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__qualname__


def _torch_tensor_to_numpy(value: Any) -> _ndarray | None:
    """Convert an *exact* torch tensor (or Parameter) to numpy; None if not a tensor."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    tensor_types = (torch.Tensor, torch.nn.Parameter)
    if _type(value) not in tensor_types:
        if _isinstance(value, torch.Tensor):
            raise GradingError(f"expected a plain torch.Tensor, got the subclass {_describe(value)}")
        return None
    with torch._C.DisableTorchFunction():
        t = torch.Tensor.detach(value)
        t = torch.Tensor.cpu(t)
        if t.is_complex():
            raise GradingError("expected a real-valued tensor, got a complex one")
        if t.dtype == torch.bool:
            t = torch.Tensor.to(t, torch.int64)
        elif t.dtype in (torch.bfloat16, torch.float16):
            t = torch.Tensor.to(t, torch.float32)
        return _asarray_copy(torch.Tensor.numpy(t), copy=True)


def _flatten_number_list(value: Any, name: str) -> tuple[list, tuple[int, ...]]:
    """Flatten nested lists/tuples of trusted scalars into (leaves, shape)."""
    leaves: list = []
    shape: list[int] | None = None

    def walk(node: Any, depth: int, path_shape: list[int]) -> None:
        nonlocal shape
        if _type(node) in (list, tuple):
            if len(path_shape) <= depth:
                path_shape.append(len(node))
            elif path_shape[depth] != len(node):
                raise GradingError(f"{name}: ragged nested list (rows of different lengths)")
            for item in node:
                walk(item, depth + 1, path_shape)
            if len(node) == 0 and shape is None:
                shape = list(path_shape)
            return
        if len(leaves) >= _MAX_LIST_LEAVES:
            raise GradingError(f"{name}: too many elements")
        leaves.append(_scalar_value(node, name))
        if shape is None:
            shape = list(path_shape)
        elif len(shape) != depth:
            raise GradingError(f"{name}: ragged nested list (mixed depth)")

    dims: list[int] = []
    walk(value, 0, dims)
    return leaves, tuple(dims)


def _scalar_value(value: Any, name: str) -> float | int:
    t = _type(value)
    if t is bool or t is _NUMPY_BOOL:
        return int(bool.__bool__(value)) if t is bool else int(_NUMPY_BOOL.__bool__(value))
    if t is int:
        return int.__index__(value)
    if t is float:
        return float.__float__(value)
    if t in _NUMPY_NUMBER_TYPES:
        return value.item()
    if t is _ndarray:
        arr = _as_plain_array(value, name)
        if arr.size != 1:
            raise GradingError(f"{name}: expected a single number, got an array of shape {arr.shape}")
        return arr.reshape(()).item()
    tensor = _torch_tensor_to_numpy(value)
    if tensor is not None:
        if tensor.size != 1:
            raise GradingError(f"{name}: expected a single number, got a tensor of shape {tensor.shape}")
        return tensor.reshape(()).item()
    raise GradingError(f"{name}: expected a number, got {_describe(value)}")


def _as_plain_array(value: _ndarray, name: str) -> _ndarray:
    kind = value.dtype.kind
    if kind not in "biuf":
        raise GradingError(f"{name}: expected an array of real numbers, got dtype {value.dtype}")
    return _asarray_copy(_ndarray.view(value, _ndarray), copy=True)


def as_float(value: Any, name: str = "answer") -> float:
    """The answer as a Python float; refuses anything that is not honestly a real number."""
    result = float(_scalar_value(value, name))
    return result


def as_int(value: Any, name: str = "answer") -> int:
    """The answer as a Python int; floats are accepted only when integral (e.g. ``3.0``)."""
    number = _scalar_value(value, name)
    if _type(number) is float:
        if not math.isfinite(number) or number != math.floor(number):
            raise GradingError(f"{name}: expected a whole number, got {number!r}")
        return int(number)
    return int(number)


def as_bool(value: Any, name: str = "answer") -> bool:
    """The answer as a Python bool; only real booleans (or 0/1 integers) are accepted."""
    t = _type(value)
    if t is bool:
        return bool.__bool__(value)
    if t is _NUMPY_BOOL:
        return bool(_NUMPY_BOOL.__bool__(value))
    number = _scalar_value(value, name)
    if number in (0, 1) and _type(number) is int:
        return bool(number)
    raise GradingError(f"{name}: expected True or False, got {_describe(value)}")


def as_array(value: Any, name: str = "answer", dtype: Any = _float64) -> _ndarray:
    """The answer as a fresh numpy array of ``dtype`` (float64 by default)."""
    t = _type(value)
    if t is _ndarray:
        arr = _as_plain_array(value, name)
    elif _isinstance(value, _ndarray):
        raise GradingError(f"{name}: expected a plain numpy array, got the subclass {_describe(value)}")
    elif t in (list, tuple):
        leaves, shape = _flatten_number_list(value, name)
        arr = _asarray_copy(leaves, dtype=_float64).reshape(shape)
    else:
        tensor = _torch_tensor_to_numpy(value)
        arr = tensor if tensor is not None else _asarray_copy(_scalar_value(value, name), dtype=_float64)
    if dtype is _int64 or dtype is int:
        if arr.dtype.kind == "f" and (not _all(_isfinite(arr)) or _any(arr != _np.floor(arr))):
            raise GradingError(f"{name}: expected whole numbers")
        return arr.astype(_int64)
    return arr.astype(dtype)


def _shape_text(shape: Sequence[int]) -> str:
    return str(tuple(int(s) for s in shape))


def assert_shape(value: Any, shape: Sequence[int], name: str = "answer") -> _ndarray:
    """Coerce to an array and check its shape. Returns the coerced array."""
    arr = as_array(value, name)
    if tuple(arr.shape) != tuple(shape):
        raise GradingError(f"{name}: expected shape {_shape_text(shape)}, got {_shape_text(arr.shape)}")
    return arr


def assert_all_finite(value: Any, name: str = "answer") -> _ndarray:
    arr = as_array(value, name)
    if not bool(_all(_isfinite(arr))):
        bad = int((~_isfinite(arr)).sum())
        raise GradingError(f"{name}: contains {bad} NaN or infinite value(s)")
    return arr


def assert_close(
    actual: Any,
    expected: Any,
    *,
    rtol: float = 1e-7,
    atol: float = 0.0,
    name: str = "answer",
) -> None:
    """Check ``|actual - expected| <= atol + rtol * |expected|`` element-wise.

    Both sides are coerced first; shapes must match exactly (no broadcasting), so a (10, 10)
    answer for a (100,) question fails with a message naming both shapes.
    """
    exp = as_array(expected, "expected value")
    act = as_array(actual, name)
    if act.shape != exp.shape:
        raise GradingError(f"{name}: expected shape {_shape_text(exp.shape)}, got {_shape_text(act.shape)}")
    if act.size == 0:
        return
    nan_mismatch = _isnan(act) != _isnan(exp)
    if bool(_any(nan_mismatch)):
        raise GradingError(f"{name}: contains NaN where a number is expected")
    with _np.errstate(invalid="ignore", over="ignore"):
        diff = _abs(act - exp)
        tol = atol + rtol * _abs(exp)
        bad = ~((diff <= tol) | (_isnan(act) & _isnan(exp)) | (act == exp))
    if bool(_any(bad)):
        n_bad = int(bad.sum())
        if act.ndim == 0:
            raise GradingError(
                f"{name}: expected {exp.item():.10g} (tolerance {float(tol):.2g}), got {act.item():.10g}"
            )
        worst = _unravel(int(_argmax(_np.where(bad, diff, -1.0))), act.shape)
        raise GradingError(
            f"{name}: {n_bad} of {act.size} values differ; at index {tuple(int(i) for i in worst)} "
            f"expected {exp[worst]:.10g}, got {act[worst]:.10g}"
        )


def assert_equal(actual: Any, expected: Any, name: str = "answer") -> None:
    """Exact equality for integers, booleans and integer arrays."""
    if _type(expected) is bool:
        got = as_bool(actual, name)
        if got is not expected:
            raise GradingError(f"{name}: expected {expected}, got {got}")
        return
    if _type(expected) is int:
        got_int = as_int(actual, name)
        if got_int != expected:
            raise GradingError(f"{name}: expected {expected}, got {got_int}")
        return
    assert_close(actual, expected, rtol=0.0, atol=0.0, name=name)


def assert_in_range(value: Any, low: float, high: float, name: str = "answer") -> float:
    """Check ``low <= value <= high`` for a single number; returns the coerced float."""
    number = as_float(value, name)
    if not (low <= number <= high):
        raise GradingError(f"{name}: expected a value in [{low:g}, {high:g}], got {number:.6g}")
    return number


def assert_true(condition: Any, message: str) -> None:
    """Check a condition that must be a real boolean (a lying ``__bool__`` is refused)."""
    if not as_bool(condition, "condition"):
        raise GradingError(message)


# ----------------------------------------------------------------------------- records

#: The MIME type of a recorded value in a ``display_data`` message; the executor on the host
#: takes these out of the cell's outputs (they never reach a notebook or a feedback page).
RECORD_MIME = "application/vnd.gradehub.record.v1+json"
_MAX_DEPTH = 8


def _npy_base64(arr: _ndarray) -> str:
    import base64
    import io

    kind = arr.dtype.kind
    if kind == "b":
        arr = arr.astype(bool)
    elif kind in "iu":
        if arr.dtype.itemsize == 8 and kind == "u" and arr.size and int(arr.max()) > 2**63 - 1:
            raise GradingError("record: integer too large")
        arr = arr.astype(_int64)
    elif kind == "f":
        arr = arr.astype(_float64)
    else:
        raise GradingError(f"record: expected real numbers, got dtype {arr.dtype}")
    buf = io.BytesIO()
    _np.save(buf, arr.copy(order="C"), allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _encode(value: Any, name: str, depth: int) -> Any:
    """Plain, JSON-able data: null, bool, str, {"npy": ...}, {"list": [...]}, {"dict": {...}}."""
    if depth > _MAX_DEPTH:
        raise GradingError(f"{name}: nested too deeply to record")
    t = _type(value)
    if value is None or t is bool or t is str:
        return value
    if t is _NUMPY_BOOL:
        return bool(_NUMPY_BOOL.__bool__(value))
    if t in (list, tuple):
        return {"list": [_encode(v, name, depth + 1) for v in value]}
    if t is dict:
        if not all(_type(k) is str for k in value):
            raise GradingError(f"{name}: only dicts with string keys can be recorded")
        return {"dict": {k: _encode(v, name, depth + 1) for k, v in value.items()}}
    if t is int:
        if not -(2**63) <= value < 2**63:
            raise GradingError(f"{name}: integer too large to record")
        return {"npy": _npy_base64(_np.array(value, dtype=_int64))}
    if t is float or t in _NUMPY_NUMBER_TYPES:
        return {"npy": _npy_base64(_np.array(value))}
    if t is _ndarray:
        return {"npy": _npy_base64(_as_plain_array(value, name))}
    tensor = _torch_tensor_to_numpy(value)
    if tensor is not None:
        return {"npy": _npy_base64(tensor)}
    raise GradingError(
        f"{name}: cannot record a {_describe(value)}; record numbers, arrays, "
        "tensors, strings, booleans or lists/dicts of them"
    )


def record(name: str, value: Any) -> None:
    """Send ``value`` to the grader under ``name`` (hidden tests; see docs/authoring.md).

    The grader compares it, outside the kernel, with what the reference solution recorded
    under the same name. If ``value`` cannot be recorded (an object, a complex array), the
    value is recorded as missing, and the check that needs it fails with the reason.
    """
    if _type(name) is not str or not name or len(name) > 200:
        raise GradingError("record: the name must be a non-empty string of at most 200 characters")
    try:
        payload: Any = {"name": name, "value": _encode(value, name, 0)}
    except GradingError as exc:
        payload = {"name": name, "error": str(exc)[:500]}
    from IPython.display import publish_display_data

    publish_display_data({RECORD_MIME: payload, "text/plain": f"[recorded {name}]"})
