"""The host side of an otter question: its score, decided outside the student's kernel.

Called from the host-check region of a grading notebook's test cell (see
:mod:`gradehub.otter.build`) with ``got``/``ref`` (what the student's and the reference run
recorded) and ``award`` (the host namespace's partial credit, :meth:`gradehub.checks.HostHelpers.award`).

For every example of every case, as ``doctest.DocTestRunner`` decides (with the option flags
otter runs doctest with: none, plus the example's own ``# doctest:`` directives):

- no exception: ``OutputChecker.check_output(want, displayed)``;
- an exception: a failure unless one was expected, then the exception line is compared with
  the expected one (``IGNORE_EXCEPTION_DETAIL`` honoured);
- and where the host can evaluate the comparison itself (``host_expression``), it does so on the
  recorded operands and must reach the expected truth as well.

A case passes when all its examples do; the question's score is otter's rule
(``otter.test_files.abstract_test.TestFile.score``): with ``all_or_nothing`` all its points or
none, else the points of the passed cases. Hidden cases are reported as passed or failed only.
"""

from __future__ import annotations

import doctest
from dataclasses import dataclass
from typing import Any

from .tests import BOOLEAN_WANTS, Case, Example, Question, host_value

OPTION_FLAGS = 0  # otter's DocTestRunner(verbose=True) takes the default option flags
_TRIVIAL_WANTS = {"", "None", *BOOLEAN_WANTS}
_MAX_SHOWN = 600


class _Failed(Exception):
    pass


@dataclass
class ExampleOutcome:
    passed: bool
    verified: bool  # a forged record could not have passed it without the right answer
    why: str = ""  # for a public case only


def _strip_detail(msg: str) -> str:
    strip = getattr(doctest, "_strip_exception_details", None)
    return strip(msg) if strip else msg.split(":", 1)[0]


def _short(text: str) -> str:
    text = text.rstrip("\n")
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + " …"


def _usable(records: Any, name: str) -> bool:
    return records is not None and name in records


def _leaf_values(got: Any, ref: Any, key: str, example: Example) -> tuple[dict[int, Any] | None, str]:
    """The operands the kernel recorded for the host's evaluation, or (None, why not)."""
    values: dict[int, Any] = {}
    for name in got.keys():  # noqa: SIM118 - Records has keys(), no iteration
        if not name.startswith(key + "/"):
            continue
        tail = name[len(key) + 1 :]
        if not tail.isdigit():
            continue
        number = int(tail)
        if _usable(got, name):
            values[number] = got[name]
        elif _usable(ref, name):
            # The reference recorded this operand as plain data: the student's must be too.
            return None, "a value it compares is not plain data (numbers, arrays, strings, lists)"
        else:
            return None, ""  # neither could: the comparison is left to the kernel's display
    return values, ""


def judge_example(example: Example, key: str, got: Any, ref: Any, hidden: bool) -> ExampleOutcome:
    if example.skip:
        return ExampleOutcome(True, False)
    if not _usable(got, key):
        status = getattr(got, "cell_status", "not_run")
        why = (
            "the example did not run (the test cell stopped before it)"
            if status in ("not_run", "aborted", "timeout")
            else "the example's result was not recorded"
        )
        return ExampleOutcome(False, True, why)
    shown = got[key]
    if not isinstance(shown, dict) or type(shown.get("out")) is not str:
        return ExampleOutcome(False, True, "the example's result was not recorded")
    if shown.get("cut"):
        return ExampleOutcome(False, True, "the example printed too much to be compared")
    out, exc = shown["out"], shown.get("exc")
    flags = OPTION_FLAGS
    for flag, on in example.options.items():
        flags = flags | flag if on else flags & ~flag
    checker = doctest.OutputChecker()
    if exc is None:
        passed = checker.check_output(example.want, out, flags)
        why = "" if passed else f"expected {_short(example.want)!r}, got {_short(out)!r}"
    elif type(exc) is not str:
        return ExampleOutcome(False, True, "the example's result was not recorded")
    elif example.exc_msg is None:
        passed, why = False, f"raised {_short(exc)}"
    else:
        passed = checker.check_output(example.exc_msg, exc, flags) or bool(
            flags & doctest.IGNORE_EXCEPTION_DETAIL
            and checker.check_output(_strip_detail(example.exc_msg), _strip_detail(exc), flags)
        )
        why = "" if passed else f"expected the exception {_short(example.exc_msg)!r}, got {_short(exc)!r}"
    verified = hidden and example.want.strip() not in _TRIVIAL_WANTS and example.exc_msg is None
    if example.host_expression is not None and passed:
        leaves, problem = _leaf_values(got, ref, key, example)
        if problem:
            return ExampleOutcome(False, True, problem)
        if leaves is not None:
            try:
                truth = bool(host_value(example.host_expression, leaves))
            except Exception:  # noqa: BLE001 - an operand of an odd shape or type
                return ExampleOutcome(False, True, "the values it compares could not be checked")
            if truth is not example.expected_truth:
                return ExampleOutcome(False, True, "the values it compares do not give the expected result")
            verified = True
    return ExampleOutcome(passed, verified, "" if passed else why)


