"""Otter's test files as typed questions: what runs in the kernel, what stays on the host.

OK-format files (``tests/q1.py`` with ``OK_FORMAT = True``, or the ``otter.tests`` metadata of
a notebook) are read with otter-grader's own parser (:class:`otter.test_files.OKTestFile`), so
the points of each case are resolved exactly as otter resolves them (a question's ``points``
shared among cases without their own, a list of per-case points, 1 point shared when nothing
is given). Each case's doctest is split with the standard library's ``doctest.DocTestParser``
into examples: the *source* goes to the kernel, the expected output (``want``), the expected
exception and the doctest options stay on the host.

Where an example's expected output is ``True`` or ``False`` and the example is a comparison
the host can evaluate itself (``0 < x < 100``, ``np.isclose(f(2), 4.0)``, ``len(z) == 10``),
its source is rewritten so that every *operand* the student computes passes through the
kernel's ``__gradehub_leaf__``, which records it; the host then evaluates the comparison with
its own numpy (see :func:`host_value`). A kernel that merely prints ``True`` earns nothing there.

Otter's other test kinds (Python files with ``@test_case`` functions, which can only run in the
kernel) become :class:`Question` objects with ``in_kernel`` set: graded, reported as unverified.
"""

from __future__ import annotations

import ast
import doctest
import json
import math
import pprint
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LEAF_NAME = "__gradehub_leaf__"  # = gradehub.otter.kernel.LEAF_NAME
BOOLEAN_WANTS = {
    "True": True,
    "False": False,
    "np.True_": True,
    "np.False_": False,
    "numpy.True_": True,
    "numpy.False_": False,
}
# What the host evaluates itself in a comparison; anything else is an operand from the kernel.
_HOST_FUNCTIONS: dict[str, Any] = {
    "abs": abs,
    "len": len,
    "round": round,
    "min": min,
    "max": max,
    "sum": sum,
    "all": all,
    "any": any,
    "bool": bool,
    "float": float,
    "int": int,
    "math.isclose": math.isclose,
    "math.sqrt": math.sqrt,
    "math.isfinite": math.isfinite,
}
for _fn in (
    "isclose",
    "allclose",
    "array_equal",
    "all",
    "any",
    "abs",
    "sum",
    "mean",
    "std",
    "round",
    "sqrt",
    "isfinite",
    "max",
    "min",
):
    _HOST_FUNCTIONS[f"np.{_fn}"] = getattr(np, _fn)
    _HOST_FUNCTIONS[f"numpy.{_fn}"] = getattr(np, _fn)


class OtterTestError(ValueError):
    """A test file gradehub cannot grade; the message names the file and what is unsupported."""


@dataclass
class Example:
    """One doctest example: ``source`` (and ``kernel_source``) go to the kernel, the rest stays here."""

    source: str
    want: str
    exc_msg: str | None
    options: dict[int, bool]
    kernel_source: str  # the source, with operands wrapped for the host's own evaluation where it can
    host_expression: str | None  # the comparison over __leaf_<j> names, evaluated on the host

    @property
    def expected_truth(self) -> bool | None:
        return BOOLEAN_WANTS.get(self.want.strip()) if self.exc_msg is None else None

    @property
    def skip(self) -> bool:
        return bool(self.options.get(doctest.SKIP, False))


@dataclass
class Case:
    name: str
    hidden: bool
    points: float
    success_message: str | None
    failure_message: str | None
    examples: list[Example]
    body: str = ""  # the doctest as written (public cases go to the students' tests/ files)


@dataclass
class Question:
    name: str
    cases: list[Case]
    all_or_nothing: bool = False
    in_kernel: str | None = None  # a test file that only runs in the kernel (its source), else None
    points: float = 0.0  # what the question is worth (the sum of its cases' points)
    file_points: Any = None

    @property
    def possible(self) -> float:
        return self.points

    def public(self) -> Question:
        return Question(
            self.name,
            [c for c in self.cases if not c.hidden],
            self.all_or_nothing,
            self.in_kernel,
            self.points,
            self.file_points,
        )

    def public_test_file(self) -> str:
        """An OK-format test file with the public cases only (what ``grader.check`` runs)."""
        spec = {
            "name": self.name,
            "points": self.file_points if not isinstance(self.file_points, list) else None,
            "all_or_nothing": self.all_or_nothing,
            "suites": [
                {
                    "cases": [
                        {
                            "code": c.body,
                            "hidden": False,
                            "locked": False,
                            "points": c.points,
                            **({"success_message": c.success_message} if c.success_message else {}),
                            **({"failure_message": c.failure_message} if c.failure_message else {}),
                        }
                        for c in self.cases
                        if not c.hidden
                    ],
                    "scored": True,
                    "setup": "",
                    "teardown": "",
                    "type": "doctest",
                }
            ],
        }
        return "OK_FORMAT = True\n\ntest = " + pprint.pformat(spec, sort_dicts=False, width=100) + "\n"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Question:
        data = json.loads(text)
        cases = []
        for c in data["cases"]:
            examples = [
                Example(**{**e, "options": {int(k): bool(v) for k, v in e["options"].items()}}) for e in c["examples"]
            ]
            cases.append(Case(**{**c, "examples": examples}))
        return cls(**{**data, "cases": cases})


