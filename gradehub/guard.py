"""Runs *inside* the student's kernel: undo and report tampering with how tests run.

The executor adds a hidden first cell that calls :func:`install` (before any student code)
and, before every graded test cell, a guard cell that calls :func:`check`. ``check`` puts back
what a student may have changed to make later cells run differently or to make tests pass
without earning it, and prints one line naming what it had to restore:

- IPython's input and AST transformers, event callbacks, custom exception handlers,
  ``run_cell``/``showtraceback`` overrides, ``sys.settrace``/``setprofile``, ``sys.stdout``/``displayhook``;
- builtins (``AssertionError``, ``print``, ``isinstance``, ...);
- the assertion helpers of :mod:`gradehub.testing` and the numpy/torch/math functions
  that tests use (``allclose``, ``isclose``, ``testing.assert_allclose`` ...).

This is a tripwire, not a proof: code running in the same process can defeat any in-process
check. No point depends on it: verdicts are decided on the host from recorded values (see
:mod:`gradehub.checks`). What it finds is flagged for a person, and an honest notebook
(matplotlib, seaborn, tqdm, warnings) is never flagged.
"""

from __future__ import annotations

import builtins
import json
import sys

_state: dict = {}

# (module name, attribute path) of functions hidden tests rely on.
_WATCHED = [
    ("math", "isclose"),
    ("math", "isfinite"),
    ("numpy", "allclose"),
    ("numpy", "isclose"),
    ("numpy", "array_equal"),
    ("numpy", "abs"),
    ("numpy", "asarray"),
    ("numpy", "array"),
    ("numpy", "all"),
    ("numpy", "any"),
    ("numpy.testing", "assert_allclose"),
    ("numpy.testing", "assert_array_equal"),
    ("torch", "allclose"),
    ("torch", "isclose"),
    ("torch", "equal"),
    ("torch.testing", "assert_close"),
]
_KERNEL_MANAGED_BUILTINS = frozenset(
    {"_", "__", "___", "input", "raw_input", "getpass", "display", "get_ipython", "__IPYTHON__"}
)
_IP_METHODS = (
    "run_cell",
    "run_cell_async",
    "run_ast_nodes",
    "run_code",
    "showtraceback",
    "_showtraceback",
    "showsyntaxerror",
    "transform_cell",
)


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _watched_now() -> dict:
    found = {}
    for module, attr in _WATCHED:
        mod = sys.modules.get(module)
        if mod is not None and hasattr(mod, attr):
            found[(module, attr)] = getattr(mod, attr)
    return found


def install(token: str) -> None:
    """Snapshot the pristine state; called before any student code runs."""
    import gradehub.testing as testing

    ip = _shell()
    _state.clear()
    _state["token"] = token
    _state["builtins"] = dict(vars(builtins))
    _state["testing"] = {name: getattr(testing, name) for name in testing.__all__}
    _state["watched"] = _watched_now()
    _state["displayhook"] = sys.displayhook
    _state["stdout"], _state["stderr"] = sys.stdout, sys.stderr
    if ip is not None:
        _state["cleanup"] = list(ip.input_transformers_cleanup)
        _state["post"] = list(ip.input_transformers_post)
        _state["ast"] = list(ip.ast_transformers)
        _state["events"] = {name: list(cbs) for name, cbs in ip.events.callbacks.items()}
        _state["custom_exceptions"] = ip.custom_exceptions
        _state["ip_dict"] = {k: v for k, v in vars(ip).items() if k in _IP_METHODS}
        _state["ip_class"] = type(ip)


_LIBRARY_PREFIXES = (
    "matplotlib",
    "matplotlib_inline",
    "IPython",
    "ipykernel",
    "ipywidgets",
    "seaborn",
    "tqdm",
    "plotly",
    "torch",
    "numpy",
    "scipy",
    "pandas",
)


def _is_library_callback(cb) -> bool:
    """A callback defined in a library's module file (not in a notebook cell)."""
    func = getattr(cb, "__func__", cb)
    code = getattr(func, "__code__", None)
    module = getattr(func, "__module__", "") or ""
    filename = getattr(code, "co_filename", "") if code is not None else ""
    in_library_file = "site-packages" in filename or "dist-packages" in filename or "/lib/python" in filename
    return in_library_file and module.split(".")[0] in _LIBRARY_PREFIXES


def _restore_list(target: list, pristine: list, what: str, found: list[str]) -> None:
    if target != pristine:
        found.append(what)
        target[:] = pristine


