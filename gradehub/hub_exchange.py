"""The multi-user exchange: a hub-authenticated service, and nbgrader exchange classes that use it.

nbgrader's file exchange trusts the filesystem: students write into a shared ``inbound/``
folder and the submission's time is whatever their own process wrote. In containers every
student is uid 1000, so file permissions cannot keep one student out of another's work, and
a student can write any ``timestamp.txt``. Here the exchange folder lives only where the hub
runs; students reach it through this service:

* **who**: every request carries the server's ``$JUPYTERHUB_API_TOKEN``; the hub says whose it
  is. A student can only list, fetch feedback for, and add submissions of their own name.
* **when**: the service stamps the submission time itself (UTC) and ignores any
  ``timestamp.txt`` sent along; the folder name's random suffix makes every submission a new
  folder, so nothing is ever overwritten.
* **what**: paths are checked (no ``..``, no absolute paths, no links, no name that is both a
  file and a folder), and only released assignments accept submissions. A malformed request is
  a 400, never a 500.
* **how much**: ``[exchange]`` of ``course.toml`` caps the bytes of one submission and of all of
  a student's submissions to one assignment (413), the submissions per student and assignment,
  and their rate per student (429, with ``Retry-After``). The client in the student's server
  shows the service's message in JupyterLab's Assignments panel.
* **from when**: an assignment is listed and handed out only from its ``release`` date, unless
  the instructor released or unreleased it in the formgrader (``gradehub.releases``).

On disk the service writes nbgrader's own layout (``<exchange>/<course>/inbound/<student>+
<assignment>+<timestamp>+<random>/`` with ``timestamp.txt`` and ``submission_secret.txt``), so
``gradehub collect``, nbgrader's collect and the formgrader work on it unchanged; released
assignments are read from ``outbound/`` (``gradehub.exchange.publish``) and feedback from
``feedback/`` (nbgrader's release_feedback).

Run by the hub as the managed service ``gradehub-exchange``::

    python -m gradehub.hub_exchange --course-root DIR

In each single-user server, ``gradehub.singleuser`` points nbgrader's ``ExchangeFactory`` at
:class:`HubExchangeList`, :class:`HubExchangeFetchAssignment`, :class:`HubExchangeSubmit` and
:class:`HubExchangeFetchFeedback` (only nbgrader and the standard library are needed there).

REST API (JSON; file contents base64):

===========================================  ================================================
``GET  /api/assignments``                    released assignments: id and notebooks
``GET  /api/assignments/<a>``                the released files of one assignment
``GET  /api/submissions[?assignment_id=a]``  the caller's own submissions and feedback state
``POST /api/assignments/<a>/submissions``    submit ``{"files": {path: b64}}``; returns time
``GET  /api/assignments/<a>/feedback``       the caller's feedback, by submission time
===========================================  ================================================
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Any

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_RESERVED = {"timestamp.txt", "submission_secret.txt"}
_SKIP_DIRS = {".ipynb_checkpoints", "__pycache__", "feedback", ".git"}


class ExchangeRejected(Exception):
    """A request the exchange refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def _size(n: int) -> str:
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


def _valid_id(name: str) -> bool:
    return bool(_ID.match(name or "")) and "+" not in name and name not in (".", "..")


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - a checksum, as nbgrader uses


# =========================================================================== the store (hub side)


