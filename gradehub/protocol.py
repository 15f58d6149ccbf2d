"""What crosses from a student's kernel to the grader, and what the grader decides: typed, in one place.

A hidden test records values in the kernel (:func:`gradehub.testing.record`); the executor takes
them out of the kernel's messages as :class:`Recorded` payloads, the worker writes them beside
the executed notebook, and the grader turns them into plain Python values with
:func:`decode_value` — strictly: ``null``, booleans, strings, ``.npy`` arrays of real numbers
(never pickle) and lists/dicts of these, within size caps. Anything else is a
:class:`RecordError` whose message the grader builds itself; no text the kernel sent is ever
repeated to a person.

:class:`Verdict` is the result of one graded cell; the gradebook, the summary, feedback and
reports read verdicts through :func:`verdicts_from_json`, not through dict keys.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RECORD_MIME = "application/vnd.gradehub.record.v1+json"  # = gradehub.testing.RECORD_MIME

MAX_NAME = 200
MAX_DEPTH = 10
MAX_STRING = 100_000
MAX_ITEMS = 1_000_000
MAX_ELEMENTS = 50_000_000

# Verdict kinds: how far a passed verdict can be trusted.
VERIFIED = "verified"  # decided on the host; only the right values pass
FORGEABLE = "forgeable"  # decided on the host, but every check could be passed by a forged record
UNVERIFIED = "unverified"  # an old-style test: the kernel's own reply decided
MANUAL = "manual"  # a free-response answer, graded by a person


class RecordError(ValueError):
    """A recorded value that is not plain data; the message is the grader's own words."""


@dataclass(frozen=True)
class Recorded:
    """One value a test cell recorded, as it arrived (``value`` still encoded), or why not."""

    name: str
    value: Any = None
    error: str | None = None

    @classmethod
    def from_message(cls, payload: Any) -> Recorded | None:
        """From a kernel message's payload; None when it names nothing usable."""
        if not isinstance(payload, dict):
            return None
        name = payload.get("name")
        if type(name) is not str or not name or len(name) > MAX_NAME:
            return None
        if "value" not in payload:
            # The kernel says why it could not record; its words are not repeated.
            return cls(name, error="the value could not be recorded as plain data")
        return cls(name, payload["value"])


def _decode_npy(text: Any) -> Any:
    if type(text) is not str:
        raise RecordError("an array is not encoded as .npy")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        arr = np.load(io.BytesIO(raw), allow_pickle=False)
    except (binascii.Error, ValueError, UnicodeEncodeError, OSError, EOFError) as exc:
        raise RecordError("an array is not a valid .npy without pickle") from exc
    if type(arr) is not np.ndarray or arr.dtype.names is not None or arr.dtype.kind not in "biuf":
        raise RecordError(
            f"an array of dtype {arr.dtype.str if hasattr(arr, 'dtype') else '?'} is not an array of real numbers"
        )
    if arr.size > MAX_ELEMENTS:
        raise RecordError(f"an array of {arr.size} elements is too large")
    kind = arr.dtype.kind
    arr = arr.astype(bool if kind == "b" else np.int64 if kind in "iu" else np.float64)
    if arr.ndim == 0:
        return arr.item()  # a Python bool / int / float
    arr.setflags(write=False)
    return arr


def decode_value(encoded: Any, _depth: int = 0) -> Any:
    """The plain value of an encoded record; :class:`RecordError` for anything else."""
    if _depth > MAX_DEPTH:
        raise RecordError("the value is nested too deeply")
    t = type(encoded)
    if encoded is None or t is bool:
        return encoded
    if t is str:
        if len(encoded) > MAX_STRING:
            raise RecordError(f"a string of {len(encoded)} characters is too long")
        return encoded
    if t is dict and len(encoded) == 1:
        ((key, inner),) = encoded.items()
        if key == "npy":
            return _decode_npy(inner)
        if key == "list" and type(inner) is list:
            if len(inner) > MAX_ITEMS:
                raise RecordError("a list is too long")
            return [decode_value(v, _depth + 1) for v in inner]
        if key == "dict" and type(inner) is dict:
            if len(inner) > MAX_ITEMS:
                raise RecordError("a dict is too large")
            return {str(k)[:MAX_NAME]: decode_value(v, _depth + 1) for k, v in inner.items()}
    raise RecordError("the value is not plain data (numbers, arrays, strings, booleans, lists, dicts)")


def safe_error_name(ename: Any) -> str | None:
    """A builtin exception's name from the kernel, or None: any other text could carry secrets."""
    if type(ename) is str and ename.isidentifier():
        candidate = getattr(builtins, ename, None)
        if isinstance(candidate, type) and issubclass(candidate, BaseException):
            return ename
    return None