def _case_result(question: str, index: int, case: Case, got: Any, ref: Any) -> tuple[dict, bool]:
    outcomes = [
        judge_example(example, f"{question}/{index}/{i}", got, ref, case.hidden)
        for i, example in enumerate(case.examples)
    ]
    passed = all(o.passed for o in outcomes)
    verified = any(o.verified for o in outcomes)
    message = ""
    if not case.hidden:
        if passed:
            message = case.success_message or ""
        else:
            first = next((i, o) for i, o in enumerate(outcomes) if not o.passed)
            source = case.examples[first[0]].source.strip().splitlines()[0]
            message = (case.failure_message + " " if case.failure_message else "") + (
                f"`{_short(source)}`: {first[1].why}"
            )
    result = {
        "name": case.name,
        "hidden": case.hidden,
        "passed": passed,
        "points": case.points if passed else 0.0,
        "max_points": case.points,
        "message": message,
        "kind": "verified" if verified else "forgeable",
    }
    return result, verified


def otter_score(question: Question, passed: list[bool]) -> float:
    """otter's ``TestFile.score``: all-or-nothing, else the points of the passed cases."""
    if question.all_or_nothing:
        return question.points if all(passed) else 0.0
    return sum(c.points for c, ok in zip(question.cases, passed, strict=True) if ok)


def judge_question(spec_json: str, got: Any, ref: Any, award: Any, *, reference_must_pass: bool = True) -> None:
    """Decide one question from the records and call ``award`` with otter's score."""
    question = Question.from_json(spec_json)
    if question.in_kernel is not None:
        results: list[dict[str, Any]] = []
        for index, case in enumerate(question.cases):
            key = f"{question.name}/{index}"
            value = got[key] if _usable(got, key) else None
            ok = isinstance(value, dict) and value.get("passed") is True
            results.append(
                {
                    "name": case.name,
                    "hidden": case.hidden,
                    "passed": ok,
                    "points": case.points if ok else 0.0,
                    "max_points": case.points,
                    "message": "" if case.hidden else ("" if ok else "the test case failed in your notebook"),
                    "kind": "unverified",
                }
            )
        passed = [bool(r["passed"]) for r in results]
        award(_share(question, passed), results, unverified=True)
        return
    results = []
    kinds: list[bool] = []
    for index, case in enumerate(question.cases):
        result, verified = _case_result(question.name, index, case, got, ref)
        results.append(result)
        kinds.append(verified or case.points == 0)
    passed = [bool(r["passed"]) for r in results]
    if getattr(got, "is_reference", False) and reference_must_pass and not all(passed):
        failed = [str(r["name"]) for r in results if not r["passed"]]
        from gradehub.checks import CheckFailed

        raise CheckFailed(f"question {question.name}: the solution fails test case(s) {', '.join(failed)}")
    award(_share(question, passed), results, forgeable=not all(kinds))


def _share(question: Question, passed: list[bool]) -> float:
    if question.points <= 0:
        return 1.0 if all(passed) else 0.0
    return min(1.0, otter_score(question, passed) / question.points)