class ExchangeStore:
    """nbgrader's exchange layout under ``root/course_id``, with per-student access rules."""

    def __init__(self, root: Path, course_id: str, *, max_upload: int = 50 * 2**20, max_files: int = 200,
                 clock=None, course_root: Path | None = None):
        if not _valid_id(course_id):
            raise ValueError(f"invalid course id {course_id!r}")
        self.course_dir = Path(root) / course_id
        self.course_id = course_id
        self.max_upload = max_upload          # the service's own cap; course.toml's [exchange] is within it
        self.max_files = max_files
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self.course_root = Path(course_root) if course_root else None
        self._course: tuple[Any, Any] = (None, None)     # (course.toml's mtime, Course)

    # --- the course: limits and release dates, re-read when course.toml changes
    def course(self):
        if self.course_root is None:
            return None
        from .course import CourseError, load_course
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
        from .course import ExchangeLimits
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
        from .releases import is_released, read_overrides
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
                        ignore=shutil.ignore_patterns(*_SKIP_DIRS, "*.pyc"))
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
        for name in sorted(n for n in names if _valid_id(n)):
            if not self.is_visible(name, now):
                continue
            d = self._published(name)
            if d is not None:
                out.append({"assignment_id": name, "notebooks": sorted(p.stem for p in d.glob("*.ipynb"))})
        return out

    def _released_dir(self, assignment: str, now: dt.datetime | None = None) -> Path:
        if not _valid_id(assignment):
            raise ExchangeRejected(400, f"invalid assignment id {assignment!r}")
        path = self._published(assignment) if self.is_visible(assignment, now) else None
        if path is None:
            raise ExchangeRejected(404, f"assignment {assignment!r} is not released")
        return path

    def release_files(self, assignment: str) -> dict[str, bytes]:
        base = self._released_dir(assignment)
        files = {}
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.is_symlink() and not (set(path.relative_to(base).parts) & _SKIP_DIRS):
                files[path.relative_to(base).as_posix()] = path.read_bytes()
        return files

    # --- submissions
    @staticmethod
    def _clean_path(name: str) -> str:
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
        if set(p.parts) & _SKIP_DIRS:
            raise ExchangeRejected(400, f"file {name!r} is in a folder that is not submitted")
        return p.as_posix()

    @staticmethod
    def _check_tree(names: list[str]) -> None:
        """No name is also a folder of another one (``a.ipynb`` and ``a.ipynb/b``)."""
        files = set(names)
        for name in names:
            parts = name.split("/")
            for i in range(1, len(parts)):
                folder = "/".join(parts[:i])
                if folder in files:
                    raise ExchangeRejected(400, f"{folder!r} is sent both as a file and as a folder (of {name!r})")

    def _check_quota(self, student: str, assignment: str, size: int, now: dt.datetime) -> None:
        lim = self.limits()
        cap = self.submission_cap()
        if size > cap:
            raise ExchangeRejected(413, f"this submission has {_size(size)}; the course accepts at most {_size(cap)} "
                                        "per submission (remove large data files or outputs)")
        own = self._own_submissions(student, assignment)
        if len(own) >= lim.max_submissions:
            raise ExchangeRejected(429, f"you have submitted {assignment} {len(own)} times, as often as the course "
                                        "accepts; ask your instructor if you need to submit again")
        used = sum(_tree_bytes(d) for d in own)
        if used + size > lim.max_total_bytes:
            raise ExchangeRejected(413, f"your submissions of {assignment} take {_size(used)}; with this one "
                                        f"({_size(size)}) they would exceed the {_size(lim.max_total_bytes)} the "
                                        "course keeps per student and assignment")
        window = dt.timedelta(seconds=lim.rate_window)
        recent = sorted(t for t in (_parse_stamp(d.name.split("+")[2]) for d in self._own_submissions(student))
                        if t is not None and now - window < t <= now + dt.timedelta(seconds=5))
        if len(recent) >= lim.rate_count:
            wait = max(1, int((recent[-lim.rate_count] + window - now).total_seconds()) + 1)
            raise ExchangeRejected(429, f"you have submitted {len(recent)} times in the last "
                                        f"{lim.rate_window / 60:g} min, the most the course accepts "
                                        f"({lim.describe_rate()}); try again in {wait} s", retry_after=wait)

    def submit(self, student: str, assignment: str, files: dict[str, bytes]) -> str:
        """Store a new submission; returns the server's timestamp (nbgrader format, UTC)."""
        if not _valid_id(student):
            raise ExchangeRejected(403, f"{student!r} cannot submit (not a valid student id)")
        now = self.clock().astimezone(dt.timezone.utc)      # one reading: the submission's time
        self._released_dir(assignment, now)
        if not files:
            raise ExchangeRejected(400, "a submission needs at least one file")
        if len(files) > self.max_files:
            raise ExchangeRejected(413, f"{len(files)} files; at most {self.max_files} are accepted")
        clean = {}
        for name, data in files.items():
            name = self._clean_path(name)
            if not isinstance(data, (bytes, bytearray)):
                raise ExchangeRejected(400, f"the contents of {name!r} are not bytes")
            if name in _RESERVED:
                continue  # the service writes these itself
            if name in clean:
                raise ExchangeRejected(400, f"file {name!r} is sent twice")
            clean[name] = data
        self._check_tree(list(clean))
        if not any(n.endswith(".ipynb") for n in clean):
            raise ExchangeRejected(400, "a submission needs at least one notebook")
        self._check_quota(student, assignment, sum(len(v) for v in clean.values()), now)
        self.ensure()
        stamp = now.strftime(TIMESTAMP_FORMAT)
        suffix = base64.urlsafe_b64encode(os.urandom(9)).decode("ascii")
        final = self.inbound / f"{student}+{assignment}+{stamp}+{suffix}"
        tmp = self.inbound / f".incoming-{secrets.token_hex(8)}"
        tmp.mkdir(mode=0o700)
        try:
            for name, data in clean.items():
                target = tmp / name
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                except OSError as exc:
                    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                        raise ExchangeRejected(507, "the exchange has no space left; tell your instructor") from None
                    raise ExchangeRejected(400, f"cannot store {name!r}: {exc.strerror}") from None
            (tmp / "timestamp.txt").write_text(stamp, encoding="utf-8")
            (tmp / "submission_secret.txt").write_text(secrets.token_hex(64), encoding="utf-8")
            os.rename(tmp, final)   # never replaces: the name is new
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return stamp

    def _own_submissions(self, student: str, assignment: str | None = None) -> list[Path]:
        if not _valid_id(student) or not self.inbound.is_dir():
            return []
        prefix = f"{student}+"
        out = []
        for d in self.inbound.iterdir():
            if not d.is_dir() or not d.name.startswith(prefix):
                continue
            parts = d.name.split("+")
            if len(parts) < 3 or (assignment and parts[1] != assignment):
                continue
            out.append(d)
        return out

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
        """The student's own submissions: assignment, server timestamp, feedback per notebook."""
        out = []
        for d in self._own_submissions(student, assignment):
            notebooks = []
            for nb in sorted(d.glob("*.ipynb")):
                fb = self._feedback_file(d, nb.stem)
                notebooks.append({"notebook_id": nb.stem, "has_exchange_feedback": fb is not None,
                                  "feedback_checksum": _md5(fb.read_bytes()) if fb else None})
            out.append({"assignment_id": d.name.split("+")[1], "timestamp": self._timestamp_of(d),
                        "notebooks": notebooks})
        return sorted(out, key=lambda s: (s["assignment_id"], s["timestamp"]))

    def feedback(self, student: str, assignment: str) -> dict[str, dict[str, bytes]]:
        """``{timestamp: {notebook_id: html}}`` for the student's own submissions."""
        if not _valid_id(assignment):
            raise ExchangeRejected(400, f"invalid assignment id {assignment!r}")
        out: dict[str, dict[str, bytes]] = {}
        for d in self._own_submissions(student, assignment):
            for nb in sorted(d.glob("*.ipynb")):
                fb = self._feedback_file(d, nb.stem)
                if fb is not None:
                    out.setdefault(self._timestamp_of(d), {})[nb.stem] = fb.read_bytes()
        return out


