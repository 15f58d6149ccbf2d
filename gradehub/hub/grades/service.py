"""The grades service: a JupyterHub service (tornado) where students read their results.

Run by the hub (:func:`gradehub.hub.config.grades_service`) as::

    python -m gradehub.hub.grades.service --course-root DIR

Users log in through the hub's OAuth (:class:`jupyterhub.services.auth.HubOAuth`), as in the
tutors' grading service. Who sees what: :mod:`.access` (a student their own page, 403 for any
other; instructors every student; tutors the students they grade). The data is
:func:`gradehub.results.student_results`: grades, tutor points and comments and totals only for
weeks whose grades the instructor released (``gradehub grades release``).

Pages (under ``/services/grades/``)::

    /                                the logged-in student's page (staff: the list of students)
    /students                        staff: choose a student; instructors: release / withdraw grades
    /s/<student>                     a student's page, as the student sees it
    /feedback/<assignment>           the feedback page released to the logged-in student
    /s/<student>/feedback/<a>        the same, for staff
    POST /release                    instructors: ``assignment``, ``undo`` (a form on /students)

JSON (``Cache-Control: no-store``; errors are ``{"error": message, "status": code}``)::

    GET /api/me                      the logged-in student's results (403 for an account that
                                     is not a student of the course)
    GET /api/students/<student>      the same for one student (self, their tutor, instructors)

From a student's own server (a JupyterLab extension's server side), call
``$GRADEHUB_GRADES_URL`` + ``api/me`` with ``Authorization: token $JUPYTERHUB_API_TOKEN``: the
hub gives every server token access to this service (``gradehub.hub.config.server_token_scopes``)
and says whose it is. A page of another path cannot use this service's login cookie from the
browser (JupyterHub's XSRF check on cookie-authenticated requests), so the lab asks via its server.

Shape of ``/api/me`` (times ISO 8601 with offset; points are numbers; ``null`` where unknown)::

    {"student": "s001", "name": "Ada Lovelace", "group": "A",
     "course": {"id": "nat3008", "title": "...", "timezone": "Europe/Berlin"},
     "now": "2026-10-24T08:00:00+00:00",
     "assignments": [                       # the sheets handed out so far, in course order
       {"id": "week01", "title": "...",
        "due": "...",                       # the course's deadline (null: none)
        "due_applied": "...",               # this student's deadline: an extension's when later
        "extension": "extension to ... granted by ... (reason)" | null,
        "late_policy": "10% per started day after 15 min grace, at most 100%",
        "grace_seconds": 900.0,
        "penalty_now": {"late_hours": 0.0, "share": 0.0, "points": 0.0, "max_points": 17.0},
                                            # what submitting now would cost
        "status": "open" | "not submitted" | "submitted" | "graded" | "graded; your tutor has not finished"
                  | "failed: ..." | "invalid: ...",   # graded states only once released
        "submitted_at": "..." | null, "late_hours": 0.0, "late_penalty": 0.0,
        "grades_released": false,
        "max_score": 17.0, "score": null, "total": null,   # numbers once released
        "tasks": [],                        # once released: {"notebook", "task", "kind"
                                            #   ("tests"|"written"), "max_score", "auto_score",
                                            #   "tutor_score", "score", "comment", "execution"}
        "feedback_url": "/services/grades/feedback/week01" | null,
        "feedback_released_at": "..." | null}],
     "total": {"points": 0.0, "max_points": 0.0, "released_weeks": [], "course_max": 190.0},
     "exam_bonus": {"threshold": 0.5, "points_needed": 95.0, "points_to_go": 95.0, "reached": false}}

Every page sends ``default-src 'none'`` (styles inline only, no script, forms to itself, no
framing by other origins); a released feedback page is served with gradehub's feedback policy
and ``sandbox``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import ioloop, web

from ...course import Course, CourseError, is_valid_id, load_course
from ...feedback import FEEDBACK_CSP
from ...gradebook import TUTOR_OVERRIDES, feedback_releases, gradebook_engine
from ...results import (
    ResultsContext,
    grade_release_states,
    load_context,
    release_grades,
    release_state,
    student_results,
)
from .access import Allocation, Forbidden, Viewer, check_instructor, check_may_see, viewer_from, visible_students
from .pages import environment

log = logging.getLogger("gradehub.grades")
DEFAULT_PORT = 10103
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'"


class NotFound(LookupError):
    """No such student or assignment, or nothing released (HTTP 404)."""


class Results:
    """The course's results as the service reads them: cached for ``cache_seconds``."""

    def __init__(
        self,
        course_root: str | Path,
        *,
        instructors: Iterable[str] = (),
        extra_tutors: Mapping[str, Iterable[str]] | None = None,
        cache_seconds: float = 10.0,
        clock: Callable[[], Any] | None = None,
    ):
        self.course_root = Path(course_root)
        self.instructors = frozenset(instructors)
        self.extra_tutors = {g: tuple(v) for g, v in (extra_tutors or {}).items()}
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._context: ResultsContext | None = None
        self._lock = threading.Lock()

    def course(self) -> Course:
        return load_course(self.course_root)

    def context(self) -> ResultsContext:
        """The frames, rebuilt at most every ``cache_seconds`` (one request rebuilds; those
        arriving meanwhile wait for it instead of each building their own), with the release
        state read on every request: an instructor's release shows at once, and a withdrawal
        hides the grades at once, not up to ``cache_seconds`` later."""
        course = self.course()
        with self._lock:
            ctx = self._context
            if ctx is None or time.monotonic() - ctx.loaded_at > self.cache_seconds:
                ctx = self._context = load_context(course)
                return ctx
        released, feedback = release_state(course)
        return dataclasses.replace(ctx, released=released, feedback=feedback)

    def viewer(self, model: Mapping) -> Viewer:
        return viewer_from(model, self.instructors)

    def allocation(self, course: Course) -> Allocation:
        roster = course.roster() if course.roster_path.is_file() else []
        tutors = {g: tuple(v) for g, v in course.tutors.items()}
        for group, names in self.extra_tutors.items():
            tutors[group] = tuple(dict.fromkeys([*tutors.get(group, ()), *names]))
        overrides: dict[str, str] = {}
        engine = gradebook_engine(course)
        try:
            from sqlalchemy import inspect, select

            if inspect(engine).has_table(TUTOR_OVERRIDES.name):
                with engine.connect() as conn:
                    rows = conn.execute(select(TUTOR_OVERRIDES.c.student, TUTOR_OVERRIDES.c.tutor)).fetchall()
                overrides = {r[0]: r[1] for r in rows}
        finally:
            engine.dispose()
        return Allocation({s.id: s.group for s in roster}, tutors, overrides)

    def students(self, ctx: ResultsContext) -> list[dict[str, str]]:
        ov = ctx.frames.overview
        return [
            {"id": str(r["student"]), "name": f"{r['first_name']} {r['last_name']}".strip(), "group": str(r["group"])}
            for r in ov.to_dict("records")
        ]

    def visible(self, course: Course) -> Callable[[str], bool]:
        import datetime as dt

        from ..releases import is_released, read_overrides

        overrides = read_overrides(course.root)
        now = self.now() or dt.datetime.now(dt.UTC)
        return lambda aid: is_released(course, aid, now, overrides)

    def now(self):
        return self.clock() if self.clock else None

    def results_of(self, viewer: Viewer, student: str, base: str, *, own: bool) -> dict[str, Any]:
        course = self.course()
        if not is_valid_id(student):
            raise NotFound("no such student")
        if viewer.name != student:
            check_may_see(viewer, student, self.allocation(course))
        ctx = self.context()
        if student not in set(ctx.frames.overview["student"]):
            if viewer.name == student:
                raise Forbidden(f"{student} is not a student of {course.id}: there are no results to show")
            raise NotFound(f"{student} is not a student of {course.id}")

        def link(aid: str) -> str:
            if own:
                return url_path_join(base, "feedback", aid)
            return url_path_join(base, "s", urllib.parse.quote(student, safe=""), "feedback", aid)

        return student_results(course, student, ctx, now=self.now(), visible=self.visible(course), feedback_url=link)

    def feedback_page(self, viewer: Viewer, student: str, assignment: str) -> bytes:
        from ...exchange import released_feedback_page

        course = self.course()
        if not is_valid_id(student) or not is_valid_id(assignment):
            raise NotFound("no such feedback")
        if viewer.name != student:
            check_may_see(viewer, student, self.allocation(course))
        engine = gradebook_engine(course)
        try:  # the release as it is now (not the cached context): a re-release shows at once
            release = feedback_releases(engine, assignment).get((assignment, student))
        finally:
            engine.dispose()
        page = released_feedback_page(course, release) if release else None
        if page is None:
            raise NotFound(f"no feedback for {assignment} has been released to {student}")
        return page

    def staff_index(self, viewer: Viewer) -> dict[str, Any]:
        course = self.course()
        ctx = self.context()
        students = self.students(ctx)
        allowed = set(visible_students(viewer, [s["id"] for s in students], self.allocation(course)))
        if not allowed and not viewer.instructor:
            raise Forbidden(f"{viewer.name} is neither a tutor nor an instructor of {course.id}")
        return {
            "course": {"id": course.id, "title": course.title},
            "students": [s for s in students if s["id"] in allowed],
            "instructor": viewer.instructor,
            "releases": grade_release_states(course) if viewer.instructor else [],
        }

    def release(self, viewer: Viewer, assignment: str, undo: bool) -> list[str]:
        check_instructor(viewer, "releasing grades")
        course = self.course()
        if assignment not in {a.id for a in course.assignments}:
            raise NotFound(f"unknown assignment {assignment!r}")
        result = release_grades(course, assignment, undo=undo, by=viewer.name)
        self._context = None
        return result.lines()


