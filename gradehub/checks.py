"""Host-side checks: the verdict of every hidden test, decided outside the student's kernel.

A test cell of a source notebook holds, nested in its hidden-test region, a region of *host
checks*::

    ### BEGIN HIDDEN TESTS
    record("nll/0", exponential_nll(2.2, t))       # kernel side: inputs and calls only
    ### BEGIN HOST CHECKS
    assert_close(got["nll/0"], ref["nll/0"], rtol=1e-10, name="exponential_nll(2.2, t)")
    ### END HOST CHECKS
    ### END HIDDEN TESTS

The host region never reaches a kernel (:func:`kernel_source` removes it before any run).
The grader runs it here, in its own process, with ``got`` (what the student's run recorded)
and ``ref`` (what the reference solution recorded in a trusted run), both plain data decoded
strictly by :mod:`gradehub.protocol`. The helpers in the namespace word their failures for
the student without ever showing an expected value or a bound. See docs/authoring.md.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterator, Sequence

import numpy as np
from nbformat import NotebookNode

from . import testing as _testing
from .protocol import (
    FORGEABLE,
    MANUAL,
    UNVERIFIED,
    VERIFIED,
    CellRecords,
    NotebookRecords,
    RecordError,
    Verdict,
    decode_value,
)
from .metadata import MarkerError, host_checks_of, is_solution, nbgrader_meta


class CheckFailed(Exception):
    """A check did not pass; the message is for the student."""


class AuthoringError(Exception):
    """The host checks or the reference run are broken: the author's problem, not the student's."""


# ----------------------------------------------------------------------------- recorded values


class Records:
    """``got`` or ``ref`` in the host namespace: name -> plain value, decoded on first use."""

    def __init__(self, cell: CellRecords | None, *, reference: bool, cell_label: str):
        self._cell = cell or CellRecords()
        self._reference = reference
        self._label = cell_label
        self._cache: dict[str, Any] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._cell.values and self._cell.values[name].error is None

    def keys(self) -> list[str]:
        return list(self._cell.values)

    @property
    def is_reference(self) -> bool:
        """True for ``ref``, and for ``got`` while the reference's own values are checked."""
        return self._reference

    @property
    def cell_status(self) -> str:
        """How the kernel ended the test cell (ok / error / timeout / not_run ...)."""
        return self._cell.status

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default  # noqa: SIM401 - this *is* get()

    def __getitem__(self, name: str) -> Any:
        if name in self._cache:
            return self._cache[name]
        rec = self._cell.values.get(name)
        if rec is None:
            if self._reference:
                raise AuthoringError(f"the reference solution recorded no value {name!r} in {self._label}")
            raise CheckFailed(f"no value recorded for `{name}`: {self._why_missing()}")
        if rec.error is not None:
            if self._reference:
                raise AuthoringError(f"the reference solution's value {name!r} in {self._label}: {rec.error}")
            raise CheckFailed(f"the value recorded for `{name}` is not usable: {rec.error}")
        try:
            value = decode_value(rec.value)
        except RecordError as exc:
            if self._reference:
                raise AuthoringError(f"the reference solution's value {name!r} in {self._label}: {exc}") from None
            raise CheckFailed(f"the value recorded for `{name}` is not usable: {exc}") from None
        self._cache[name] = value
        return value

    def _why_missing(self) -> str:
        status = self._cell.status
        if status == "error":
            return (
                "the test stopped with "
                + (f"a {self._cell.error_name}" if self._cell.error_name else "an error")
                + " before it (run the visible checks of this cell and read their message)"
            )
        if status == "timeout":
            return "the cell hit its time limit"
        if status in ("not_run", "aborted"):
            return "the cell did not run (the notebook stopped before it)"
        return "the test did not record it"


# ----------------------------------------------------------------------------- host helpers


def _g(value: float) -> str:
    return f"{value:.6g}"