def _b64(files: dict[str, bytes]) -> dict[str, str]:
    return {k: base64.b64encode(v).decode("ascii") for k, v in files.items()}


def _unb64(files: Any) -> dict[str, bytes]:
    if not isinstance(files, dict):
        raise ExchangeRejected(400, "expected {\"files\": {path: base64}}")
    try:
        return {str(k): base64.b64decode(v, validate=True) for k, v in files.items()}
    except (ValueError, TypeError):
        raise ExchangeRejected(400, "file contents must be base64") from None


# =========================================================================== the service


def make_app(store: ExchangeStore, prefixes: tuple[str, ...] = ("/",)):
    """The tornado application; every handler is hub-authenticated (token or cookie)."""
    from jupyterhub.services.auth import HubAuth, HubAuthenticated
    from tornado import web

    hub_auth = HubAuth()

    class Handler(HubAuthenticated, web.RequestHandler):
        def initialize(self):
            self.hub_auth = hub_auth
            self.store = store

        def check_xsrf_cookie(self):
            # requests are token-authenticated (the server's API token), not cookie-based
            pass

        @property
        def username(self) -> str:
            return self.current_user["name"]

        def write_json(self, data: Any, status: int = 200) -> None:
            self.set_status(status)
            self.set_header("Content-Type", "application/json")
            self.set_header("Cache-Control", "no-store")
            self.finish(json.dumps(data))

        def write_error(self, status_code: int, **kwargs) -> None:
            exc = kwargs.get("exc_info", (None, None, None))[1]
            message = getattr(exc, "log_message", None)
            if message and getattr(exc, "args", None):
                message = message % exc.args
            elif message:
                message = message.replace("%%", "%")
            message = message or self._reason
            if getattr(exc, "retry_after", None):
                self.set_header("Retry-After", str(exc.retry_after))
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"message": message, "status": status_code}))

        def run(self, fn, *args):
            try:
                return fn(*args)
            except ExchangeRejected as exc:
                error = web.HTTPError(exc.status, str(exc).replace("%", "%%"))
                error.retry_after = exc.retry_after
                raise error from None

    class Assignments(Handler):
        @web.authenticated
        def get(self):
            self.write_json({"course_id": store.course_id, "assignments": store.released(),
                             "limits": store.limits_info()})

    class Assignment(Handler):
        @web.authenticated
        def get(self, assignment):
            self.write_json({"assignment_id": assignment,
                             "files": _b64(self.run(store.release_files, assignment))})

    class Submissions(Handler):
        @web.authenticated
        def get(self):
            aid = self.get_argument("assignment_id", None) or None
            self.write_json({"student_id": self.username,
                             "submissions": store.submissions(self.username, aid)})

    @web.stream_request_body
    class Submit(Handler):
        """The body is read in chunks and refused (413) as soon as it exceeds the course's cap."""

        def _body_cap(self) -> int:
            return store.submission_cap() * 4 // 3 + 2**20     # base64, names and JSON around it

        def prepare(self):
            self._chunks: list[bytes] = []
            self._received = 0
            self._too_large = False
            if self.request.method != "POST":
                return
            if not self.current_user:
                raise web.HTTPError(403)
            length = self.request.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > self._body_cap():
                self._too_large = True
                raise web.HTTPError(413, f"this submission has about {_size(int(length) * 3 // 4)}; the course "
                                         f"accepts at most {_size(store.submission_cap())} per submission")

        def data_received(self, chunk: bytes) -> None:
            if self._too_large:
                return
            self._received += len(chunk)
            if self._received > self._body_cap():
                self._too_large = True
                self._chunks.clear()
                return
            self._chunks.append(chunk)

        @web.authenticated
        def post(self, assignment):
            if self._too_large:
                raise web.HTTPError(413, f"the course accepts at most {_size(store.submission_cap())} per submission")
            try:
                body = json.loads(b"".join(self._chunks) or b"{}")
            except (ValueError, UnicodeDecodeError):
                raise web.HTTPError(400, "the body is not JSON") from None
            if not isinstance(body, dict):
                raise web.HTTPError(400, "expected a JSON object {\"files\": {path: base64}}")
            files = self.run(_unb64, body.get("files"))
            # body["timestamp"], if a client sends one, is ignored: the time is the server's
            stamp = self.run(store.submit, self.username, assignment, files)
            self.write_json({"student_id": self.username, "assignment_id": assignment,
                             "timestamp": stamp}, status=201)

    class Feedback(Handler):
        @web.authenticated
        def get(self, assignment):
            fb = self.run(store.feedback, self.username, assignment)
            self.write_json({"feedback": {ts: _b64(files) for ts, files in fb.items()}})

    class Health(web.RequestHandler):
        def get(self):
            self.finish({"ok": True})

    aid = r"([A-Za-z0-9][A-Za-z0-9_.-]{0,63})"
    routes = []
    for prefix in dict.fromkeys(p.rstrip("/") for p in prefixes):
        routes += [
            (rf"{prefix}/", Health),
            (rf"{prefix}/api/health", Health),
            (rf"{prefix}/api/assignments", Assignments),
            (rf"{prefix}/api/assignments/{aid}", Assignment),
            (rf"{prefix}/api/assignments/{aid}/submissions", Submit),
            (rf"{prefix}/api/assignments/{aid}/feedback", Feedback),
            (rf"{prefix}/api/submissions", Submissions),
        ]
    # bodies are capped per request by Submit (a 413 with a message, not a dropped connection)
    return web.Application(routes, cookie_secret=secrets.token_bytes(32),
                           max_body_size=max(store.max_upload, 2**20) * 2)


