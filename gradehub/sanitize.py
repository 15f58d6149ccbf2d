"""Turn a submitted notebook into the only notebook the sandbox may execute.

The student's file is untrusted: it may be invalid JSON, oversize, have test cells edited,
deleted, duplicated or stripped of their nbgrader metadata. The sanitized notebook is built
from the *source* notebook's structure:

- test and read-only cells always come from the source (hidden tests included), at their
  source position, whatever the student did to them;
- the variant cell (per-student variants) holds the variant of the student being graded, as the
  grader derived it from the course secret, whatever the submission's copy says;
- answer cells keep the student's text but get the release's metadata (points, checksum);
- cells the student added stay, after the graded cell they followed;
- a stripped or duplicated graded cell becomes a plain student cell (its text is kept, its
  claim to be a test is not);
- outputs, execution counts, widgets and kernelspec are reset.

Nothing here raises for bad input: the result says what was wrong.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from .metadata import graded_meta, is_solution, is_test_cell, kernel_source, nbgrader_meta
from .variants import Variant, render_source, variant_meta

__all__ = ["SanitizeResult", "is_solution", "nbgrader_meta", "read_untrusted_notebook", "sanitize"]

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
_CELL_TYPES = ("code", "markdown", "raw")


@dataclass
class SanitizeResult:
    notebook: NotebookNode | None
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # set when the submission cannot be executed at all
    restored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.notebook is not None


def _text(source: Any) -> str | None:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return None


def read_untrusted_notebook(path: Path, max_bytes: int) -> tuple[list[dict] | None, str | None]:
    """The cells of a submitted file as plain dicts, or an error a student can read."""
    try:
        if path.is_symlink() or not path.is_file():
            return None, f"{path.name} is not a regular file"
        size = path.stat().st_size
        if size > max_bytes:
            return None, (
                f"notebook is {size / 2**20:.1f} MiB, over the limit of "
                f"{max_bytes / 2**20:.0f} MiB (large outputs or embedded data?)"
            )
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"cannot read {path.name}: {exc.strerror}"
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "notebook is not UTF-8 text"
    except json.JSONDecodeError as exc:
        return None, f"notebook is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
    except RecursionError:
        return None, "notebook JSON is nested too deeply"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return None, "file is not a Jupyter notebook (no list of cells)"
    if data.get("nbformat") != 4:
        return None, f"notebook format {data.get('nbformat')!r} is not supported (expected 4)"
    return data["cells"], None


def _clean_student_cell(raw: dict, index: int) -> NotebookNode | str:
    """A fresh cell with the raw cell's type and text only, or why the raw cell is dropped."""
    ctype = raw.get("cell_type")
    text = _text(raw.get("source"))
    if ctype not in _CELL_TYPES or text is None:
        return f"dropped cell {index + 1}: not a valid notebook cell"
    if ctype == "code":
        cell = nbformat.v4.new_code_cell(text)
    elif ctype == "markdown":
        cell = nbformat.v4.new_markdown_cell(text)
        attachments = raw.get("attachments")
        if isinstance(attachments, dict):
            cell["attachments"] = attachments
    else:
        cell = nbformat.v4.new_raw_cell(text)
    return cell