class HostHelpers:
    """The assertion helpers of a host namespace; counts verified and forgeable checks."""

    def __init__(self) -> None:
        self.verified = 0
        self.forgeable_checks = 0
        self._forgeable = 0
        self.awarded: Award | None = None

    def _count(self) -> None:
        if self._forgeable:
            self.forgeable_checks += 1
        else:
            self.verified += 1

    @contextlib.contextmanager
    def forgeable(self, reason: str = "") -> Iterator[None]:
        self._forgeable += 1
        try:
            yield
        finally:
            self._forgeable -= 1

    # coercions: the student's value; testing's messages describe only that value
    @staticmethod
    def _coerce(fn: Any, value: Any, name: str, *args: Any) -> Any:
        try:
            return fn(value, name, *args)
        except _testing.GradingError as exc:
            raise CheckFailed(str(exc)) from None

    def as_float(self, value: Any, name: str = "answer") -> float:
        return self._coerce(_testing.as_float, value, name)

    def as_int(self, value: Any, name: str = "answer") -> int:
        return self._coerce(_testing.as_int, value, name)

    def as_bool(self, value: Any, name: str = "answer") -> bool:
        return self._coerce(_testing.as_bool, value, name)

    def as_array(self, value: Any, name: str = "answer", dtype: Any = np.float64) -> np.ndarray:
        return self._coerce(_testing.as_array, value, name, dtype)

    @staticmethod
    def _expected(value: Any) -> np.ndarray:
        try:
            return _testing.as_array(value, "expected value")
        except _testing.GradingError as exc:
            raise AuthoringError(f"an expected value is not a number or array: {exc}") from None

    def fail(self, message: str) -> None:
        self._count()
        raise CheckFailed(str(message))

    def assert_true(self, condition: Any, message: str) -> None:
        self._count()
        try:
            ok = _testing.as_bool(condition, "condition")
        except _testing.GradingError:
            raise CheckFailed(message) from None
        if not ok:
            raise CheckFailed(message)

    def assert_shape(self, value: Any, shape: Sequence[int], name: str = "answer") -> np.ndarray:
        # Any kernel can type an array of the right shape: a shape never verifies a cell.
        with self.forgeable("a shape"):
            self._count()
        arr = self.as_array(value, name)
        if tuple(arr.shape) != tuple(int(s) for s in shape):
            raise CheckFailed(f"{name}: expected shape {tuple(int(s) for s in shape)}, got {tuple(arr.shape)}")
        return arr

    def assert_all_finite(self, value: Any, name: str = "answer") -> np.ndarray:
        with self.forgeable("finiteness"):
            self._count()
        arr = self.as_array(value, name)
        if not bool(np.all(np.isfinite(arr))):
            raise CheckFailed(f"{name}: contains {int((~np.isfinite(arr)).sum())} NaN or infinite value(s)")
        return arr

    def assert_in_range(self, value: Any, low: float, high: float, name: str = "answer") -> float:
        self._count()
        number = self.as_float(value, name)
        if not (float(low) <= number <= float(high)):
            raise CheckFailed(f"{name}: got {_g(number)}, outside the range a correct answer gives")
        return number

    def assert_close(
        self, actual: Any, expected: Any, *, rtol: float = 1e-7, atol: float = 0.0, name: str = "answer"
    ) -> None:
        self._count()
        exp = self._expected(expected)
        act = self.as_array(actual, name)
        if act.shape != exp.shape:
            raise CheckFailed(f"{name}: expected shape {tuple(exp.shape)}, got {tuple(act.shape)}")
        if act.size == 0:
            return
        if bool(np.any(np.isnan(act) & ~np.isnan(exp))):
            raise CheckFailed(f"{name}: contains NaN where a number is expected")
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(act - exp)
            tol = atol + rtol * np.abs(exp)
            bad = ~((diff <= tol) | (np.isnan(act) & np.isnan(exp)) | (act == exp))
        if bool(np.any(bad)):
            tolerance = f"relative tolerance {rtol:g}" + (f", absolute {atol:g}" if atol else "")
            if act.ndim == 0:
                raise CheckFailed(f"{name}: got {_g(act.item())}, not the expected value ({tolerance})")
            worst = np.unravel_index(int(np.argmax(np.where(bad, np.nan_to_num(diff, nan=np.inf), -1.0))), act.shape)
            raise CheckFailed(
                f"{name}: {int(bad.sum())} of {act.size} values differ from the expected ones "
                f"({tolerance}); e.g. at index {tuple(int(i) for i in worst)} you gave "
                f"{_g(float(act[worst]))}"
            )

    def assert_equal(self, actual: Any, expected: Any, name: str = "answer") -> None:
        if type(expected) is bool:
            self._count()
            if self.as_bool(actual, name) is not expected:
                raise CheckFailed(f"{name}: got {not expected}, which is wrong")
            return
        if type(expected) is int:
            self._count()
            got = self.as_int(actual, name)
            if got != expected:
                raise CheckFailed(f"{name}: got {got}, not the expected value")
            return
        if type(expected) is str:
            self._count()
            if actual != expected:
                raise CheckFailed(f"{name}: not the expected text")
            return
        self.assert_close(actual, expected, rtol=0.0, atol=0.0, name=name)

    def award(self, share: float, cases: list[dict], *, forgeable: bool = False, unverified: bool = False) -> None:
        """Partial credit: ``share`` of the cell's points, with an outcome per test case.

        For tests made of cases (otter's): each case dict has ``name``, ``hidden``, ``passed``,
        ``points``, ``max_points`` and ``message`` (the grader's words; empty for hidden cases).
        ``forgeable``: a forged record could earn this; ``unverified``: the kernel decided it.
        """
        if self.awarded is not None:
            raise AuthoringError("award() was called twice in one test cell")
        if not (isinstance(share, (int, float)) and 0.0 <= float(share) <= 1.0):
            raise AuthoringError(f"award(): the share {share!r} is not between 0 and 1")
        self.awarded = Award(float(share), [dict(c) for c in cases], bool(forgeable), bool(unverified))
        if forgeable or unverified:
            self.forgeable_checks += 1
        else:
            self.verified += 1

    def namespace(self) -> dict[str, Any]:
        names = (
            "award",
            "as_float",
            "as_int",
            "as_bool",
            "as_array",
            "fail",
            "assert_true",
            "assert_shape",
            "assert_all_finite",
            "assert_in_range",
            "assert_close",
            "assert_equal",
            "forgeable",
        )
        ns: dict[str, Any] = {n: getattr(self, n) for n in names}
        ns.update(np=np, numpy=np, math=math, statistics=statistics)
        try:
            import scipy
            import scipy.special
            import scipy.stats

            ns["scipy"] = scipy
        except ImportError:
            pass
        return ns


