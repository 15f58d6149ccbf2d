"""The course root: paths, assignments, deadlines, roster and limits, read from ``course.toml``.

Everything here is a pure reading of files: no command changes state through this module.
Errors are :class:`CourseError` with a message that names the file and the key.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import datetime as dt
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Mapping

COURSE_FILE = "course.toml"
NBGRADER_CONFIG = "nbgrader_config.py"
ROSTER_COLUMNS = ("id", "first_name", "last_name", "email", "group")
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class CourseError(Exception):
    """The course root or one of its files is not usable; the message says where and why."""


_SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
_DURATION_UNITS = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "d": 86400}


def parse_size(text: str | int, what: str = "size") -> int:
    """``"2GiB"`` → 2147483648. Integers are bytes."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
    if not match or match.group(2).upper() not in _SIZE_UNITS:
        raise CourseError(f"{what}: cannot read {text!r} as a size (use e.g. 512MiB, 2GiB)")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()])


def parse_duration(text: str | int | float, what: str = "duration") -> float:
    """``"15min"`` → 900.0 seconds. Numbers are seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if not match or (unit or "s") not in _DURATION_UNITS:
        raise CourseError(f"{what}: cannot read {text!r} as a duration (use e.g. 90s, 15min, 2h, 1d)")
    return float(match.group(1)) * _DURATION_UNITS[unit or "s"]


def format_size(n: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= factor:
            value = n / factor
            return f"{value:g} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} B"


@dataclass(frozen=True)
class Limits:
    """What one submission's execution may use."""

    cell_timeout: float = 120.0
    notebook_timeout: float = 300.0
    memory_bytes: int = 2 * 2**30
    cpus: float = 1.0
    pids: int = 256
    output_bytes: int = 2**20
    max_notebook_bytes: int = 20 * 2**20
    record_bytes: int = 64 * 2**20  # values the hidden tests record, per notebook
    job_disk_bytes: int = 512 * 2**20  # the job directory's size-limited mount


@dataclass(frozen=True)
class LatePolicy:
    grace_seconds: float = 0.0
    penalty_per_day: float = 0.0
    penalty_per_hour: float = 0.0
    cap: float = 1.0

    def describe(self) -> str:
        if self.penalty_per_day == 0 and self.penalty_per_hour == 0:
            return "no late penalty"
        rate = (
            f"{self.penalty_per_day:.0%} per started day"
            if self.penalty_per_day
            else f"{self.penalty_per_hour:.1%} per started hour"
        )
        grace = f" after {self.grace_seconds / 60:g} min grace" if self.grace_seconds else ""
        return f"{rate}{grace}, at most {self.cap:.0%}"


EXPORT_FIELDS = (
    "student",
    "first_name",
    "last_name",
    "email",
    "group",
    "total",
    "max_total",
    "percent",
    "exam_bonus",
    "submitted",
)


@dataclass(frozen=True)
class ExportConfig:
    """``[export]``: how ``grades.csv`` looks for the university's grade import.

    ``columns`` maps each import column (in order) to a report field (``EXPORT_FIELDS``, an
    assignment id for that week's total, or ``=text`` for a constant). Empty: the overview.
    """

    columns: tuple[tuple[str, str], ...] = ()
    delimiter: str = ","
    decimal: str = "."
    exam_bonus_labels: tuple[str, str] = ("yes", "no")
    encoding: str = "utf-8"


@dataclass(frozen=True)
class ExchangeLimits:
    """``[exchange]``: what the hub's exchange service accepts from one student.

    Sizes and counts are per student and assignment; the rate is per student over all
    assignments (at most ``rate_count`` submissions in any ``rate_window`` seconds).
    """

    max_submission_bytes: int = 20 * 2**20
    max_total_bytes: int = 100 * 2**20
    max_submissions: int = 20
    rate_count: int = 5
    rate_window: float = 600.0

    def describe_rate(self) -> str:
        return f"{self.rate_count} submissions per {self.rate_window / 60:g} min"


