"""nbgrader cell metadata and the region markers of a source notebook: read in one place.

Which cell is an answer, a test, a read-only cell; where a solution, the hidden tests and the
host checks (see :mod:`gradehub.checks`) begin and end.
"""

from __future__ import annotations

from typing import Any

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
BEGIN_HOST, END_HOST = "### BEGIN HOST CHECKS", "### END HOST CHECKS"


class MarkerError(ValueError):
    """A region opened and never closed (an authoring error)."""


def nbgrader_meta(cell: Any) -> dict | None:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    if isinstance(nbg, dict) and isinstance(nbg.get("grade_id"), str) and nbg["grade_id"]:
        return nbg
    return None


def graded_meta(cell: Any) -> dict:
    """:func:`nbgrader_meta` of a cell already known to carry it (a test or an answer cell)."""
    nbg = nbgrader_meta(cell)
    if nbg is None:
        raise ValueError("not a graded nbgrader cell")
    return nbg


def is_solution(cell: Any) -> bool:
    nbg = nbgrader_meta(cell)
    return bool(nbg and nbg.get("solution") is True)


def is_test_cell(cell: Any) -> bool:
    """An autograded test: a graded, locked code cell that is not an answer."""
    meta = nbgrader_meta(cell)
    return bool(meta and meta.get("grade") and not meta.get("solution") and cell.get("cell_type") == "code")


def split_host_checks(source: str) -> tuple[str, str | None]:
    """(what a kernel may run, the host checks or None). Markers must stand on their own line."""
    kernel: list[str] = []
    host: list[str] = []
    inside = found = False
    for line in source.splitlines(keepends=True):
        marker = line.strip()
        if marker == BEGIN_HOST and not inside:
            inside = found = True
            continue
        if marker == END_HOST and inside:
            inside = False
            continue
        (host if inside else kernel).append(line)
    if inside:
        raise MarkerError(f"{BEGIN_HOST} without {END_HOST}")
    return "".join(kernel), ("".join(host) if found else None)


def kernel_source(source: str) -> str:
    """The cell's source with its host checks removed (never raises: an unclosed region is cut)."""
    try:
        return split_host_checks(source)[0]
    except MarkerError:
        return source.split(BEGIN_HOST, 1)[0]


def strip_host_checks(nb: Any) -> Any:
    """``nb`` with the host checks of its test cells removed, in place; returns it."""
    for cell in nb.cells:
        if is_test_cell(cell):
            cell.source = kernel_source(cell.source)
    return nb


def host_checks_of(source_nb: Any) -> dict[str, str | None]:
    """grade_id -> host checks (None for an old-style test cell) of every test cell."""
    return {graded_meta(c)["grade_id"]: split_host_checks(c.source)[1] for c in source_nb.cells if is_test_cell(c)}