@dataclass
class Award:
    """What a test cell's host checks awarded with ``award()``: a share of its points, per case."""

    share: float
    cases: list[dict]
    forgeable: bool = False
    unverified: bool = False


@dataclass
class CheckOutcome:
    passed: bool
    reason: str = ""
    forgeable: bool = False  # every check that ran was inside `forgeable(...)`
    authoring_error: str | None = None
    award: Award | None = None  # partial credit and per-case outcomes, where the checks gave them


def run_host_checks(
    host_source: str, got: CellRecords | None, ref: CellRecords | None, label: str, *, reference_run: bool = False
) -> CheckOutcome:
    """Run one test cell's host checks; a failure of the student's values is a result.

    With ``reference_run`` the reference's own values are checked (``got`` is ``ref``): any
    exception is then the author's problem and is reported as ``authoring_error``.
    """
    helpers = HostHelpers()
    ns = helpers.namespace()
    ns["got"] = Records(got, reference=reference_run, cell_label=label)
    ns["ref"] = Records(ref, reference=True, cell_label=label)
    try:
        code = compile(host_source, f"<host checks of {label}>", "exec")
        exec(code, ns)  # noqa: S102 - instructor code from the source notebook, trusted
    except CheckFailed as exc:
        if reference_run:
            return CheckOutcome(False, str(exc), authoring_error=f"the reference solution fails: {exc}")
        return CheckOutcome(False, str(exc)[:2000])
    except AuthoringError as exc:
        return CheckOutcome(
            False, "this test could not be checked (a problem of the sheet, not yours)", authoring_error=str(exc)
        )
    except Exception as exc:  # noqa: BLE001 - a student's odd value must not crash the grader
        if reference_run:
            return CheckOutcome(False, str(exc), authoring_error=f"host checks raise {type(exc).__name__}: {exc}")
        return CheckOutcome(False, "the recorded values could not be checked (unexpected type, shape or value)")
    if helpers.verified + helpers.forgeable_checks == 0:
        return CheckOutcome(True, forgeable=True, authoring_error="host checks check nothing")
    if helpers.awarded is not None:
        awarded = helpers.awarded
        failed = [c for c in awarded.cases if not c.get("passed")]
        reason = "" if not failed else f"{len(failed)} of {len(awarded.cases)} test case(s) failed"
        return CheckOutcome(awarded.share >= 1.0 and not failed, reason, helpers.verified == 0, award=awarded)
    return CheckOutcome(True, forgeable=helpers.verified == 0)


