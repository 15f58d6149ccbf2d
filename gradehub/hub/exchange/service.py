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
import threading
from pathlib import Path
from typing import Any, cast

from .store import (
    ExchangeRejected,
    ExchangeStore,
    encode_files,
    format_bytes,
    receipt_of,
)

TAR_TYPES = ("application/x-tar", "application/tar")
UPLOAD_WORKERS = 4


def make_app(store: ExchangeStore, prefixes: tuple[str, ...] = ("/",)):
    """The tornado application; every handler is hub-authenticated (token or cookie)."""
    from concurrent.futures import ThreadPoolExecutor

    from jupyterhub.services.auth import HubAuth, HubAuthenticated
    from tornado import web
    from tornado.ioloop import IOLoop

    from .uploads import Spool, receive

    # unpacking and committing uploads: disk-bound, off the event loop; the store's lock orders commits
    workers = ThreadPoolExecutor(max_workers=UPLOAD_WORKERS, thread_name_prefix="exchange-upload")

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

        async def prepare(self):
            # Ask the hub whose token this is without blocking the loop: HubAuthenticated's own
            # get_current_user blocks on that call (first request per token; cached after), and at
            # a deadline every request in flight (uploads included) waits behind it: measured with
            # 300 students on the Compose stack, submit p95 11 s blocking, 0.17-0.46 s awaited.
            await self.hub_auth.get_user(self, sync=False)

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
        """The body goes to a spool file as it arrives (:class:`.uploads.Spool`: memory does not
        grow with its size) and is refused (413) as soon as it exceeds the course's cap. When it is
        complete, a worker thread unpacks and commits it (:func:`.uploads.receive`), so
        the event loop keeps serving everyone else meanwhile. The answer says stored exactly when
        it is stored: a client that closed the connection before the commit gets nothing stored."""

        def _body_cap(self) -> int:
            return store.submission_cap() * 4 // 3 + 2**20     # base64 (legacy JSON), names, headers

        async def prepare(self):
            await super().prepare()
            self._spool: Spool | None = None
            self._gone = threading.Event()
            self._receiving = False
            if self.request.method != "POST":
                return
            if not self.current_user:
                raise web.HTTPError(403)
            length = self.request.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > self._body_cap():
                raise web.HTTPError(413, f"this submission has about {format_bytes(int(length) * 3 // 4)}; the course "
                                         f"accepts at most {format_bytes(store.submission_cap())} per submission")
            self._upload_id = self.request.headers.get("X-Gradehub-Upload-Id") or None
            self._spool = Spool(store.staging_dir, self._body_cap())

        def data_received(self, chunk: bytes) -> None:
            if self._spool is not None:
                self._spool.write(chunk)

        def on_connection_close(self):
            self._gone.set()
            if self._spool is not None and not self._receiving:   # else on_finish, after the worker
                self._spool.discard()

        def on_finish(self):
            if self._spool is not None:
                self._spool.discard()

        @web.authenticated
        async def post(self, assignment):
            spool = cast(Spool, self._spool)
            if spool.too_large:
                raise web.HTTPError(413, f"the course accepts at most {format_bytes(store.submission_cap())} per submission")
            body = spool.finish()
            if self._upload_id:
                # checked once the body is read: refusing earlier resets the connection under a
                # client still sending, which then never sees the message
                self.run(receipt_of, self._upload_id)
            ctype = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
            wire = "tar" if ctype in TAR_TYPES else "json"
            # a "timestamp" a client sends along is ignored: the time is the server's, at the commit
            gone = self._gone
            self._receiving = True
            try:
                result = await IOLoop.current().run_in_executor(
                    workers, lambda: receive(store, self.username, assignment, body, wire, upload_id=self._upload_id,
                                             still_wanted=lambda: not gone.is_set()))
            except ExchangeRejected as exc:
                raise RefusedError(exc.status, str(exc).replace("%", "%%"), exc.retry_after) from None
            self.write_json({"student_id": self.username, "assignment_id": assignment, **result}, status=201)

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


def prepare_store(store: ExchangeStore) -> None:
    """At the service's start: the folders, no leftovers of unfinished uploads, a current index
    (rebuilt here, before the first request, when inbound/ changed while the service was down)."""
    store.ensure()
    store.clear_staging()
    store.index.fresh()


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
    prepare_store(store)
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
