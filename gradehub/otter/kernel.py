"""Runs *inside* the student's kernel: the examples of one otter test case, as doctest would.

The grading notebook's test cell of a question calls :func:`run_case` once per test case with
the *source* of each example only (never the expected output, which stays on the host). Each
example runs like ``doctest.DocTestRunner`` runs it, so what is recorded is what otter would
compare: compiled in ``"single"`` mode in the notebook's globals, expression values shown by
``sys.__displayhook__`` (their ``repr``), printed output captured, and for an exception the
line ``traceback.format_exception_only`` gives (doctest's rules for ``SyntaxError`` included).
``display()`` output is hidden, as otter hides it.

What is recorded per example (with :func:`gradehub.testing.record`, plain data only):
``<case>/<i>`` = ``{"out": text, "exc": exception line or None, "cut": bool}``. Where the host
will re-evaluate an example's comparison itself, the example's source was rewritten at build
time so that each *operand* passes through ``__gradehub_leaf__(j, value)``, which records the
value as ``<case>/<i>/<j>`` and returns it unchanged, so the example still runs once, as written.

Nothing here is trusted: a student can replace this module. The host decides (see
:mod:`gradehub.otter.verdict`); a forged record earns nothing unless it is the right answer.
This module imports nothing from gradehub but :mod:`gradehub.testing`.
"""

from __future__ import annotations

import __future__
import io
import sys
import traceback
from typing import Any

from gradehub.testing import record

LEAF_NAME = "__gradehub_leaf__"
MAX_OUTPUT = 50_000  # characters of one example's output that are recorded

_FUTURE_FLAGS = {name: getattr(__future__, name).compiler_flag for name in __future__.all_feature_names}


class _SpoofOut(io.StringIO):
    """doctest's ``_SpoofOut``: anything written ends with a newline."""

    def value(self) -> str:
        text = self.getvalue()
        if text and not text.endswith("\n"):
            text += "\n"
        return text


def _future_flags(globs: dict) -> int:
    # doctest._extract_future_flags: a `from __future__ import x` in the notebook applies.
    flags = 0
    for name, flag in _FUTURE_FLAGS.items():
        feature = globs.get(name)
        if feature is getattr(__future__, name):
            flags |= flag
    return flags


def _exception_line(exc_type: type, exc: BaseException) -> str:
    lines = traceback.format_exception_only(exc_type, exc)
    if issubclass(exc_type, SyntaxError):
        # as doctest (3.11+): only the message lines, not the carets
        prefixes = (f"{exc_type.__qualname__}:", f"{exc_type.__module__}.{exc_type.__qualname__}:")
        start = next((i for i, line in enumerate(lines) if line.startswith(prefixes)), 0)
        lines = lines[start:]
    return "".join(lines)


def _hidden_display() -> Any:
    """Hide ``display()`` output like otter's ``hide_outputs`` (returns what to restore)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        return None
    if shell is None:
        return None
    saved = shell.display_formatter.formatters
    shell.display_formatter.formatters = {}
    return shell, saved


def run_case(name: str, examples: list[dict], globs: dict) -> None:
    """Run one test case's examples in ``globs``; record what each displayed."""
    flags = _future_flags(globs)
    for index, example in enumerate(examples):
        if example.get("skip"):
            continue
        key = f"{name}/{index}"
        leaves: dict[int, bool] = {}

        def leaf(number: int, value: Any, _key: str = key, _seen: dict = leaves) -> Any:
            if number not in _seen:
                _seen[number] = True
                record(f"{_key}/{number}", value)
            return value

        spoof = _SpoofOut()
        saved_out, saved_hook = sys.stdout, sys.displayhook
        display = _hidden_display()
        globs[LEAF_NAME] = leaf
        exc_line = None
        try:
            sys.stdout, sys.displayhook = spoof, sys.__displayhook__
            try:
                code = compile(example["source"], f"<doctest {name}[{index}]>", "single", flags, True)
                exec(code, globs)  # noqa: S102 - the test's own example, in the student's kernel
            except KeyboardInterrupt:
                raise
            except BaseException:  # noqa: BLE001 - doctest catches everything but an interrupt
                exc_type, exc, _ = sys.exc_info()
                exc_line = _exception_line(exc_type, exc) if exc_type is not None and exc is not None else ""
        finally:
            sys.stdout, sys.displayhook = saved_out, saved_hook
            if display is not None:
                display[0].display_formatter.formatters = display[1]
            globs.pop(LEAF_NAME, None)
        out = spoof.value()
        cut = len(out) > MAX_OUTPUT or (exc_line is not None and len(exc_line) > MAX_OUTPUT)
        record(key, {"out": out[:MAX_OUTPUT], "exc": None if exc_line is None else exc_line[:MAX_OUTPUT], "cut": cut})


def run_in_kernel_test(name: str, source: str, globs: dict) -> None:
    """Otter's exception-based test file (``@test_case`` functions): it can only run here.

    Records ``<name>/<i>`` = ``{"passed": bool}`` per case, from otter's own runner. The host
    grades these as *unverified*: nothing but the kernel's word decides them.
    """
    from otter.test_files.exception_test import ExceptionTestFile

    test_file = ExceptionTestFile.from_string(source, path=f"{name}.py")
    test_file.run(globs)
    for index, result in enumerate(test_file.test_case_results):
        record(f"{name}/{index}", {"passed": bool(result.passed)})