@dataclass
class CellRecords:
    """What one test cell recorded in one run, and how the cell ended."""

    values: dict[str, Recorded] = field(default_factory=dict)
    status: str = "not_run"  # ok / error / timeout / not_run / ...
    error_name: str | None = None  # a builtin exception's name only
    duplicates: list[str] = field(default_factory=list)

    def add(self, rec: Recorded) -> None:
        if rec.name in self.values:
            self.duplicates.append(rec.name)
            self.values[rec.name] = Recorded(rec.name, error="it was recorded more than once")
        else:
            self.values[rec.name] = rec

    def to_json(self) -> dict:
        return {
            "status": self.status,
            "error_name": self.error_name,
            "values": [asdict(r) for r in self.values.values()],
        }

    @classmethod
    def from_json(cls, data: dict) -> CellRecords:
        cell = cls(status=str(data.get("status", "not_run")), error_name=safe_error_name(data.get("error_name")))
        for item in data.get("values", []):
            rec = Recorded(str(item["name"]), item.get("value"), item.get("error"))
            cell.values[rec.name] = rec
        return cell


#: grade_id -> what that test cell recorded
NotebookRecords = dict[str, CellRecords]


def write_records(records: NotebookRecords, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({gid: c.to_json() for gid, c in records.items()}), encoding="utf-8")
    tmp.replace(path)


def read_records(path: str | Path | None) -> NotebookRecords:
    if path is None or not Path(path).is_file():
        return {}
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {gid: CellRecords.from_json(c) for gid, c in data.items()}


@dataclass
class Verdict:
    """The grader's decision on one graded cell of one notebook."""

    notebook: str
    grade_id: str
    points: float | None  # None: waits for a person
    max_points: float
    kind: str  # VERIFIED / FORGEABLE / UNVERIFIED / MANUAL
    passed: bool | None = None  # None for manual cells
    reason: str = ""  # the grader's own words, for the student
    # per test case, where the cell's tests have cases (otter): name, hidden, passed, points,
    # max_points, message (the grader's words; always empty for a hidden case)
    cases: list[dict] = field(default_factory=list)

    @property
    def needs_manual(self) -> bool:
        return self.points is None


def verdicts_to_json(verdicts: list[Verdict]) -> list[dict]:
    return [asdict(v) for v in verdicts]


def verdicts_from_json(data: Any) -> list[Verdict]:
    out = []
    for item in data or []:
        out.append(
            Verdict(
                notebook=str(item["notebook"]),
                grade_id=str(item["grade_id"]),
                points=None if item.get("points") is None else float(item["points"]),
                max_points=float(item.get("max_points", 0.0)),
                kind=str(item.get("kind", UNVERIFIED)),
                passed=item.get("passed"),
                reason=str(item.get("reason", "")),
                cases=[dict(c) for c in item.get("cases") or [] if isinstance(c, dict)],
            )
        )
    return out


# ----------------------------------------------------------------------------- worker jobs


@dataclass
class NotebookJob:
    name: str
    submitted: str | None  # None: the student did not submit this notebook
    source: str
    release: str


@dataclass
class DataFile:
    name: str  # relative path in the job directory
    path: str


@dataclass
class Job:
    """One submission for a grading worker: what to sanitize and run, where, under which limits."""

    key: str
    label: str
    notebooks: list[NotebookJob]
    data_files: list[DataFile]
    out_dir: str
    limits: dict[str, Any]
    sandbox: dict[str, Any]
    threads: int = 1
    gpus: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Job:
        data = json.loads(text)
        data["notebooks"] = [NotebookJob(**n) for n in data["notebooks"]]
        data["data_files"] = [DataFile(**d) for d in data["data_files"]]
        return cls(**data)


@dataclass
class NotebookRun:
    """How one notebook of a submission went: sanitizing, execution, and where its results lie."""

    name: str
    outcome: str  # a sandbox Outcome value
    message: str = ""
    notes: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    executed: str | None = None  # the executed notebook (host path)
    records: str | None = None  # what its test cells recorded (host path)
    statuses: dict[str, str] = field(default_factory=dict)  # grade id -> how the kernel ended the cell
    cells: dict[str, dict] = field(default_factory=dict)
    output_capped: bool = False
    failed_cell: str | None = None
    duration: float = 0.0
    flags: list[str] = field(default_factory=list)


@dataclass
class JobRun:
    """A worker's answer for one :class:`Job`; ``error``/``crash`` say the platform failed."""

    key: str
    notebooks: list[NotebookRun] = field(default_factory=list)
    duration: float = 0.0
    sandbox: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # a traceback from the worker (a platform failure)
    crash: str | None = None  # the worker died or did not answer

    @property
    def failed(self) -> bool:
        return self.error is not None or self.crash is not None

    def failure(self) -> str:
        """What went wrong, in one line (the traceback's last line for a platform failure)."""
        if self.crash:
            return self.crash
        lines = (self.error or "").strip().splitlines()
        return "the platform failed on this submission: " + (lines[-1] if lines else "unknown error")

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> JobRun:
        data = json.loads(text)
        data["notebooks"] = [NotebookRun(**n) for n in data.get("notebooks", [])]
        return cls(**data)