# --------------------------------------------------------------------------- handlers


class BaseHandler(HubOAuthenticated, web.RequestHandler):
    @property
    def results(self) -> Results:
        return self.settings["gradehub_results"]

    @property
    def base(self) -> str:
        return self.settings["gradehub_prefix"]

    @property
    def injected_user(self) -> Callable[[web.RequestHandler], dict | None] | None:
        return self.settings.get("gradehub_user")

    def get_current_user(self):
        if self.injected_user is not None:
            return self.injected_user(self)
        return super().get_current_user()

    def get_login_url(self):
        if self.injected_user is not None:
            raise web.HTTPError(403, "authentication required")
        return super().get_login_url()

    def check_xsrf_cookie(self):
        if self.injected_user is not None:
            return None
        return super().check_xsrf_cookie()

    @property
    def viewer(self) -> Viewer:
        return self.results.viewer(self.current_user)

    def xsrf_text(self) -> str:
        if self.injected_user is not None:
            return ""
        token = self.xsrf_token
        return token.decode() if isinstance(token, bytes) else token

    def message_of(self, kwargs: dict) -> str:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            return exc.log_message % exc.args if exc.args else exc.log_message
        return self._reason

    async def call(self, fn, *args, **kwargs):
        """Run the (blocking) library call in a thread; its refusals become HTTP errors."""
        try:
            return await asyncio.get_running_loop().run_in_executor(None, lambda: fn(*args, **kwargs))
        except Forbidden as exc:
            raise web.HTTPError(403, "%s", str(exc)) from None
        except NotFound as exc:
            raise web.HTTPError(404, "%s", str(exc)) from None
        except CourseError as exc:
            raise web.HTTPError(409, "%s", str(exc)) from None


