"""The shape of gradehub's imports, read from the sources (AST, nothing is imported):

* only ``gradehub/dockerapi.py`` imports the Docker SDK (``docker``);
* no import cycles between gradehub's modules (imports inside functions count too: a cycle
  hidden in a function is still two modules that need each other);
* no private name (``_name``) of one gradehub module used by another, neither imported
  (``from .x import _name``) nor read off the module (``x._name``).

A failure names the modules, the lines and the names. The checker itself is tested on a small
package made here.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gradehub"
DOCKER_WRAPPER = "gradehub.dockerapi"


@dataclass(frozen=True)
class Import:
    source: str     # the importing module
    target: str     # the imported module (a gradehub module, or an outside one such as "docker")
    line: int


@dataclass(frozen=True)
class PrivateUse:
    source: str
    target: str
    name: str
    line: int

    def __str__(self) -> str:
        return f"{self.source} (line {self.line}) uses {self.target}.{self.name}"


def _modules(package: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package's __init__) for every module under ``package``."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    if not level:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def scan(package: Path) -> tuple[dict[str, set[str]], list[Import], list[PrivateUse]]:
    """The import graph between the package's modules, every import, and the private uses."""
    modules = _modules(package)
    root = package.name
    graph: dict[str, set[str]] = {m: set() for m in modules}
    imports: list[Import] = []
    private: list[PrivateUse] = []
    for module, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        bound: dict[str, str] = {}   # local name -> the package module it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    imports.append(Import(module, alias.name, node.lineno))
                    if alias.name in modules:
                        graph[module].add(alias.name)
                        if alias.asname:
                            bound[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom):
                target = _absolute(module, is_package, node.level, node.module)
                imports.append(Import(module, target, node.lineno))
                if target != root and not target.startswith(root + "."):
                    continue
                for alias in node.names:
                    submodule = f"{target}.{alias.name}"
                    if submodule in modules:            # from . import docker
                        graph[module].add(submodule)
                        imports.append(Import(module, submodule, node.lineno))
                        bound[alias.asname or alias.name] = submodule
                        continue
                    if target in modules and target != module:
                        graph[module].add(target)
                    if alias.name.startswith("_") and not alias.name.startswith("__") and target != module:
                        private.append(PrivateUse(module, target, alias.name, node.lineno))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                    and node.attr.startswith("_") and not node.attr.startswith("__")
                    and bound[node.value.id] != module):
                private.append(PrivateUse(module, bound[node.value.id], node.attr, node.lineno))
    return graph, imports, private


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as a cycle
    path ``[a, b, ..., a]`` through the component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_through(graph, component) for component in components]


def _cycle_through(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle from the component's first module back to itself (breadth first)."""
    start = min(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if v != start else [start, start]
                if w not in previous:
                    previous[w] = v
                    following.append(w)
        frontier = following
    return sorted(component)


def _describe(cycle: list[str], imports: list[Import]) -> str:
    steps = []
    for a, b in zip(cycle, cycle[1:]):
        lines = sorted({i.line for i in imports if i.source == a and (i.target == b or i.target.startswith(b + "."))})
        steps.append(f"{a} imports {b} (line {', '.join(map(str, lines)) or '?'})")
    return "; ".join(steps)


# ----------------------------------------------------------------------------- gradehub


@pytest.fixture(scope="module")
def gradehub_scan():
    return scan(PACKAGE)


def test_only_the_wrapper_imports_the_docker_sdk(gradehub_scan):
    _, imports, _ = gradehub_scan
    offenders = sorted(f"{i.source} (line {i.line}): import {i.target}" for i in imports
                       if (i.target == "docker" or i.target.startswith("docker.")) and i.source != DOCKER_WRAPPER)
    assert not offenders, ("only gradehub/dockerapi.py may import the Docker SDK; use its Engine instead:\n  "
                           + "\n  ".join(offenders))
    assert any(i.source == DOCKER_WRAPPER and i.target == "docker" for i in imports)


def test_no_import_cycles(gradehub_scan):
    graph, imports, _ = gradehub_scan
    found = cycles(graph)
    assert not found, "import cycles (move the shared part to a module both can import):\n  " + "\n  ".join(
        _describe(c, imports) for c in found)


def test_no_private_names_across_modules(gradehub_scan):
    _, _, private = gradehub_scan
    assert not private, ("private names used across modules (make them public where they are API, "
                         "or move them):\n  " + "\n  ".join(map(str, sorted(private, key=str))))


def test_the_command_line_entry_points_import():
    import gradehub.cli as cli
    assert callable(cli.main)
    import gradehub.demo  # noqa: F401 - no longer through the CLI


# ----------------------------------------------------------------------------- the checker


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def test_the_checker_finds_a_cycle_through_a_function_level_import(tmp_path):
    package = _package(tmp_path, {
        "a.py": "from .b import helper\n",
        "b.py": "def helper():\n    from .c import thing\n    return thing\n",
        "c.py": "import pkg.a\nthing = 1\n",
        "d.py": "from . import a\n",
    })
    graph, imports, _ = scan(package)
    [cycle] = cycles(graph)
    assert cycle == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    assert _describe(cycle, imports) == ("pkg.a imports pkg.b (line 1); pkg.b imports pkg.c (line 2); "
                                         "pkg.c imports pkg.a (line 1)")


def test_the_checker_finds_private_names_across_modules(tmp_path):
    package = _package(tmp_path, {
        "a.py": "_secret = 1\n__version__ = '1'\nuse = _secret\n",
        "b.py": "from .a import _secret, __version__\n",
        "c.py": "from . import a\nfrom .sub import x as renamed\nprint(a._secret, a.__version__, renamed._y)\n",
        "sub/__init__.py": "",
        "sub/x.py": "from .. import a\nfrom ..a import use\n_y = a._secret\n",
    })
    _, _, private = scan(package)
    assert sorted(map(str, private)) == [
        "pkg.b (line 1) uses pkg.a._secret",
        "pkg.c (line 3) uses pkg.a._secret",
        "pkg.c (line 3) uses pkg.sub.x._y",
        "pkg.sub.x (line 3) uses pkg.a._secret",
    ]


def test_the_checker_finds_the_docker_sdk(tmp_path):
    package = _package(tmp_path, {"a.py": "def f():\n    import docker.errors\n", "b.py": "from . import docker\n",
                                  "docker.py": ""})
    _, imports, _ = scan(package)
    assert [(i.source, i.target) for i in imports if i.target.split(".")[0] == "docker"] == [("pkg.a", "docker.errors")]
