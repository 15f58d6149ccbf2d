"""The exchange's store: nbgrader's exchange layout under ``<root>/<course>``, with per-student
access rules, the course's limits, and the path and wire rules the service and the client share.

Only the standard library at import time (the client imports the shared rules in the notebook
image). See :mod:`gradehub.hub.exchange` for the whole picture.
"""

from __future__ import annotations

import base64
import datetime as dt
import errno
import hashlib
import os
import re
import secrets
import shutil
import sys
from pathlib import Path, PurePosixPath
from collections.abc import Callable
from typing import Any

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RESERVED_NAMES = {"timestamp.txt", "submission_secret.txt"}
SKIP_DIRS = {".ipynb_checkpoints", "__pycache__", "feedback", ".git"}


class ExchangeRejected(Exception):
    """A request the exchange refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def format_bytes(n: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


def _parse_stamp(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text.replace(" UTC", ""), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def _tree_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def valid_id(name: str) -> bool:
    return bool(_ID.match(name or "")) and "+" not in name and name not in (".", "..")


UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def receipt_of(upload_id: str) -> str:
    """The last part of a submission folder's name for a client's upload id: a client that lost
    the answer finds its submission by it (``GET /api/submissions``), and a retry with the same id
    stores nothing twice. 12 characters, like nbgrader's random suffix."""
    if not UPLOAD_ID.match(upload_id or ""):
        raise ExchangeRejected(400, "an upload id is 16 to 64 letters, digits, '-' or '_'")
    return base64.urlsafe_b64encode(hashlib.sha256(upload_id.encode("ascii")).digest()[:9]).decode("ascii")


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - a checksum, as nbgrader uses


# =========================================================================== the store (hub side)


def clean_path(name: str) -> str:
    """A submitted file's name, checked: relative, no ``..``, no control characters, not in a
    folder that is never submitted."""
    if not isinstance(name, str) or not name or len(name) > 1024:
        raise ExchangeRejected(400, f"invalid file name {name!r}")
    p = PurePosixPath(name)
    try:
        too_long = any(len(part.encode("utf-8")) > 255 for part in name.split("/"))
    except UnicodeEncodeError:
        raise ExchangeRejected(400, f"invalid file name {name!r} (not UTF-8)") from None
    if ("\\" in name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name) or p.is_absolute()
            or p.as_posix() != name or too_long or len(p.parts) > 16
            or any(part in ("", ".", "..") for part in name.split("/"))):
        raise ExchangeRejected(400, f"invalid file name {name!r}")
    if set(p.parts) & SKIP_DIRS:
        raise ExchangeRejected(400, f"file {name!r} is in a folder that is not submitted")
    return p.as_posix()



def check_tree(names: list[str]) -> None:
    """No name is also a folder of another one (``a.ipynb`` and ``a.ipynb/b``)."""
    files = set(names)
    for name in names:
        parts = name.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if folder in files:
                raise ExchangeRejected(400, f"{folder!r} is sent both as a file and as a folder (of {name!r})")