class PageHandler(BaseHandler):
    def set_default_headers(self):
        self.set_header("Content-Security-Policy", PAGE_CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")

    def render_page(self, template: str, **context) -> None:
        env = self.settings["gradehub_templates"]
        user = self.current_user
        self.finish(
            env.get_template(template).render(
                base=self.base,
                viewer=user["name"] if user else "",
                hub_home=self.settings.get("gradehub_hub_home"),
                xsrf=self.xsrf_text(),
                **context,
            )
        )

    def write_error(self, status_code, **kwargs):
        self.render_page(
            "error.html",
            title=str(status_code),
            status=status_code,
            reason=self._reason,
            message=self.message_of(kwargs),
            staff=False,
        )


class HomeHandler(PageHandler):
    @web.authenticated
    async def get(self):
        viewer = self.viewer
        try:
            r = await self.call(self.results.results_of, viewer, viewer.name, self.base, own=True)
        except web.HTTPError as exc:
            if exc.status_code != 403:
                raise
            self.redirect(url_path_join(self.base, "students"))  # staff: choose a student
            return
        self.render_page("student.html", title=r["student"], r=r, viewing_as=False, staff=False)


class StudentsHandler(PageHandler):
    @web.authenticated
    async def get(self):
        index = await self.call(self.results.staff_index, self.viewer)
        self.render_page("students.html", title="students", staff=True, **index)


class StudentHandler(PageHandler):
    @web.authenticated
    async def get(self, student):
        viewer = self.viewer
        own = viewer.name == student
        r = await self.call(self.results.results_of, viewer, student, self.base, own=own)
        self.render_page("student.html", title=student, r=r, viewing_as=not own, staff=not own)


class FeedbackHandler(BaseHandler):
    """A released feedback page, under gradehub's feedback policy, sandboxed."""

    @web.authenticated
    async def get(self, student_or_assignment, assignment=None):
        viewer = self.viewer
        student, aid = (
            (viewer.name, student_or_assignment) if assignment is None else (student_or_assignment, assignment)
        )
        page = await self.call(self.results.feedback_page, viewer, student, aid)
        self.set_header("Content-Security-Policy", f"{FEEDBACK_CSP}; sandbox")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page)

    def write_error(self, status_code, **kwargs):
        self.set_header("Content-Security-Policy", PAGE_CSP)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code}: {self.message_of(kwargs)}")


class ReleaseHandler(PageHandler):
    async def post(self):
        if not self.current_user:
            raise web.HTTPError(403, "authentication required")
        assignment = self.get_body_argument("assignment", "")
        undo = self.get_body_argument("undo", "") not in ("", "0")
        await self.call(self.results.release, self.viewer, assignment, undo)
        self.redirect(url_path_join(self.base, "students"))


