"""nbgrader's exchange in the students' servers: list, fetch, submit and fetch feedback through
the hub's exchange service (:mod:`gradehub.hub.exchange.service`) instead of a shared folder.

``gradehub.hub.singleuser`` configures them (``ExchangeFactory``). Only nbgrader, traitlets and
the standard library are needed: this runs in the notebook image.
"""

from __future__ import annotations

import json
import os
import secrets
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import PurePosixPath
from typing import IO, Any, NoReturn

from nbgrader.exchange.abc import Exchange as _ABCExchange
from nbgrader.exchange.abc import ExchangeFetchAssignment as _ABCFetchAssignment
from nbgrader.exchange.abc import ExchangeFetchFeedback as _ABCFetchFeedback
from nbgrader.exchange.abc import ExchangeList as _ABCList
from nbgrader.exchange.abc import ExchangeSubmit as _ABCSubmit
from nbgrader.exchange.abc.exchange import ExchangeError
from traitlets import Bool, Unicode, default

from .store import (
    RESERVED_NAMES,
    SKIP_DIRS,
    clean_path,
    decode_files,
    encode_files,
    format_bytes,
    md5_hex,
    receipt_of,
    valid_id,
)


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

    def fail(self, msg: str) -> NoReturn:
        # nbgrader's fail() logs and raises ExchangeError; typed here so callers need no return after it
        super().fail(msg)
        raise AssertionError(msg)    # not reached

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """One request; a file object as ``body`` is streamed (with its length), anything else sent
        as JSON. A refusal raises ExchangeError with ``answered = True`` (the service decided);
        a lost answer without it."""
        if not self.url:
            self.fail("GRADEHUB_EXCHANGE_URL is not set: this server was not started by the course hub")
        req = urllib.request.Request(self.url.rstrip("/") + path, method=method)
        req.add_header("Authorization", f"token {self.token}")
        if hasattr(body, "read"):
            req.data = body
            req.add_header("Content-Length", str(os.fstat(body.fileno()).st_size))
        elif body is not None:
            req.data = json.dumps(body).encode()
            req.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - our URL
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("message") or exc.reason
            except ValueError:
                message = exc.reason
            if exc.code >= 500:
                self.fail(f"the exchange failed ({exc.code}): {message}")
            try:
                self.fail(f"the exchange refused ({exc.code}): {message}")
            except ExchangeError as refused:
                refused.answered = True
                raise
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
        files = decode_files(self.call("GET", f"/api/assignments/{aid}")["files"])
        for name, data in files.items():
            target = os.path.join(dest, *PurePosixPath(clean_path(name)).parts)
            if os.path.exists(target):
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(data)
        self.log.info(f"Fetched as: {self.course_id()} {aid}")

class HubExchangeSubmit(HubExchange, _ABCSubmit):
    """Sends the assignment folder as an uncompressed tar, streamed from a temporary file (the
    service streams it to disk too), with an upload id of its own. When the answer is lost (a
    timeout, a dropped connection, a 5xx), it asks the service whether a submission with that id
    was stored, and says what is true: stored (with its time), or not stored."""

    max_files = 200

    def _pack(self, src: str) -> tuple[IO[bytes], int, list[str]]:
        """The tar of ``src`` in a temporary file; returns it (at 0), its size and the names."""
        out = tempfile.TemporaryFile()
        names: list[str] = []
        size = 0
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for root, dirs, files in os.walk(src):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
                for name in sorted(files):
                    path = os.path.join(root, name)
                    if os.path.islink(path) or name in RESERVED_NAMES or not os.path.isfile(path):
                        continue
                    rel = os.path.relpath(path, src).replace(os.sep, "/")
                    names.append(rel)
                    if len(names) > self.max_files:
                        self.fail(f"{src} holds more than {self.max_files} files")
                    info = tar.gettarinfo(path, arcname=rel)
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    info.mode = 0o644
                    size += info.size
                    with open(path, "rb") as fh:
                        tar.addfile(info, fh)
        out.seek(0)
        return out, size, names

    def _stored(self, aid: str, upload_id: str) -> dict[str, Any] | None:
        """The submission stored under ``upload_id``, if any (asked after a lost answer)."""
        want = receipt_of(upload_id)
        try:
            listing = self.call("GET", f"/api/submissions?assignment_id={aid}")
        except ExchangeError:
            return None
        for sub in listing.get("submissions", []):
            if sub.get("receipt") == want:
                return sub
        return None

    def start(self):
        aid = self.coursedir.assignment_id
        src = self.local_dir(aid)
        if not os.path.isdir(src):
            self.fail(f"Assignment not found: {src} (fetch it first)")
        listing = self.call("GET", "/api/assignments")
        released = {a["assignment_id"]: a["notebooks"] for a in listing["assignments"]}
        if aid not in released:
            self.fail(f"{aid} is not a released assignment of {self.course_id()}")
        body, size, names = self._pack(src)
        with body:
            cap = (listing.get("limits") or {}).get("max_submission_bytes")
            if cap and size > cap:   # the service refuses it too (413); this spares the upload
                self.fail(f"this submission has {format_bytes(size)}; the course accepts at most {format_bytes(cap)} "
                          "per submission (remove large data files or outputs)")
            submitted = {n[:-6] for n in names if n.endswith(".ipynb") and "/" not in n}
            missing = sorted(set(released[aid]) - submitted)
            if missing:
                msg = f"notebooks missing from the submission: {', '.join(m + '.ipynb' for m in missing)}"
                if self.strict:
                    self.fail(msg)
                self.log.warning(msg)
            upload_id = secrets.token_urlsafe(24)
            try:
                result = self.call("POST", f"/api/assignments/{aid}/submissions", body,
                                   headers={"Content-Type": "application/x-tar", "X-Gradehub-Upload-Id": upload_id})
            except ExchangeError as exc:
                if getattr(exc, "answered", False):
                    raise       # the service said no: nothing was stored
                stored = self._stored(aid, upload_id)
                if stored is None:
                    self.fail(f"{exc}. The submission was not stored; submit again")
                result = {"timestamp": stored["timestamp"]}
                self.log.warning("the answer was lost, but the exchange has stored this submission")
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
            for nb_id, data in decode_files(files).items():
                if not valid_id(nb_id):
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
                local_sum = md5_hex(open(path, "rb").read()) if has_local else None
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