# ----------------------------------------------------------------------------- the host's evaluation


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


class _Split(ast.NodeTransformer):
    """Two trees from one: the kernel's (operands wrapped) and the host's (operands as names)."""

    def __init__(self) -> None:
        self.leaves = 0

    def structural(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, (ast.Compare, ast.BoolOp, ast.BinOp, ast.Tuple, ast.List)):
            return True
        if isinstance(node, ast.UnaryOp):
            return isinstance(node.op, (ast.Not, ast.USub, ast.UAdd))
        if isinstance(node, ast.Call):
            return (
                _dotted(node.func) in _HOST_FUNCTIONS
                and not any(isinstance(a, ast.Starred) for a in node.args)
                and all(k.arg is not None for k in node.keywords)
            )
        return False

    def split(self, node: ast.expr) -> tuple[ast.expr, ast.expr]:
        if not self.structural(node):
            number = self.leaves
            self.leaves += 1
            kernel = ast.Call(ast.Name(LEAF_NAME, ast.Load()), [ast.Constant(number), node], [])
            return kernel, ast.Name(f"__leaf_{number}", ast.Load())
        if isinstance(node, ast.Constant):
            return node, node
        if isinstance(node, ast.Compare):
            left = self.split(node.left)
            rights = [self.split(c) for c in node.comparators]
            return (
                ast.Compare(left[0], node.ops, [r[0] for r in rights]),
                ast.Compare(left[1], node.ops, [r[1] for r in rights]),
            )
        if isinstance(node, ast.BoolOp):
            values = [self.split(v) for v in node.values]
            return ast.BoolOp(node.op, [v[0] for v in values]), ast.BoolOp(node.op, [v[1] for v in values])
        if isinstance(node, ast.BinOp):
            left, right = self.split(node.left), self.split(node.right)
            return ast.BinOp(left[0], node.op, right[0]), ast.BinOp(left[1], node.op, right[1])
        if isinstance(node, ast.UnaryOp):
            inner = self.split(node.operand)
            return ast.UnaryOp(node.op, inner[0]), ast.UnaryOp(node.op, inner[1])
        if isinstance(node, (ast.Tuple, ast.List)):
            items = [self.split(e) for e in node.elts]
            # the host compares recorded sequences as lists (a recorded tuple arrives as a list)
            return type(node)([i[0] for i in items], ast.Load()), ast.List([i[1] for i in items], ast.Load())
        if not isinstance(node, ast.Call):  # structural() admits nothing else
            raise TypeError(type(node).__name__)
        args = [self.split(a) for a in node.args]
        kwargs = [(k.arg, self.split(k.value)) for k in node.keywords]
        host_func = ast.Name("__fn_" + str(_dotted(node.func)).replace(".", "_"), ast.Load())
        return (
            ast.Call(node.func, [a[0] for a in args], [ast.keyword(n, v[0]) for n, v in kwargs]),
            ast.Call(host_func, [a[1] for a in args], [ast.keyword(n, v[1]) for n, v in kwargs]),
        )


def split_example(source: str, want: str, exc_msg: str | None) -> tuple[str, str | None]:
    """(kernel source, host expression or None) for one example."""
    if exc_msg is not None or want.strip() not in BOOLEAN_WANTS:
        return source, None
    try:
        tree = ast.parse(source, mode="single")
    except SyntaxError:
        return source, None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return source, None
    splitter = _Split()
    if not splitter.structural(tree.body[0].value):
        return source, None  # `x` or `isinstance(x, int)`: the kernel's word only
    kernel, host = splitter.split(tree.body[0].value)
    kernel_tree = ast.Interactive([ast.Expr(kernel)])
    ast.fix_missing_locations(kernel_tree)
    host_tree = ast.Expression(host)
    ast.fix_missing_locations(host_tree)
    return ast.unparse(kernel_tree) + "\n", ast.unparse(host_tree)


def host_value(expression: str, leaves: dict[int, Any]) -> Any:
    """Evaluate a host expression over recorded operands, with the host's own functions only."""
    namespace: dict[str, Any] = {"__builtins__": {}}
    for dotted, fn in _HOST_FUNCTIONS.items():
        namespace["__fn_" + dotted.replace(".", "_")] = fn
    for number, value in leaves.items():
        namespace[f"__leaf_{number}"] = value
    code = compile(expression, "<host evaluation>", "eval")
    return eval(code, namespace)  # noqa: S307 - only comparisons, constants and the functions above