class ApiHandler(BaseHandler):
    def get_login_url(self):
        raise web.HTTPError(403, "authentication required")

    def prepare(self):
        self.set_header("Cache-Control", "no-store")
        if not self.current_user:
            raise web.HTTPError(403, "authentication required")

    def send(self, data: Any) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(data, default=str))

    def write_error(self, status_code, **kwargs):
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": self.message_of(kwargs), "status": status_code}))


class MeApi(ApiHandler):
    async def get(self):
        viewer = self.viewer
        self.send(await self.call(self.results.results_of, viewer, viewer.name, self.base, own=True))


class StudentApi(ApiHandler):
    async def get(self, student):
        viewer = self.viewer
        own = viewer.name == student
        self.send(await self.call(self.results.results_of, viewer, student, self.base, own=own))


# --------------------------------------------------------------------------- the application


def make_app(
    course_root,
    *,
    prefix: str = "/services/grades/",
    instructors: Iterable[str] = (),
    extra_tutors: Mapping[str, Iterable[str]] | None = None,
    user: Callable[[web.RequestHandler], dict | None] | None = None,
    cache_seconds: float = 10.0,
    clock: Callable[[], Any] | None = None,
    cookie_secret: bytes | None = None,
    hub_home: str | None = None,
) -> web.Application:
    """The tornado application. ``user=None``: JupyterHub OAuth; tests inject ``user(handler)``."""
    prefix = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"
    results = Results(
        course_root,
        instructors=instructors,
        extra_tutors=extra_tutors,
        cache_seconds=cache_seconds,
        clock=clock,
    )
    course = results.course()
    seg = "([^/]+)"

    def p(*parts: str) -> str:
        return url_path_join(prefix, *parts)

    handlers: list[tuple] = [
        (prefix, HomeHandler),
        (p("students"), StudentsHandler),
        (p("s", seg), StudentHandler),
        (p("s", seg, "feedback", seg), FeedbackHandler),
        (p("feedback", seg), FeedbackHandler),
        (p("release"), ReleaseHandler),
        (p("api", "me"), MeApi),
        (p("api", "students", seg), StudentApi),
    ]
    if prefix != "/":
        handlers.insert(0, (prefix.rstrip("/"), web.RedirectHandler, {"url": prefix}))
    if user is None:
        handlers.append((p("oauth_callback"), HubOAuthCallbackHandler))
    settings: dict[str, Any] = {
        "gradehub_results": results,
        "gradehub_prefix": prefix,
        "gradehub_user": user,
        "gradehub_templates": environment(course.timezone),
        "gradehub_hub_home": hub_home,
        "cookie_secret": cookie_secret or os.urandom(32),
        "xsrf_cookies": False,  # HubOAuth checks xsrf itself on cookie-authenticated writes
    }
    return web.Application(handlers, **settings)


def _env_list(name: str) -> list[str]:
    return [x.strip() for x in os.environ.get(name, "").split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gradehub.hub.grades.service", description="Students' grades (a JupyterHub service)."
    )
    parser.add_argument("--course-root", default=os.environ.get("GRADEHUB_COURSE_ROOT", "."), metavar="DIR")
    service_url = urllib.parse.urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", ""))
    parser.add_argument("--ip", default=service_url.hostname or "127.0.0.1")
    parser.add_argument("--port", type=int, default=service_url.port or DEFAULT_PORT)
    parser.add_argument("--instructor", action="append", default=_env_list("GRADEHUB_INSTRUCTORS"), metavar="NAME")
    parser.add_argument("--tutors-json", default=os.environ.get("GRADEHUB_TUTORS", ""), metavar="JSON")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="[%(levelname)1.1s %(asctime)s grades] %(message)s")
    if not os.environ.get("JUPYTERHUB_API_TOKEN"):
        print(
            "error: the grades service runs as a JupyterHub service (JUPYTERHUB_API_TOKEN is not set)", file=sys.stderr
        )
        return 2
    try:
        extra = json.loads(args.tutors_json) if args.tutors_json else {}
        if not isinstance(extra, dict):
            raise ValueError("expected an object of lists")
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/grades/")
        app = make_app(
            args.course_root,
            prefix=prefix,
            instructors=args.instructor,
            extra_tutors=extra,
            hub_home=url_path_join(os.environ.get("JUPYTERHUB_BASE_URL", "/"), "hub", "home"),
        )
    except (CourseError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app.listen(args.port, address=args.ip, xheaders=True)
    log.info("grades service on http://%s:%d%s", args.ip, args.port, prefix)
    ioloop.IOLoop.current().start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