@dataclass(frozen=True)
class Assignment:
    id: str
    title: str
    due: dt.datetime | None
    late_policy: LatePolicy
    time_budget: float = 60.0
    release: dt.datetime | None = None  # listed and fetchable from then on (None: when published)
    format: str = "nbgrader"  # or "otter": an otter-grader master notebook (see gradehub.otter)


OTTER_GRADING_DIR = "autograder"
ASSIGNMENT_FORMATS = ("nbgrader", "otter")


def _assignment_format(table: dict, where: str) -> str:
    value = expect(table, "format", str, where, "nbgrader")
    if value not in ASSIGNMENT_FORMATS:
        raise CourseError(f"{where}.format: {value!r} is not one of {', '.join(ASSIGNMENT_FORMATS)}")
    return value


@dataclass(frozen=True)
class Student:
    id: str
    first_name: str
    last_name: str
    email: str
    group: str


@dataclass(frozen=True)
class Course:
    root: Path
    id: str
    title: str
    roster_path: Path
    limits: Limits
    assignments: tuple[Assignment, ...]
    exam_bonus_threshold: float = 0.5
    tutors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    timezone: str = "UTC"
    export: ExportConfig = field(default_factory=ExportConfig)
    exchange: ExchangeLimits = field(default_factory=ExchangeLimits)
    # the parsed roster, kept while the file is unchanged (see roster())
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)

    # --- paths (nbgrader's layout) ---
    def source_dir(self, assignment: str) -> Path:
        return self.root / "source" / assignment

    def release_dir(self, assignment: str) -> Path:
        return self.root / "release" / assignment

    def grading_source_dir(self, assignment: str) -> Path:
        """Where grading reads an assignment's source notebooks (tests, reference solution).

        ``source/<a>/`` for an nbgrader sheet; for an otter assignment (``format = "otter"``) the
        grading notebooks that ``gradehub release`` builds from the otter master, in
        ``source/<a>/autograder/`` (they hold the hidden tests, so they stay in source/).
        """
        found = next((a for a in self.assignments if a.id == assignment), None)
        if found is not None and found.format == "otter":
            return self.source_dir(assignment) / OTTER_GRADING_DIR
        return self.source_dir(assignment)

    def submitted_dir(self, student: str | None = None, assignment: str | None = None) -> Path:
        path = self.root / "submitted"
        return path if student is None else (path / student if assignment is None else path / student / assignment)

    def autograded_dir(self, student: str | None = None, assignment: str | None = None) -> Path:
        path = self.root / "autograded"
        return path if student is None else (path / student if assignment is None else path / student / assignment)

    @property
    def state_dir(self) -> Path:
        """gradehub's own runtime state (work dirs, locks); gitignored."""
        return self.root / ".gradehub"

    def assignment(self, assignment_id: str) -> Assignment:
        for a in self.assignments:
            if a.id == assignment_id:
                return a
        known = ", ".join(a.id for a in self.assignments) or "none"
        raise CourseError(f"unknown assignment {assignment_id!r} (course.toml lists: {known})")

    def roster(self) -> list[Student]:
        """The roster, read once: again only when the file changed (a long-running service
        still sees ``gradehub hub sync-roster``'s edits)."""
        key = _file_key(self.roster_path)
        cached = self._cache.get("roster")
        if cached is None or key is None or cached[0] != key:
            cached = (key, read_roster(self.roster_path))
            self._cache["roster"] = cached
        return list(cached[1])