# ----------------------------------------------------------------------------- parsing


def _examples(body: str, name: str) -> list[Example]:
    parsed = doctest.DocTestParser().parse(body, name)
    out = []
    for item in parsed:
        if isinstance(item, doctest.Example):
            kernel, host = split_example(item.source, item.want, item.exc_msg)
            out.append(Example(item.source, item.want, item.exc_msg, dict(item.options), kernel, host))
    return out


def question_from_spec(spec: dict, origin: str) -> Question:
    """An OK-format test (the ``test`` dict of a file, or notebook metadata) as a :class:`Question`."""
    from otter.test_files.ok_test import OKTestFile

    try:
        parsed = OKTestFile.from_spec(spec, path=origin)
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        raise OtterTestError(
            f"{origin}: not an OK-format test gradehub can grade "
            f"(one doctest suite, no setup or teardown): {type(exc).__name__} {exc}".rstrip()
        ) from None
    cases: list[Case] = []
    for case in parsed.test_cases:
        try:
            examples = _examples(case.body, f"{parsed.name} {len(cases)}")
        except ValueError as exc:
            raise OtterTestError(f"{origin}: case {case.name!r} is not a valid doctest: {exc}") from None
        cases.append(
            Case(
                case.name,
                bool(case.hidden),
                float(case.points or 0.0),
                case.success_message,
                case.failure_message,
                examples,
                case.body,
            )
        )
    return Question(
        parsed.name,
        cases,
        bool(parsed.all_or_nothing),
        points=float(sum(c.points for c in cases)),
        file_points=spec.get("points"),
    )


def read_test_file(path: Path) -> Question:
    """One file of a ``tests/`` directory: OK-format, or otter's in-kernel (exception) format."""
    text = path.read_text(encoding="utf-8")
    namespace: dict[str, Any] = {}
    try:
        exec(compile(text, str(path), "exec"), namespace)  # noqa: S102 - the instructor's own test file
    except Exception as exc:  # noqa: BLE001 - any error is the file's; say so
        raise OtterTestError(f"{path.name}: the test file does not run: {type(exc).__name__}: {exc}") from None
    if namespace.get("OK_FORMAT") is True and isinstance(namespace.get("test"), dict):
        return question_from_spec(namespace["test"], path.name)
    if namespace.get("OK_FORMAT") is False or "OK_FORMAT" not in namespace:
        from otter.test_files.exception_test import ExceptionTestFile

        try:
            parsed = ExceptionTestFile.from_file(str(path))
        except Exception as exc:  # noqa: BLE001
            raise OtterTestError(f"{path.name}: neither an OK-format nor an otter exception test: {exc}") from None
        cases: list[Case] = [
            Case(c.name, bool(c.hidden), float(c.points or 0.0), c.success_message, c.failure_message, [])
            for c in parsed.test_cases
        ]
        return Question(
            parsed.name, cases, bool(parsed.all_or_nothing), in_kernel=text, points=float(sum(c.points for c in cases))
        )
    raise OtterTestError(f"{path.name}: OK_FORMAT is set but there is no `test` dict")


def read_tests_dir(folder: Path) -> dict[str, Question]:
    """Every test of a ``tests/`` directory, by question name, in name order."""
    questions: dict[str, Question] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("__"):
            continue
        question = read_test_file(path)
        questions[question.name] = question
    if not questions:
        raise OtterTestError(f"{folder} holds no test file")
    return questions


def read_autograder_zip(path: Path, into: Path) -> tuple[dict[str, Question], dict]:
    """The tests and ``otter_config.json`` of an ``autograder.zip`` (as ``otter grade -a`` takes it)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            for name in names:
                if name.startswith(("/", "..")) or ".." in Path(name).parts:
                    raise OtterTestError(f"{path.name}: unsafe path {name!r} in the archive")
            archive.extractall(into)
    except zipfile.BadZipFile:
        raise OtterTestError(f"{path.name} is not a zip file") from None
    config: dict = {}
    if (into / "otter_config.json").is_file():
        config = json.loads((into / "otter_config.json").read_text(encoding="utf-8"))
    if not (into / "tests").is_dir():
        raise OtterTestError(f"{path.name} has no tests/ directory")
    return read_tests_dir(into / "tests"), config


def metadata_questions(nb: Any) -> dict[str, Question]:
    """The tests a notebook carries in its ``otter.tests`` metadata (otter's default placement)."""
    tests = (nb.get("metadata", {}).get("otter") or {}).get("tests") or {}
    if not isinstance(tests, dict):
        return {}
    return {name: question_from_spec(spec, f"notebook metadata test {name}") for name, spec in tests.items()}


@dataclass
class QuestionSet:
    """All questions of an assignment, with the otter settings gradehub honours."""

    questions: dict[str, Question] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