class ExchangeStore:
    """nbgrader's exchange layout under ``root/course_id``, with per-student access rules."""

    def __init__(self, root: Path, course_id: str, *, max_upload: int = 50 * 2**20, max_files: int = 200,
                 clock=None, course_root: Path | None = None):
        if not valid_id(course_id):
            raise ValueError(f"invalid course id {course_id!r}")
        self.course_dir = Path(root) / course_id
        self.course_id = course_id
        self.max_upload = max_upload          # the service's own cap; course.toml's [exchange] is within it
        self.max_files = max_files
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self.course_root = Path(course_root) if course_root else None
        self._course: tuple[Any, Any] = (None, None)     # (course.toml's mtime, Course)
        self._index: Any = None                            # .index.SubmissionIndex, opened on first use

    # --- the course: limits and release dates, re-read when course.toml changes
    def course(self):
        if self.course_root is None:
            return None
        from ...course import CourseError, load_course
        try:
            mtime = (self.course_root / "course.toml").stat().st_mtime_ns
        except OSError:
            return self._course[1]
        if self._course[0] != mtime:
            try:
                self._course = (mtime, load_course(self.course_root))
            except CourseError as exc:   # keep serving with the last good file
                print(f"gradehub exchange: course.toml not reloaded: {exc}", file=sys.stderr, flush=True)
                self._course = (mtime, self._course[1])
        return self._course[1]

    def limits(self):
        from ...course import ExchangeLimits
        course = self.course()
        return course.exchange if course is not None else ExchangeLimits()

    def submission_cap(self) -> int:
        return min(self.max_upload, self.limits().max_submission_bytes)

    def limits_info(self) -> dict[str, Any]:
        lim = self.limits()
        return {"max_submission_bytes": self.submission_cap(), "max_total_bytes": lim.max_total_bytes,
                "max_submissions": lim.max_submissions, "max_files": self.max_files,
                "rate_count": lim.rate_count, "rate_window": lim.rate_window}

    def is_visible(self, assignment: str, now: dt.datetime | None = None) -> bool:
        from ..releases import is_released, read_overrides
        course = self.course()
        if course is None and not self.course_root:
            return True       # no course file: whatever is published is released
        overrides = read_overrides(self.course_root) if self.course_root else {}
        return is_released(course, assignment, now or self.clock(), overrides)

    def _published(self, assignment: str) -> Path | None:
        """outbound/<assignment>; a sheet whose release date has come is published from release/."""
        path = self.outbound / assignment
        if path.is_dir():
            return path
        course = self.course()
        if course is None or assignment not in {a.id for a in course.assignments}:
            return None
        source = course.release_dir(assignment)
        if not source.is_dir():
            return None
        self.outbound.mkdir(parents=True, exist_ok=True)
        tmp = self.outbound / f".publishing-{secrets.token_hex(8)}"
        shutil.copytree(source, tmp, symlinks=False,
                        ignore=shutil.ignore_patterns(*SKIP_DIRS, "*.pyc"))
        try:
            os.rename(tmp, path)
        except OSError:   # published meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
        return path

    @property
    def inbound(self) -> Path:
        return self.course_dir / "inbound"

    @property
    def outbound(self) -> Path:
        return self.course_dir / "outbound"

    @property
    def feedback_dir(self) -> Path:
        return self.course_dir / "feedback"

    def ensure(self) -> None:
        for d in (self.inbound, self.outbound, self.feedback_dir):
            d.mkdir(parents=True, exist_ok=True)
        # Only the hub's user needs these folders; nothing else on the machine reads them.
        os.chmod(self.inbound, 0o700)

    # --- released assignments
    def released(self) -> list[dict[str, Any]]:
        """The assignments students may see now (published, and released by date or instructor)."""
        now = self.clock()
        names = {d.name for d in self.outbound.iterdir() if d.is_dir()} if self.outbound.is_dir() else set()
        course = self.course()
        if course is not None:
            names |= {a.id for a in course.assignments}
        out = []
        for name in sorted(n for n in names if valid_id(n)):
            if not self.is_visible(name, now):
                continue
            d = self._published(name)
            if d is not None:
                out.append({"assignment_id": name, "notebooks": sorted(p.stem for p in d.glob("*.ipynb"))})
        return out

    def _released_dir(self, assignment: str, now: dt.datetime | None = None) -> Path:
        if not valid_id(assignment):
            raise ExchangeRejected(400, f"invalid assignment id {assignment!r}")
        path = self._published(assignment) if self.is_visible(assignment, now) else None
        if path is None:
            raise ExchangeRejected(404, f"assignment {assignment!r} is not released")
        return path

    def released_dir(self, assignment: str, now: dt.datetime | None = None) -> Path:
        """The published folder of a released assignment; 400 for a bad id, 404 if not released."""
        return self._released_dir(assignment, now)

    def release_files(self, assignment: str, student: str | None = None) -> dict[str, bytes]:
        """The released files; for ``student``, a sheet with per-student variants carries theirs
        (written here, on the hub, from the course secret that no student server can read)."""
        base = self._released_dir(assignment)
        files = {}
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.is_symlink() and not (set(path.relative_to(base).parts) & SKIP_DIRS):
                files[path.relative_to(base).as_posix()] = path.read_bytes()
        course = self.course()
        if student is not None and course is not None:
            from ...exchange import personalized_notebook
            from ...variants import VariantError
            try:
                for name in [n for n in files if "/" not in n and n.endswith(".ipynb")]:
                    files[name] = personalized_notebook(course, student, assignment, name[:-len(".ipynb")], files[name])
            except VariantError as exc:   # the instructor's setup (no secret): said in the hub's log only
                print(f"gradehub exchange: cannot hand out {assignment} to {student}: {exc}", file=sys.stderr, flush=True)
                raise ExchangeRejected(503, f"{assignment} cannot be handed out right now (per-student data are not "
                                            "set up); please tell your instructor") from None
        return files

    # --- submissions
    @property
    def staging_dir(self) -> Path:
        """Uploads in progress: beside ``inbound/`` (one filesystem: the final rename is atomic),
        never inside it (collect must not see them, and the index's fingerprint of ``inbound/``
        changes only when a submission is added)."""
        return self.course_dir / ".incoming"

    @property
    def index(self):
        if self._index is None:
            from .index import SubmissionIndex
            self._index = SubmissionIndex(self.course_dir / "inbound-index.sqlite", self.inbound, RESERVED_NAMES)
        return self._index

    def new_staging(self) -> Path:
        self.staging_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.staging_dir / f"files-{secrets.token_hex(12)}"
        path.mkdir(mode=0o700)
        return path

    def clear_staging(self) -> None:
        """Leftovers of uploads a stopped service never finished (called at its start)."""
        shutil.rmtree(self.staging_dir, ignore_errors=True)

    def _check_quota(self, student: str, assignment: str, size: int, now: dt.datetime) -> None:
        lim = self.limits()
        cap = self.submission_cap()
        if size > cap:
            raise ExchangeRejected(413, f"this submission has {format_bytes(size)}; the course accepts at most {format_bytes(cap)} "
                                        "per submission (remove large data files or outputs)")
        mine = self.index.of(student)
        own = [s for s in mine if s.assignment == assignment]
        if len(own) >= lim.max_submissions:
            raise ExchangeRejected(429, f"you have submitted {assignment} {len(own)} times, as often as the course "
                                        "accepts; ask your instructor if you need to submit again")
        used = sum(s.size for s in own)
        if used + size > lim.max_total_bytes:
            raise ExchangeRejected(413, f"your submissions of {assignment} take {format_bytes(used)}; with this one "
                                        f"({format_bytes(size)}) they would exceed the {format_bytes(lim.max_total_bytes)} the "
                                        "course keeps per student and assignment")
        window = dt.timedelta(seconds=lim.rate_window)
        recent = sorted(t for t in (_parse_stamp(s.folder.split("+")[2]) for s in mine)
                        if t is not None and now - window < t <= now + dt.timedelta(seconds=5))
        if len(recent) >= lim.rate_count:
            wait = max(1, int((recent[-lim.rate_count] + window - now).total_seconds()) + 1)
            raise ExchangeRejected(429, f"you have submitted {len(recent)} times in the last "
                                        f"{lim.rate_window / 60:g} min, the most the course accepts "
                                        f"({lim.describe_rate()}); try again in {wait} s", retry_after=wait)

    def submit(self, student: str, assignment: str, files: dict[str, bytes], *, upload_id: str | None = None) -> str:
        """Store a new submission given in memory; returns the server's timestamp (nbgrader format, UTC)."""
        if not valid_id(student):
            raise ExchangeRejected(403, f"{student!r} cannot submit (not a valid student id)")
        now = self.clock().astimezone(dt.timezone.utc)      # one reading: the submission's time
        self._released_dir(assignment, now)
        if not files:
            raise ExchangeRejected(400, "a submission needs at least one file")
        staging = self.new_staging()
        try:
            write_files(staging, files, cap=self.submission_cap(), max_files=self.max_files)
            return self.commit(student, assignment, staging, upload_id=upload_id, now=now)["timestamp"]
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def commit(self, student: str, assignment: str, staging: Path, *, upload_id: str | None = None,
               now: dt.datetime | None = None, still_wanted: Callable[[], bool] = lambda: True) -> dict[str, str]:
        """Move a complete staging folder into ``inbound/`` as the student's new submission.

        The time is read here, when the upload is complete, under the lock that also checks the
        quota, renames and indexes: two uploads of one student cannot both pass a limit, and the
        timestamp is never before the files were all there. ``still_wanted()`` is asked last,
        before the rename: a client that gave up (closed the connection) was told nothing was
        stored, so nothing is. An ``upload_id`` the student already used returns that
        submission instead of storing a second one (a retry after a lost answer).
        """
        from .index import describe_folder
        if not valid_id(student):
            raise ExchangeRejected(403, f"{student!r} cannot submit (not a valid student id)")
        if not any(p.name.endswith(".ipynb") and p.is_file() for p in staging.rglob("*")):
            raise ExchangeRejected(400, "a submission needs at least one notebook")
        receipt = receipt_of(upload_id) if upload_id else base64.urlsafe_b64encode(os.urandom(9)).decode("ascii")
        size = _tree_bytes(staging)
        with self.index.lock:
            if upload_id:
                for earlier in self.index.of(student, assignment):
                    if earlier.receipt == receipt:
                        return {"timestamp": earlier.timestamp, "receipt": receipt}
            now = (now or self.clock()).astimezone(dt.timezone.utc)
            self._released_dir(assignment, now)
            self._check_quota(student, assignment, size, now)
            self.ensure()
            stamp = now.strftime(TIMESTAMP_FORMAT)
            final = self.inbound / f"{student}+{assignment}+{stamp}+{receipt}"
            (staging / "timestamp.txt").write_text(stamp, encoding="utf-8")
            (staging / "submission_secret.txt").write_text(secrets.token_hex(64), encoding="utf-8")
            if not still_wanted():
                raise ExchangeRejected(400, "the connection closed before the submission was stored; nothing was stored")
            self.index.fresh()          # the index is current before this folder is added
            os.rename(staging, final)   # never replaces: the name is new
            sub = describe_folder(final, RESERVED_NAMES)
            if sub is not None:
                self.index.added(sub)
        return {"timestamp": stamp, "receipt": receipt}

    def _own_submissions(self, student: str, assignment: str | None = None) -> list[Path]:
        if not valid_id(student):
            return []
        return [self.inbound / s.folder for s in self.index.of(student, assignment)]

    @staticmethod
    def _timestamp_of(d: Path) -> str:
        ts = d / "timestamp.txt"
        return ts.read_text(encoding="utf-8").strip() if ts.is_file() else d.name.split("+")[2]

    def _feedback_file(self, d: Path, notebook_id: str) -> Path | None:
        from nbgrader.utils import make_unique_key, notebook_hash

        secret_file = d / "submission_secret.txt"
        if secret_file.is_file():
            key = notebook_hash(secret=secret_file.read_text(encoding="utf-8"), notebook_id=notebook_id)
        else:  # a submission made with nbgrader's legacy scheme
            student, assignment = d.name.split("+")[:2]
            unique = make_unique_key(self.course_id, assignment, notebook_id, student, self._timestamp_of(d))
            key = notebook_hash(str(d / f"{notebook_id}.ipynb"), unique)
        path = self.feedback_dir / f"{key}.html"
        return path if path.is_file() else None

    def submissions(self, student: str, assignment: str | None = None) -> list[dict[str, Any]]:
        """The student's own submissions: assignment, server timestamp, receipt, feedback per notebook.

        O(the student's submissions): read from the index (:mod:`.index`), not from a listing
        of everyone's."""
        if not valid_id(student):
            return []
        out = []
        for s in self.index.of(student, assignment):
            d = self.inbound / s.folder
            notebooks = []
            for nb in s.notebooks:
                fb = self._feedback_file(d, nb)
                notebooks.append({"notebook_id": nb, "has_exchange_feedback": fb is not None,
                                  "feedback_checksum": md5_hex(fb.read_bytes()) if fb else None})
            out.append({"assignment_id": s.assignment, "timestamp": s.timestamp, "receipt": s.receipt,
                        "notebooks": notebooks})
        return sorted(out, key=lambda s: (s["assignment_id"], s["timestamp"]))

    def feedback(self, student: str, assignment: str) -> dict[str, dict[str, bytes]]:
        """``{timestamp: {notebook_id: html}}`` for the student's own submissions."""
        if not valid_id(assignment):
            raise ExchangeRejected(400, f"invalid assignment id {assignment!r}")
        out: dict[str, dict[str, bytes]] = {}
        for d in self._own_submissions(student, assignment):
            for nb in sorted(d.glob("*.ipynb")):
                fb = self._feedback_file(d, nb.stem)
                if fb is not None:
                    out.setdefault(self._timestamp_of(d), {})[nb.stem] = fb.read_bytes()
        return out