def _file_key(path: Path) -> tuple[int, ...] | None:
    """What changes when a file is rewritten (None: no such file)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


# --------------------------------------------------------------------------- TOML validation
# One set of helpers for every TOML file gradehub reads (course.toml here, the hub's settings in
# gradehub.hub.settings): an unknown key or a value of the wrong type is an error that names the
# file, the table and the key. ``error`` is the exception class to raise (a CourseError).


def reject_unknown(
    table: Mapping[str, Any], allowed: set[str], where: str, error: type[CourseError] = CourseError
) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise error(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}")


def expect(
    table: Mapping[str, Any],
    key: str,
    types: type | tuple,
    where: str,
    default: Any = ...,
    error: type[CourseError] = CourseError,
) -> Any:
    """``table[key]`` if it has one of ``types`` (a bool is no number), else ``default``."""
    if key not in table:
        if default is ...:
            raise error(f"{where}: missing key {key!r}")
        return default
    value = table[key]
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise error(f"{where}.{key}: expected {types}, got a boolean")
    if not isinstance(value, types):
        raise error(f"{where}.{key}: expected {getattr(types, '__name__', types)}, got {value!r}")
    return value


def coerce(value: Any, default: Any, where: str, *, kind: str = "", error: type[CourseError] = CourseError) -> Any:
    """``value`` checked against the type of ``default`` (``kind`` "size" or "duration": a text
    such as 2GiB or 15min); ``where`` names the key in the message."""
    try:
        if kind == "size":
            return parse_size(value, where)
        if kind == "duration":
            return parse_duration(value, where)
    except CourseError as exc:
        raise error(str(exc)) from None
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise error(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise error(f"{where}: expected a number, got {value!r}")
        return float(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise error(f"{where}: expected an integer, got {value!r}")
        return value
    if isinstance(default, tuple):
        if not (isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value)):
            raise error(f"{where}: expected a list of strings, got {value!r}")
        return tuple(value)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise error(f"{where}: expected a table, got {value!r}")
        return dict(value)
    if not isinstance(value, str):
        raise error(f"{where}: expected a string, got {value!r}")
    return value


def build_table(
    cls: type,
    table: Any,
    base: Any,
    where: str,
    *,
    kinds: Mapping[str, str] | None = None,
    error: type[CourseError] = CourseError,
) -> Any:
    """A frozen dataclass ``cls`` from a TOML table: ``base``'s values, with the table's keys
    checked (unknown keys, types; ``kinds`` maps a key to "size" or "duration") and applied."""
    if not isinstance(table, dict):
        raise error(f"{where}: expected a table")
    reject_unknown(table, {f.name for f in dataclasses.fields(cls)}, where, error)
    values = {f.name: getattr(base, f.name) for f in dataclasses.fields(cls)}
    for key, value in table.items():
        values[key] = coerce(value, values[key], f"{where}.{key}", kind=(kinds or {}).get(key, ""), error=error)
    return cls(**values)


def _parse_late_policy(table: dict, where: str, base: LatePolicy) -> LatePolicy:
    reject_unknown(table, {"grace", "penalty_per_day", "penalty_per_hour", "cap"}, where)
    per_day = float(expect(table, "penalty_per_day", (int, float), where, base.penalty_per_day))
    per_hour = float(expect(table, "penalty_per_hour", (int, float), where, base.penalty_per_hour))
    if "penalty_per_day" in table and "penalty_per_hour" not in table:
        per_hour = 0.0
    if "penalty_per_hour" in table and "penalty_per_day" not in table:
        per_day = 0.0
    if per_day and per_hour:
        raise CourseError(f"{where}: set penalty_per_day or penalty_per_hour, not both")
    cap = float(expect(table, "cap", (int, float), where, base.cap))
    for name, value in (("penalty_per_day", per_day), ("penalty_per_hour", per_hour), ("cap", cap)):
        if not 0 <= value <= 1:
            raise CourseError(f"{where}.{name}: must be a share between 0 and 1, got {value}")
    grace = base.grace_seconds
    if "grace" in table:
        grace = parse_duration(table["grace"], f"{where}.grace")
    return LatePolicy(grace_seconds=grace, penalty_per_day=per_day, penalty_per_hour=per_hour, cap=cap)


def _parse_datetime(text: Any, where: str) -> dt.datetime:
    if isinstance(text, dt.datetime):
        value = text
    elif isinstance(text, str):
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise CourseError(f"{where}: {text!r} is not an ISO 8601 time (e.g. 2026-10-23T23:59:00+02:00)") from None
    else:
        raise CourseError(f"{where}: expected a time, got {text!r}")
    if value.tzinfo is None:
        raise CourseError(f"{where}: {text} has no UTC offset; write e.g. 2026-10-23T23:59:00+02:00")
    return value


def load_course(root: str | Path = ".") -> Course:
    """Read and validate ``course.toml`` in the course root."""
    root = Path(root).resolve()
    path = root / COURSE_FILE
    if not path.is_file():
        raise CourseError(f"{root} is not a gradehub course root: {COURSE_FILE} is missing (pass --course-root DIR)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CourseError(f"{path}: {exc}") from None
    reject_unknown(data, {"course", "limits", "late_policy", "assignment", "tutors", "export", "exchange"}, COURSE_FILE)

    course_t = expect(data, "course", dict, COURSE_FILE)
    reject_unknown(course_t, {"id", "title", "roster", "timezone", "exam_bonus_threshold"}, "[course]")
    course_id = expect(course_t, "id", str, "[course]")
    limits_t = expect(data, "limits", dict, COURSE_FILE, {})
    reject_unknown(
        limits_t,
        {
            "cell_timeout",
            "notebook_timeout",
            "memory",
            "cpus",
            "pids",
            "output_cap",
            "max_notebook_size",
            "record_cap",
            "job_disk",
        },
        "[limits]",
    )
    d = Limits()
    limits = Limits(
        cell_timeout=parse_duration(limits_t.get("cell_timeout", d.cell_timeout), "[limits].cell_timeout"),
        notebook_timeout=parse_duration(
            limits_t.get("notebook_timeout", d.notebook_timeout), "[limits].notebook_timeout"
        ),
        memory_bytes=parse_size(limits_t.get("memory", d.memory_bytes), "[limits].memory"),
        cpus=float(expect(limits_t, "cpus", (int, float), "[limits]", d.cpus)),
        pids=int(expect(limits_t, "pids", int, "[limits]", d.pids)),
        output_bytes=parse_size(limits_t.get("output_cap", d.output_bytes), "[limits].output_cap"),
        max_notebook_bytes=parse_size(
            limits_t.get("max_notebook_size", d.max_notebook_bytes), "[limits].max_notebook_size"
        ),
        record_bytes=parse_size(limits_t.get("record_cap", d.record_bytes), "[limits].record_cap"),
        job_disk_bytes=parse_size(limits_t.get("job_disk", d.job_disk_bytes), "[limits].job_disk"),
    )
    if limits.cell_timeout <= 0 or limits.notebook_timeout <= 0:
        raise CourseError("[limits]: timeouts must be positive")
    if limits.memory_bytes < 64 * 2**20:
        raise CourseError("[limits].memory: at least 64MiB is needed to start a kernel")

    default_policy = _parse_late_policy(
        expect(data, "late_policy", dict, COURSE_FILE, {}), "[late_policy]", LatePolicy()
    )
    assignments = []
    seen: set[str] = set()
    for i, a in enumerate(expect(data, "assignment", list, COURSE_FILE, [])):
        where = f"[[assignment]] #{i + 1}"
        if not isinstance(a, dict):
            raise CourseError(f"{where}: expected a table")
        reject_unknown(a, {"id", "title", "due", "release", "late_policy", "time_budget", "format"}, where)
        aid = expect(a, "id", str, where)
        if not _ID_PATTERN.match(aid):
            raise CourseError(f"{where}.id: {aid!r} is not a valid assignment id")
        if aid in seen:
            raise CourseError(f"{where}.id: assignment {aid!r} is listed twice")
        seen.add(aid)
        where = f"[[assignment]] {aid}"
        assignments.append(
            Assignment(
                id=aid,
                title=expect(a, "title", str, where, aid),
                due=_parse_datetime(a["due"], f"{where}.due") if "due" in a else None,
                late_policy=_parse_late_policy(
                    expect(a, "late_policy", dict, where, {}), f"{where}.late_policy", default_policy
                ),
                time_budget=parse_duration(a.get("time_budget", 60), f"{where}.time_budget"),
                release=_parse_datetime(a["release"], f"{where}.release") if "release" in a else None,
                format=_assignment_format(a, where),
            )
        )
    tutors_t = expect(data, "tutors", dict, COURSE_FILE, {})
    tutors = {}
    for group, accounts in tutors_t.items():
        if not (isinstance(accounts, list) and all(isinstance(x, str) for x in accounts)):
            raise CourseError(f"[tutors].{group}: expected a list of account names")
        tutors[group] = tuple(accounts)
    threshold = float(expect(course_t, "exam_bonus_threshold", (int, float), "[course]", 0.5))
    timezone = expect(course_t, "timezone", str, "[course]", "UTC")
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CourseError(f"[course].timezone: unknown time zone {timezone!r} (e.g. Europe/Berlin)") from None
    export = _parse_export(expect(data, "export", dict, COURSE_FILE, {}), {a.id for a in assignments})
    return Course(
        root=root,
        id=course_id,
        title=expect(course_t, "title", str, "[course]", course_id),
        roster_path=root / expect(course_t, "roster", str, "[course]", "roster.csv"),
        limits=limits,
        assignments=tuple(assignments),
        exam_bonus_threshold=threshold,
        tutors=tutors,
        timezone=timezone,
        export=export,
        exchange=_parse_exchange(expect(data, "exchange", dict, COURSE_FILE, {})),
    )


def _parse_export(table: dict, assignment_ids: set[str]) -> ExportConfig:
    where = "[export]"
    reject_unknown(table, {"columns", "delimiter", "decimal", "exam_bonus_labels", "encoding"}, where)
    columns_t = expect(table, "columns", dict, where, {})
    columns = []
    for name, source in columns_t.items():
        if not isinstance(source, str):
            raise CourseError(f"{where}.columns.{name}: expected a field name, got {source!r}")
        if not (source.startswith("=") or source in EXPORT_FIELDS or source in assignment_ids):
            raise CourseError(
                f"{where}.columns.{name}: unknown field {source!r}; use one of "
                f"{', '.join(EXPORT_FIELDS)}, an assignment id, or '=text' for a constant"
            )
        columns.append((name, source))
    delimiter = expect(table, "delimiter", str, where, ",")
    decimal = expect(table, "decimal", str, where, ".")
    if len(delimiter) != 1 or decimal not in (".", ","):
        raise CourseError(f"{where}: delimiter must be one character and decimal '.' or ','")
    if delimiter == decimal:
        raise CourseError(f"{where}: delimiter and decimal must differ")
    labels = expect(table, "exam_bonus_labels", list, where, ["yes", "no"])
    if len(labels) != 2 or not all(isinstance(x, str) for x in labels):
        raise CourseError(f"{where}.exam_bonus_labels: expected two texts, e.g. [\"yes\", \"no\"]")
    encoding = expect(table, "encoding", str, where, "utf-8")
    if encoding not in ("utf-8", "utf-8-sig", "latin-1", "cp1252"):
        raise CourseError(f"{where}.encoding: use utf-8, utf-8-sig (Excel), latin-1 or cp1252")
    return ExportConfig(
        columns=tuple(columns),
        delimiter=delimiter,
        decimal=decimal,
        exam_bonus_labels=(labels[0], labels[1]),
        encoding=encoding,
    )


def _parse_exchange(table: dict) -> ExchangeLimits:
    where = "[exchange]"
    reject_unknown(table, {"max_submission_size", "max_total_size", "max_submissions", "rate_limit"}, where)
    d = ExchangeLimits()
    one = parse_size(table.get("max_submission_size", d.max_submission_bytes), f"{where}.max_submission_size")
    total = parse_size(table.get("max_total_size", d.max_total_bytes), f"{where}.max_total_size")
    count = expect(table, "max_submissions", int, where, d.max_submissions)
    rate_count, rate_window = d.rate_count, d.rate_window
    if "rate_limit" in table:
        text = table["rate_limit"]
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\S.*)", text) if isinstance(text, str) else None
        if not match:
            raise CourseError(f"{where}.rate_limit: cannot read {text!r}; write submissions/duration, e.g. \"5/10min\"")
        rate_count = int(match.group(1))
        rate_window = parse_duration(match.group(2), f"{where}.rate_limit")
    if one <= 0 or total <= 0 or count <= 0 or rate_count <= 0 or rate_window <= 0:
        raise CourseError(f"{where}: sizes, max_submissions and rate_limit must be positive")
    if total < one:
        raise CourseError(f"{where}: max_total_size is smaller than max_submission_size")
    return ExchangeLimits(
        max_submission_bytes=one,
        max_total_bytes=total,
        max_submissions=count,
        rate_count=rate_count,
        rate_window=rate_window,
    )


def read_roster(path: Path) -> list[Student]:
    """Read a roster CSV (id, first_name, last_name, email, group)."""
    if not path.is_file():
        raise CourseError(f"roster {path} does not exist (copy roster.example.csv to start)")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = tuple(reader.fieldnames or ())
        missing = [c for c in ROSTER_COLUMNS if c not in header]
        if missing:
            raise CourseError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(ROSTER_COLUMNS)}")
        students, seen = [], set()
        for line, row in enumerate(reader, start=2):
            sid = (row["id"] or "").strip()
            if not _ID_PATTERN.match(sid):
                raise CourseError(f"{path}:{line}: {sid!r} is not a valid student id")
            if sid in seen:
                raise CourseError(f"{path}:{line}: student {sid!r} is listed twice")
            seen.add(sid)
            students.append(
                Student(
                    sid, row["first_name"].strip(), row["last_name"].strip(), row["email"].strip(), row["group"].strip()
                )
            )
    return students


def is_valid_id(name: str) -> bool:
    """Whether a student or assignment id is safe to use as a path component."""
    return bool(_ID_PATTERN.match(name)) and name not in (".", "..")


def gradebook_url(course: Course) -> str:
    """The gradebook's database URL: ``db_url`` of nbgrader_config.py (``GRADEHUB_GRADEBOOK_URL``
    there), else ``gradebook.db`` in the course root. A malformed URL or a database driver that
    is not installed is a :class:`CourseError` naming the fix, not a traceback from SQLAlchemy."""
    config = load_nbgrader_config(course.root)
    url = config.CourseDirectory.get("db_url") if "db_url" in config.CourseDirectory else None
    url = url or f"sqlite:///{course.root / 'gradebook.db'}"
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        parsed.get_dialect().import_dbapi()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise CourseError(
            f"gradebook URL {_hide_password(url)!r} is not a database URL SQLAlchemy knows: {exc}"
        ) from None
    except ImportError as exc:
        hint = (
            " (pip install psycopg2-binary, or gradehub's `postgres` extra, and write postgresql+psycopg2://)"
            if parsed.get_backend_name() == "postgresql"
            else ""
        )
        raise CourseError(
            f"gradebook URL {_hide_password(url)!r} needs the database driver "
            f"{exc.name or 'for ' + parsed.drivername}, which is not installed{hint}"
        ) from None
    return url


def _hide_password(url: str) -> str:
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


_NBGRADER_CONFIGS: dict[Path, tuple[Any, Any]] = {}


def load_nbgrader_config(root: str | Path):
    """Load the course root's ``nbgrader_config.py`` explicitly.

    ``NbGraderAPI()`` on its own ignores the file; every gradehub command goes through here.
    The file is executed once per process (again only when it or the environment it may read
    changed); each caller gets its own copy to change.
    """
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(root).resolve()
    key = (_file_key(root / NBGRADER_CONFIG), tuple(sorted(os.environ.items())))
    cached = _NBGRADER_CONFIGS.get(root)
    if cached is not None and cached[0] == key:
        return copy.deepcopy(cached[1])
    config = Config()
    if key[0] is not None:
        try:
            config = PyFileConfigLoader(NBGRADER_CONFIG, path=str(root)).load_config()
        except Exception as exc:  # noqa: BLE001 - a typo in the config must not be a traceback
            raise CourseError(f"{root / NBGRADER_CONFIG}: {type(exc).__name__}: {exc}") from None
    config.CourseDirectory.root = str(root)
    _NBGRADER_CONFIGS[root] = (key, config)
    return copy.deepcopy(config)