def serve(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gradehub.hub_exchange",
                                     description="gradehub's multi-user exchange (a JupyterHub service)")
    parser.add_argument("--course-root", default=os.environ.get("GRADEHUB_COURSE_ROOT", "."),
                        help="read the course id and exchange folder from here (unless given)")
    parser.add_argument("--course-id", default=None)
    parser.add_argument("--exchange-root", default=None, help="nbgrader's Exchange.root")
    parser.add_argument("--max-upload", type=int, default=50 * 2**20)
    parser.add_argument("--max-files", type=int, default=200)
    args = parser.parse_args(argv)

    from urllib.parse import urlparse

    from tornado import ioloop

    if args.course_id and args.exchange_root:
        course_id, root = args.course_id, Path(args.exchange_root)
    else:  # slower: reads the course's files (and imports nbgrader)
        from .course import load_course
        from .exchange import exchange_root

        course = load_course(args.course_root)
        course_id, root = course.id, exchange_root(course)
    store = ExchangeStore(root, course_id, max_upload=args.max_upload, max_files=args.max_files,
                          course_root=Path(args.course_root))
    store.ensure()
    url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101"))
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
    # reachable both directly (the servers) and through the proxy (/services/gradehub-exchange/)
    app = make_app(store, ("/", prefix))
    app.listen(url.port or 80, url.hostname or "127.0.0.1")
    print(f"gradehub exchange for {course_id} at {url.geturl()} (exchange {store.course_dir})", flush=True)
    loop = ioloop.IOLoop.current()
    import signal
    for sig in (signal.SIGINT, signal.SIGTERM):   # the hub's stop: at once, without a traceback
        loop.asyncio_loop.add_signal_handler(sig, loop.stop)
    loop.start()
    sys.stdout.flush()
    os._exit(0)    # every submission is already on disk (renamed into place); skip the slow teardown