def write_files(staging: Path, files: dict[str, bytes], *, cap: int, max_files: int) -> dict[str, int]:
    """Files given in memory (the legacy wire format, tests) as files under ``staging``."""
    if len(files) > max_files:
        raise ExchangeRejected(413, f"{len(files)} files; at most {max_files} are accepted")
    clean: dict[str, bytes] = {}
    for name, data in files.items():
        name = clean_path(name)
        if not isinstance(data, (bytes, bytearray)):
            raise ExchangeRejected(400, f"the contents of {name!r} are not bytes")
        if name in RESERVED_NAMES:
            continue
        if name in clean:
            raise ExchangeRejected(400, f"file {name!r} is sent twice")
        clean[name] = bytes(data)
    check_tree(list(clean))
    size = sum(len(v) for v in clean.values())
    if size > cap:
        raise ExchangeRejected(413, f"this submission has {format_bytes(size)}; the course accepts at most "
                                    f"{format_bytes(cap)} per submission (remove large data files or outputs)")
    for name, data in clean.items():
        target = staging / name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        except OSError as exc:
            raise storage_error(name, exc) from None
    return {name: len(data) for name, data in clean.items()}


def storage_error(name: str, exc: OSError) -> ExchangeRejected:
    """A file that cannot be written: a full disk is the exchange's problem (507), the rest a 400."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ExchangeRejected(507, "the exchange has no space left; tell your instructor")
    return ExchangeRejected(400, f"cannot store {name!r}: {exc.strerror}")


def encode_files(files: dict[str, bytes]) -> dict[str, str]:
    return {k: base64.b64encode(v).decode("ascii") for k, v in files.items()}


def decode_files(files: Any) -> dict[str, bytes]:
    if not isinstance(files, dict):
        raise ExchangeRejected(400, "expected {\"files\": {path: base64}}")
    try:
        return {str(k): base64.b64decode(v, validate=True) for k, v in files.items()}
    except (ValueError, TypeError):
        raise ExchangeRejected(400, "file contents must be base64") from None
