"""The exchange service: a tornado application around :class:`~.store.ExchangeStore`, run by the
hub as the managed service ``gradehub-exchange``::

    python -m gradehub.hub.exchange.service --course-root DIR

Every handler is hub-authenticated (the server's API token, or the hub's cookie): the hub says
whose the call is, and the store decides what that user may see and add. See
:mod:`gradehub.hub.exchange` for the REST API.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any, cast

from .store import (
    ExchangeRejected,
    ExchangeStore,
    decode_files,
    encode_files,
    format_bytes,
)


def make_app(store: ExchangeStore, prefixes: tuple[str, ...] = ("/",)):
    """The tornado application; every handler is hub-authenticated (token or cookie)."""
    from jupyterhub.services.auth import HubAuth, HubAuthenticated
    from tornado import web

    class RefusedError(web.HTTPError):
        """A refusal of the store (413, 429), with the seconds after which to try again."""

        def __init__(self, status: int, message: str, retry_after: float | None = None):
            super().__init__(status, message)
            self.retry_after = retry_after

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
                raise RefusedError(exc.status, str(exc).replace("%", "%%"), exc.retry_after) from None

    class Assignments(Handler):
        @web.authenticated
        def get(self):
            self.write_json({"course_id": store.course_id, "assignments": store.released(),
                             "limits": store.limits_info()})

    class Assignment(Handler):
        @web.authenticated
        def get(self, assignment):
            self.write_json({"assignment_id": assignment,
                             "files": encode_files(self.run(store.release_files, assignment, self.username))})

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
                raise web.HTTPError(413, f"this submission has about {format_bytes(int(length) * 3 // 4)}; the course "
                                         f"accepts at most {format_bytes(store.submission_cap())} per submission")

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
                raise web.HTTPError(413, f"the course accepts at most {format_bytes(store.submission_cap())} per submission")
            try:
                body = json.loads(b"".join(self._chunks) or b"{}")
            except (ValueError, UnicodeDecodeError):
                raise web.HTTPError(400, "the body is not JSON") from None
            if not isinstance(body, dict):
                raise web.HTTPError(400, "expected a JSON object {\"files\": {path: base64}}")
            files = self.run(decode_files, body.get("files"))
            # body["timestamp"], if a client sends one, is ignored: the time is the server's
            stamp = self.run(store.submit, self.username, assignment, files)
            self.write_json({"student_id": self.username, "assignment_id": assignment,
                             "timestamp": stamp}, status=201)

    class Feedback(Handler):
        @web.authenticated
        def get(self, assignment):
            fb = self.run(store.feedback, self.username, assignment)
            self.write_json({"feedback": {ts: encode_files(files) for ts, files in fb.items()}})

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
    parser = argparse.ArgumentParser(prog="python -m gradehub.hub.exchange.service",
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
        from ...course import load_course
        from ...exchange import exchange_root

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
    asyncio_loop = cast(Any, loop).asyncio_loop   # tornado's IOLoop runs on asyncio (AsyncIOMainLoop)
    for sig in (signal.SIGINT, signal.SIGTERM):   # the hub's stop: at once, without a traceback
        asyncio_loop.add_signal_handler(sig, loop.stop)
    loop.start()
    sys.stdout.flush()
    os._exit(0)    # every submission is already on disk (renamed into place); skip the slow teardown


if __name__ == "__main__":
    serve(sys.argv[1:])
