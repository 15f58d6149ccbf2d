"""The reference run: what the source notebook's own solution records, in a trusted run.

Host checks compare a student's recorded values with the reference's (``ref``). The reference
is the source notebook itself, sanitized and executed exactly like a submission, in the same
sandbox and image, so platform differences (BLAS, torch build) cancel. It runs once per
autograde run and is cached under ``.gradehub/reference/`` by a key over everything that can
change its values: the source notebook, the data files, the kernel-side module and the
sandbox, and, for a sheet with per-student variants, the variant: the reference runs on each
student's own variant (its own cache folder), so a value copied from another variant fails.
Its own values must pass its own checks; if they do not, grading stops: a verdict
against a broken reference means nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

import nbformat

from . import testing
from .checks import AuthoringError, notebook_verdicts
from .course import Course
from .protocol import DataFile, JobRun, NotebookRecords, Verdict, read_records, write_records
from .sandbox.base import Outcome
from .variants import Variant

REFERENCE_ID = "(reference)"


class ReferenceError(Exception):  # noqa: A001 - public name; the builtin (weakref) is unused here
    """The reference solution did not run, or fails its own checks."""


@dataclass
class Reference:
    records: dict[str, NotebookRecords] = field(default_factory=dict)  # notebook -> records
    verdicts: list[Verdict] = field(default_factory=list)
    duration: float = 0.0
    cached: bool = False


def reference_key(
    course: Course,
    assignment: str,
    names: list[str],
    data_files: list[DataFile],
    sandbox: dict[str, Any],
    variants: dict[str, Variant] | None = None,
) -> str:
    """``variants``: the variant the reference runs on (per-student variants: one reference each)."""
    digest = hashlib.sha256()
    if variants:
        digest.update(json.dumps({n: v.to_wire() for n, v in sorted(variants.items())}, default=str).encode())
    for name in names:
        digest.update((course.grading_source_dir(assignment) / f"{name}.ipynb").read_bytes())
    for data in data_files:
        digest.update(data.name.encode())
        digest.update(Path(data.path).read_bytes())
    digest.update(Path(testing.__file__).read_bytes())
    digest.update(json.dumps(sandbox, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


def variants_tag(variants: dict[str, Variant] | None) -> str | None:
    """One name for a student's variants of all notebooks of a sheet (None without variants)."""
    if not variants:
        return None
    return hashlib.sha256("/".join(f"{n}:{v.tag}" for n, v in sorted(variants.items())).encode()).hexdigest()[:16]


def _cache_dir(course: Course, assignment: str, tag: str | None = None) -> Path:
    folder = course.state_dir / "reference" / assignment
    return folder / "variants" / tag if tag else folder


def load_cached(
    course: Course, assignment: str, names: list[str], key: str, tag: str | None = None
) -> dict[str, NotebookRecords] | None:
    folder = _cache_dir(course, assignment, tag)
    try:
        if (folder / "key").read_text(encoding="utf-8").strip() != key:
            return None
        return {name: read_records(folder / f"{name}.records.json") for name in names}
    except (OSError, ValueError, KeyError):
        return None


def store(
    course: Course, assignment: str, records: dict[str, NotebookRecords], key: str, tag: str | None = None
) -> None:
    folder = _cache_dir(course, assignment, tag)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "key").unlink(missing_ok=True)
    for name, recs in records.items():
        write_records(recs, folder / f"{name}.records.json")
    (folder / "key").write_text(key, encoding="utf-8")


def check_reference(course: Course, assignment: str, records: dict[str, NotebookRecords]) -> list[Verdict]:
    """The reference's own values against its own checks; raises :class:`ReferenceError` on a problem."""
    verdicts: list[Verdict] = []
    problems: list[str] = []
    for name, recs in records.items():
        source = nbformat.read(course.grading_source_dir(assignment) / f"{name}.ipynb", as_version=4)
        try:
            found, errors = notebook_verdicts(name, source, None, {}, recs, recs, reference_run=True)
        except AuthoringError as exc:  # an unclosed host-check region, say: the author's to fix
            raise ReferenceError(f"{assignment}/{name}.ipynb: {exc}") from None
        verdicts.extend(found)
        problems.extend(f"{name}.ipynb {e}" for e in errors)
    if problems:
        raise ReferenceError(
            f"the reference solution of {assignment} fails its own host checks: " + "; ".join(problems[:5])
        )
    return verdicts


def run_reference(
    course: Course,
    assignment: str,
    names: list[str],
    key: str,
    run_job: Callable[[], JobRun],
    tag: str | None = None,
) -> Reference:
    """The cached reference, or a fresh run through ``run_job`` (a worker job on the source).

    ``tag`` (:func:`variants_tag`): the variant it runs on; each variant has its own cache."""
    cached = load_cached(course, assignment, names, key, tag)
    if cached is not None:
        return Reference(cached, check_reference(course, assignment, cached), cached=True)
    reply = run_job()
    if reply.failed:
        raise ReferenceError(f"the reference solution of {assignment} could not be run: {reply.failure()}")
    records: dict[str, NotebookRecords] = {}
    for run in reply.notebooks:
        if run.outcome != Outcome.COMPLETED.value or run.records is None:
            raise ReferenceError(
                f"the reference solution of {assignment} ({run.name}.ipynb) did not "
                f"complete in the sandbox: {run.message or run.outcome}"
            )
        records[run.name] = read_records(Path(run.records))
    verdicts = check_reference(course, assignment, records)
    store(course, assignment, records, key, tag)
    return Reference(records, verdicts, reply.duration)
