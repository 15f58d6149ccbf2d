"""The reference run: what the source notebook's own solution records, in a trusted run.

Host checks compare a student's recorded values with the reference's (``ref``). The reference
is the source notebook itself, sanitized and executed exactly like a submission, in the same
sandbox and image, so platform differences (BLAS, torch build) cancel. It runs once per
autograde run and is cached under ``.gradehub/reference/`` by a key over everything that can
change its values: the source notebook, the data files, the kernel-side module and the
sandbox. Its own values must pass its own checks; if they do not, grading stops: a verdict
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
    course: Course, assignment: str, names: list[str], data_files: list[DataFile], sandbox: dict[str, Any]
) -> str:
    digest = hashlib.sha256()
    for name in names:
        digest.update((course.grading_source_dir(assignment) / f"{name}.ipynb").read_bytes())
    for data in data_files:
        digest.update(data.name.encode())
        digest.update(Path(data.path).read_bytes())
    digest.update(Path(testing.__file__).read_bytes())
    digest.update(json.dumps(sandbox, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


def _cache_dir(course: Course, assignment: str) -> Path:
    return course.state_dir / "reference" / assignment


def load_cached(course: Course, assignment: str, names: list[str], key: str) -> dict[str, NotebookRecords] | None:
    folder = _cache_dir(course, assignment)
    try:
        if (folder / "key").read_text(encoding="utf-8").strip() != key:
            return None
        return {name: read_records(folder / f"{name}.records.json") for name in names}
    except (OSError, ValueError, KeyError):
        return None


def store(course: Course, assignment: str, records: dict[str, NotebookRecords], key: str) -> None:
    folder = _cache_dir(course, assignment)
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
    course: Course, assignment: str, names: list[str], key: str, run_job: Callable[[], JobRun]
) -> Reference:
    """The cached reference, or a fresh run through ``run_job`` (a worker job on the source)."""
    cached = load_cached(course, assignment, names, key)
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
    store(course, assignment, records, key)
    return Reference(records, verdicts, reply.duration)