# =========================================================================== the client (in servers)


try:
    from nbgrader.exchange.abc import Exchange as _ABCExchange
    from nbgrader.exchange.abc import ExchangeFetchAssignment as _ABCFetchAssignment
    from nbgrader.exchange.abc import ExchangeFetchFeedback as _ABCFetchFeedback
    from nbgrader.exchange.abc import ExchangeList as _ABCList
    from nbgrader.exchange.abc import ExchangeSubmit as _ABCSubmit
    from traitlets import Bool, Unicode, default
except ImportError:  # pragma: no cover - the service side does not need the client
    _ABCExchange = None

if _ABCExchange is not None:

    class HubExchange(_ABCExchange):
        """Common part of the client classes: where the service is, and how to call it."""

        url = Unicode(help="the exchange service URL ($GRADEHUB_EXCHANGE_URL)").tag(config=True)
        token = Unicode(help="API token ($JUPYTERHUB_API_TOKEN)").tag(config=True)
        path_includes_course = Bool(False, help="assignments live in <course>/<assignment>").tag(config=True)
        timeout = 60

        @default("url")
        def _url_default(self):
            return os.environ.get("GRADEHUB_EXCHANGE_URL", "")

        @default("token")
        def _token_default(self):
            return os.environ.get("JUPYTERHUB_API_TOKEN", "")

        def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
            if not self.url:
                self.fail("GRADEHUB_EXCHANGE_URL is not set: this server was not started by the course hub")
            data = json.dumps(body).encode() if body is not None else None
            req = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method)
            req.add_header("Authorization", f"token {self.token}")
            if data is not None:
                req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - our URL
                    return json.loads(resp.read() or b"{}")
            except urllib.error.HTTPError as exc:
                try:
                    message = json.loads(exc.read()).get("message") or exc.reason
                except ValueError:
                    message = exc.reason
                self.fail(f"the exchange refused ({exc.code}): {message}")
            except (ConnectionResetError, BrokenPipeError) as exc:
                self.fail(f"the exchange closed the connection ({exc}); a submission that is too large "
                          "is refused like this")
            except (urllib.error.URLError, OSError) as exc:
                self.fail(f"the exchange at {self.url} does not answer: {exc}")

        def course_id(self) -> str:
            return self.coursedir.course_id or os.environ.get("GRADEHUB_COURSE_ID", "")

        def local_dir(self, assignment_id: str, course_id: str | None = None) -> str:
            parts = [course_id or self.course_id(), assignment_id] if self.path_includes_course else [assignment_id]
            return os.path.abspath(os.path.join(self.assignment_dir, *parts))

        def init_src(self):
            pass

        def init_dest(self):
            pass

        def copy_files(self):
            pass

    class HubExchangeFetchAssignment(HubExchange, _ABCFetchAssignment):
        def start(self):
            aid = self.coursedir.assignment_id
            if not aid:
                self.fail("no assignment given")
            dest = self.local_dir(aid)
            if os.path.isdir(dest) and not self.replace_missing_files:
                self.fail(f"You already have a copy of {aid} at {dest}: rename it to fetch again")
            files = _unb64(self.call("GET", f"/api/assignments/{aid}")["files"])
            for name, data in files.items():
                target = os.path.join(dest, *PurePosixPath(ExchangeStore._clean_path(name)).parts)
                if os.path.exists(target):
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as fh:
                    fh.write(data)
            self.log.info(f"Fetched as: {self.course_id()} {aid}")

    class HubExchangeSubmit(HubExchange, _ABCSubmit):
        max_files = 200

        def start(self):
            aid = self.coursedir.assignment_id
            src = self.local_dir(aid)
            if not os.path.isdir(src):
                self.fail(f"Assignment not found: {src} (fetch it first)")
            files: dict[str, bytes] = {}
            for root, dirs, names in os.walk(src):
                dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")]
                for name in names:
                    path = os.path.join(root, name)
                    if os.path.islink(path) or name in _RESERVED:
                        continue
                    files[os.path.relpath(path, src).replace(os.sep, "/")] = open(path, "rb").read()
                    if len(files) > self.max_files:
                        self.fail(f"{src} holds more than {self.max_files} files")
            listing = self.call("GET", "/api/assignments")
            released = {a["assignment_id"]: a["notebooks"] for a in listing["assignments"]}
            if aid not in released:
                self.fail(f"{aid} is not a released assignment of {self.course_id()}")
            cap = (listing.get("limits") or {}).get("max_submission_bytes")
            size = sum(len(v) for v in files.values())
            if cap and size > cap:   # the service refuses it too (413); this spares the upload
                self.fail(f"this submission has {_size(size)}; the course accepts at most {_size(cap)} "
                          "per submission (remove large data files or outputs)")
            submitted = {n[:-6] for n in files if n.endswith(".ipynb") and "/" not in n}
            missing = sorted(set(released[aid]) - submitted)
            if missing:
                msg = f"notebooks missing from the submission: {', '.join(m + '.ipynb' for m in missing)}"
                if self.strict:
                    self.fail(msg)
                self.log.warning(msg)
            result = self.call("POST", f"/api/assignments/{aid}/submissions", {"files": _b64(files)})
            self.timestamp = result["timestamp"]
            self.log.info(f"Submitted as: {self.course_id()} {aid} {result['timestamp']}")
            return result

    class HubExchangeFetchFeedback(HubExchange, _ABCFetchFeedback):
        def start(self):
            aid = self.coursedir.assignment_id
            feedback = self.call("GET", f"/api/assignments/{aid}/feedback")["feedback"]
            dest = os.path.join(self.local_dir(aid), "feedback")
            for timestamp, files in feedback.items():
                folder = os.path.join(dest, timestamp)
                os.makedirs(folder, exist_ok=True)
                for nb_id, data in _unb64(files).items():
                    if not _valid_id(nb_id):
                        continue
                    with open(os.path.join(folder, f"{nb_id}.html"), "wb") as fh:
                        fh.write(data)
                    self.log.info(f"Fetched feedback: {os.path.join(folder, nb_id + '.html')}")

    class HubExchangeList(HubExchange, _ABCList):
        def start(self):
            if self.inbound:
                self.fail("students cannot list the inbound exchange")
            if self.remove:
                self.fail("removing from the exchange is not supported")
            return self.list_files()

        def list_files(self):
            course = self.course_id()
            wanted = self.coursedir.assignment_id or None
            if self.cached:
                return self._submitted(course, wanted)
            out = []
            for a in self.call("GET", "/api/assignments")["assignments"]:
                aid = a["assignment_id"]
                if wanted and aid != wanted:
                    continue
                local = self.local_dir(aid, course)
                fetched = os.path.isdir(local)
                info = {"course_id": course, "assignment_id": aid,
                        "status": "fetched" if fetched else "released",
                        "path": local if fetched else f"{course}/{aid}",
                        "notebooks": [{"notebook_id": nb, "path": os.path.join(local, nb + ".ipynb")}
                                      for nb in a["notebooks"]]}
                out.append(info)
            return out

        def _submitted(self, course: str, wanted: str | None):
            query = f"?assignment_id={wanted}" if wanted else ""
            data = self.call("GET", f"/api/submissions{query}")
            student = data["student_id"]
            grouped: dict[str, list[dict[str, Any]]] = {}
            for sub in data["submissions"]:
                aid, ts = sub["assignment_id"], sub["timestamp"]
                local = self.local_dir(aid, course)
                fb_dir = os.path.join(local, "feedback", ts)
                notebooks = []
                for nb in sub["notebooks"]:
                    path = os.path.join(fb_dir, nb["notebook_id"] + ".html")
                    has_local = os.path.isfile(path)
                    local_sum = _md5(open(path, "rb").read()) if has_local else None
                    notebooks.append({
                        "notebook_id": nb["notebook_id"], "path": os.path.join(local, nb["notebook_id"] + ".ipynb"),
                        "has_local_feedback": has_local, "has_exchange_feedback": nb["has_exchange_feedback"],
                        "local_feedback_path": path if has_local else None,
                        "feedback_updated": bool(has_local and nb["has_exchange_feedback"]
                                                 and local_sum != nb["feedback_checksum"]),
                    })
                has_local = bool(notebooks) and all(n["has_local_feedback"] for n in notebooks)
                info = {"course_id": course, "student_id": student, "assignment_id": aid, "timestamp": ts,
                        "status": "submitted", "path": local, "notebooks": notebooks,
                        "has_local_feedback": has_local,
                        "has_exchange_feedback": bool(notebooks) and all(n["has_exchange_feedback"] for n in notebooks),
                        "feedback_updated": any(n["feedback_updated"] for n in notebooks),
                        "local_feedback_path": fb_dir if has_local else None}
                grouped.setdefault(aid, []).append(info)
            return [{"course_id": course, "student_id": student, "assignment_id": aid, "status": "submitted",
                     "submissions": sorted(subs, key=lambda s: s["timestamp"])}
                    for aid, subs in sorted(grouped.items())]


if __name__ == "__main__":
    serve(sys.argv[1:])