# ----------------------------------------------------------------------------- verdicts


def legacy_cell_points(cell: NotebookNode, status: str | None, max_points: float) -> float:
    """An old-style test cell: like nbgrader, points when the kernel replied ok without an error."""
    from nbgrader.utils import get_partial_grade

    if status != "ok":
        return 0.0
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return 0.0
        if output.get("output_type") == "execute_result" and "text/plain" in output.get("data", {}):
            try:
                return float(get_partial_grade(output, max_points))
            except (KeyError, ValueError, TypeError):
                return max_points
    return max_points


def notebook_verdicts(
    name: str,
    source_nb: NotebookNode,
    executed_nb: NotebookNode | None,
    statuses: dict[str, str],
    got: NotebookRecords,
    ref: NotebookRecords | None,
    *,
    reference_run: bool = False,
) -> tuple[list[Verdict], list[str]]:
    """A verdict for every graded cell, in source order, and the authoring errors met.

    ``statuses`` maps each executed cell's grade id to how the kernel ended it. Test cells with
    host checks are decided here from ``got`` and ``ref``; old-style ones by the kernel's
    reply (unverified); free-response cells wait for a person unless left blank.
    """
    from nbgrader.utils import determine_grade

    try:
        checks = host_checks_of(source_nb)
    except MarkerError as exc:
        raise AuthoringError(str(exc)) from None
    executed = {
        m["grade_id"]: c for c in (executed_nb.cells if executed_nb is not None else []) if (m := nbgrader_meta(c))
    }
    verdicts: list[Verdict] = []
    problems: list[str] = []
    for cell in source_nb.cells:
        meta = nbgrader_meta(cell)
        if not meta or not meta.get("grade"):
            continue
        gid = meta["grade_id"]
        max_points = float(meta.get("points", 0) or 0)
        ran = executed.get(gid)
        if is_solution(cell):
            if ran is None:
                verdicts.append(Verdict(name, gid, 0.0, max_points, MANUAL, False, "not answered"))
                continue
            score, _ = determine_grade(ran)
            verdicts.append(
                Verdict(
                    name,
                    gid,
                    score,
                    max_points,
                    MANUAL,
                    None if score is None else score > 0,
                    "" if score is None else "left unanswered",
                )
            )
            continue
        if cell.cell_type != "code":
            verdicts.append(Verdict(name, gid, None, max_points, MANUAL))
            continue
        host = checks.get(gid)
        if host is None:
            points = legacy_cell_points(ran, statuses.get(gid), max_points) if ran is not None else 0.0
            verdicts.append(
                Verdict(
                    name,
                    gid,
                    points,
                    max_points,
                    UNVERIFIED,
                    points >= max_points,
                    "" if points >= max_points else "the test cell reported an error",
                )
            )
            continue
        outcome = run_host_checks(host, got.get(gid), (ref or {}).get(gid), f"`{gid}`", reference_run=reference_run)
        if outcome.authoring_error:
            problems.append(f"`{gid}`: {outcome.authoring_error}")
        if outcome.award is not None and not outcome.authoring_error:
            awarded = outcome.award
            verdicts.append(
                Verdict(
                    name,
                    gid,
                    max_points * awarded.share,
                    max_points,
                    UNVERIFIED if awarded.unverified else FORGEABLE if outcome.forgeable else VERIFIED,
                    outcome.passed,
                    outcome.reason,
                    awarded.cases,
                )
            )
            continue
        verdicts.append(
            Verdict(
                name,
                gid,
                max_points if outcome.passed else 0.0,
                max_points,
                FORGEABLE if outcome.forgeable else VERIFIED,
                outcome.passed,
                outcome.reason,
            )
        )
    return verdicts, problems


def forgeable_share(verdicts: list[Verdict]) -> float:
    """Share of the autograded points a forged record could earn (from a passing reference run)."""
    auto = [v for v in verdicts if v.kind != MANUAL]
    total = sum(v.max_points for v in auto)
    forged = sum(v.max_points for v in auto if v.kind in (FORGEABLE, UNVERIFIED))
    return forged / total if total else 0.0