def _drop_tags(source: NotebookNode) -> frozenset[str]:
    """Cell tags whose cells grading skips: an otter grading notebook names ``otter_ignore``
    (:mod:`gradehub.otter.build`), as otter's own grading drops those cells."""
    meta = source.metadata.get("gradehub")
    tags = meta.get("drop_tags") if isinstance(meta, dict) else None
    return frozenset(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else frozenset()


def _tagged(raw: dict, tags: frozenset[str]) -> bool:
    meta = raw.get("metadata")
    if not isinstance(meta, dict):
        return False
    cell_tags = meta.get("tags")
    otter_meta = meta.get("otter")
    return (isinstance(cell_tags, list) and any(t in tags for t in cell_tags if isinstance(t, str))) or (
        "otter_ignore" in tags and isinstance(otter_meta, dict) and otter_meta.get("ignore") is True
    )


def _restored(cell: NotebookNode) -> NotebookNode:
    out = copy.deepcopy(cell)
    if out.cell_type == "code":
        out.outputs = []
        out.execution_count = None
    return out


def sanitize(
    submitted_path: Path,
    source: NotebookNode,
    release: NotebookNode,
    max_bytes: int,
    variant: Variant | None = None,
) -> SanitizeResult:
    """Build the notebook to execute from a submission, its source and its release version.

    ``variant``: the student's variant of this notebook (None: the source's own variant cell)."""
    raw_cells, error = read_untrusted_notebook(submitted_path, max_bytes)
    if raw_cells is None:
        return SanitizeResult(None, error=error)

    notes: list[str] = []
    restored: list[str] = []
    release_by_id = {m["grade_id"]: c for c in release.cells if (m := nbgrader_meta(c))}
    anchors = [(m["grade_id"], c) for c in source.cells if (m := nbgrader_meta(c))]
    anchor_ids = {gid for gid, _ in anchors}

    # Walk the student's cells: claim at most one cell per grade id, attach the rest to the
    # graded cell they follow, so a helper cell written under an answer still runs before
    # the test that comes next.
    claimed: dict[str, NotebookNode] = {}
    attached: dict[str | None, list[NotebookNode]] = {None: []}
    current: str | None = None
    drop_tags = _drop_tags(source)
    for index, raw in enumerate(raw_cells):
        if not isinstance(raw, dict):
            notes.append(f"dropped cell {index + 1}: not a valid notebook cell")
            continue
        if drop_tags and _tagged(raw, drop_tags):
            notes.append(f"dropped cell {index + 1}: tagged {', '.join(sorted(drop_tags))} (not graded)")
            continue
        cell = _clean_student_cell(raw, index)
        if isinstance(cell, str):
            notes.append(cell)
            continue
        meta = nbgrader_meta(raw)
        gid = meta["grade_id"] if meta else None
        if gid is not None and gid in anchor_ids and gid not in claimed:
            claimed[gid] = cell
            current = gid
            attached.setdefault(gid, [])
            continue
        if gid in anchor_ids:
            notes.append(f"cell {index + 1} repeats the id {gid!r}; kept as an ungraded cell")
        elif gid is not None:
            notes.append(f"cell {index + 1} claims unknown id {gid!r}; kept as an ungraded cell")
        attached.setdefault(current, []).append(cell)

    cells: list[NotebookNode] = list(attached[None])
    for gid, src_cell in anchors:
        student_cell = claimed.get(gid)
        if is_solution(src_cell):
            rel = release_by_id.get(gid, src_cell)
            if student_cell is not None:
                cell = _restored(rel)
                cell.source = student_cell.source
                if rel.cell_type == "markdown" and student_cell.get("attachments"):
                    cell["attachments"] = student_cell["attachments"]
                if student_cell.cell_type != rel.cell_type:
                    notes.append(
                        f"answer {gid!r} was changed to a {student_cell.cell_type} cell; graded as {rel.cell_type}"
                    )
                cells.append(cell)
            elif graded_meta(src_cell).get("grade"):
                # A manually graded answer must exist for the gradebook; the stub scores 0.
                cells.append(_restored(rel))
                notes.append(f"answer cell {gid!r} is missing; counted as unanswered")
            else:
                notes.append(
                    f"answer cell {gid!r} is missing or lost its metadata; "
                    "the tests run against whatever the notebook defines"
                )
        else:
            restored_cell = _restored(src_cell)
            expected = release_by_id.get(gid, src_cell).source
            if is_test_cell(restored_cell):
                # Host checks hold the comparisons and expected values: they never reach a kernel.
                restored_cell.source = kernel_source(restored_cell.source)
            elif variant is not None and variant_meta(src_cell) is not None:
                # The student's variant comes from the secret, never from their copy of the cell.
                restored_cell.source = expected = render_source(variant)
            cells.append(restored_cell)
            if student_cell is None:
                restored.append(gid)
                notes.append(f"restored cell {gid!r} (deleted or stripped of its metadata)")
            elif student_cell.source != expected or student_cell.cell_type != src_cell.cell_type:
                restored.append(gid)
                notes.append(f"restored cell {gid!r} (edited)")
        cells.extend(attached.get(gid, []))

    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    used: set[str] = set()
    for i, cell in enumerate(cells):
        meta = nbgrader_meta(cell)
        cell_id = meta["grade_id"] if meta else f"student-{i}"
        base, n = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in cell_id)[:60], 1
        cell_id = base or f"cell-{i}"
        while cell_id in used:
            n += 1
            cell_id = f"{base}-{n}"
        used.add(cell_id)
        cell["id"] = cell_id
    nb.cells = cells
    return SanitizeResult(nb, notes=notes, restored=restored)