# Aliases nobody uses for anything else, and aliases that are also plausible variable names
# (restored only once the notebook has been seen using them for the module).
_MODULE_ALIASES = {"np": "numpy", "numpy": "numpy", "torch": "torch", "math": "math", "scipy": "scipy"}
_SOFT_ALIASES = {"stats": "scipy.stats", "nn": "torch.nn", "F": "torch.nn.functional"}


def _restore_user_names(user_ns: dict, found: list[str]) -> None:
    """Names tests use from the notebook's globals: helpers and the usual module aliases."""
    for name, fn in _state.get("testing", {}).items():
        if name in user_ns and user_ns[name] is not fn:
            found.append(f"notebook name {name!r}")
            user_ns[name] = fn
    seen = _state.setdefault("aliases_seen", set())
    for alias, module in {**_MODULE_ALIASES, **_SOFT_ALIASES}.items():
        real = sys.modules.get(module)
        if alias not in user_ns or real is None:
            continue
        if user_ns[alias] is real:
            seen.add(alias)
        elif alias in _MODULE_ALIASES or alias in seen:
            found.append(f"notebook name {alias!r}")
            user_ns[alias] = real


def check(challenge: str) -> None:
    """Restore the pristine state and print one line: the challenge and what was restored."""
    found: list[str] = []
    ip = _shell()
    if sys.gettrace() is not None:
        found.append("sys.settrace")
        sys.settrace(None)
    if sys.getprofile() is not None:
        found.append("sys.setprofile")
        sys.setprofile(None)
    import threading

    if getattr(threading, "_trace_hook", None) is not None or getattr(threading, "_profile_hook", None) is not None:
        found.append("threading.settrace")
        threading.settrace(None)
        threading.setprofile(None)
    if sys.displayhook is not _state.get("displayhook"):
        found.append("sys.displayhook")
        sys.displayhook = _state["displayhook"]
    for name in ("stdout", "stderr"):
        if name in _state and getattr(sys, name) is not _state[name]:
            found.append(f"sys.{name}")
            setattr(sys, name, _state[name])
    pristine_builtins = _state.get("builtins", {})
    current = vars(builtins)
    for name, value in pristine_builtins.items():
        # ipykernel swaps input()/getpass per request and IPython keeps _, __, ___ up to date.
        if current.get(name) is not value and name not in _KERNEL_MANAGED_BUILTINS:
            found.append(f"builtins.{name}")
            current[name] = value
    import gradehub.testing as testing

    if sys.modules.get("gradehub.testing") is not testing:
        found.append("sys.modules['gradehub.testing']")
        sys.modules["gradehub.testing"] = testing
    for name, fn in _state.get("testing", {}).items():
        if getattr(testing, name, None) is not fn:
            found.append(f"gradehub.testing.{name}")
            setattr(testing, name, fn)
    for (module, attr), fn in _state.get("watched", {}).items():
        mod = sys.modules.get(module)
        if mod is not None and getattr(mod, attr, None) is not fn:
            found.append(f"{module}.{attr}")
            setattr(mod, attr, fn)
    if ip is not None and _state:
        _restore_user_names(ip.user_ns, found)
        _restore_list(ip.input_transformers_cleanup, _state["cleanup"], "input transformers", found)
        _restore_list(ip.input_transformers_post, _state["post"], "input transformers", found)
        _restore_list(ip.ast_transformers, _state["ast"], "AST transformers", found)
        for name, cbs in ip.events.callbacks.items():
            pristine = _state["events"].setdefault(name, [])
            # Libraries an honest notebook uses register callbacks of their own (matplotlib's
            # inline backend draws figures in post_execute): accept those as pristine.
            pristine.extend(cb for cb in cbs if cb not in pristine and _is_library_callback(cb))
            _restore_list(cbs, pristine, f"'{name}' event callbacks", found)
        if ip.custom_exceptions != _state["custom_exceptions"]:
            found.append("custom exception handler")
            ip.set_custom_exc((), None)
            ip.custom_exceptions = _state["custom_exceptions"]
        for name in _IP_METHODS:
            if name in vars(ip) and vars(ip)[name] is not _state["ip_dict"].get(name):
                found.append(f"shell.{name}")
                if name in _state["ip_dict"]:
                    setattr(ip, name, _state["ip_dict"][name])
                else:
                    delattr(ip, name)
        if type(ip) is not _state["ip_class"]:
            found.append("shell class")
            ip.__class__ = _state["ip_class"]
    line = f"gradehub-guard {challenge} {json.dumps(sorted(set(found)))}\n"
    # Through the kernel's own stream object, not a print() the student may have replaced.
    out = sys.stdout
    type(out).write(out, line)
    type(out).flush(out)
