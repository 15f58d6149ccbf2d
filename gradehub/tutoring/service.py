"""The grading service: a JupyterHub service (tornado) with HTML pages and a JSON API.

Run by the hub (see ``gradehub.hub``) as::

    python -m gradehub.tutoring.service --course-root DIR [--port N]

It reads what the hub sets for a managed service (``JUPYTERHUB_API_TOKEN``,
``JUPYTERHUB_SERVICE_PREFIX``, ``JUPYTERHUB_SERVICE_URL``, ``JUPYTERHUB_CLIENT_ID``, …) and
logs users in through the hub's OAuth (:class:`jupyterhub.services.auth.HubOAuth`). Who is an
instructor: a member of the hub group ``instructors`` or an account named with
``--instructor`` / ``$GRADEHUB_INSTRUCTORS``. Tutors: ``course.toml`` ``[tutors]``, the hub
groups ``tutors-<G>``, and ``--tutors-json`` / ``$GRADEHUB_TUTORS`` (``{"A": ["demo-tutor"]}``).

Tests (and local demos) inject an authentication instead of the hub: :class:`HeaderAuth`
(trusts a request header; for API tests only) or :class:`PasswordAuth` (a login form with a
signed cookie). Neither can be chosen from the command line.

Pages (under the service prefix)::

    /                               progress (tutor: own; instructor: all, flags, allocation)
    /a/<week>                       the week's questions and students
    /a/<week>/q/<notebook>/<cell>   question by question: every answer of my students in a row
    /a/<week>/s/<student>           student by student: each answer beside its model answer
    /second                         my second-marking queue (moderation, blind)
    /moderation[/<week>]            instructor: both marks side by side, disagreements

JSON API (under ``api/``): ``me``, ``progress``, ``assignments/<w>/questions[/<nb>/<cell>]``,
``assignments/<w>/students[/<s>]``, ``rubric/<w>/<nb>/<cell>``, ``grades/<w>/<s>/<nb>/<cell>``
(GET, PUT ``{"points", "comment", "flag"}``), ``allocation`` (GET), ``allocation/students/<s>``
(PUT ``{"tutor"}``), ``allocation/split`` (POST ``{"group", "tutors"}``), ``flags`` (GET),
``flags/<w>/<s>/<nb>/<cell>`` (DELETE), ``moderation[/<w>]`` (GET), ``moderation/<w>/sample``
(POST ``{"n", "marker", "seed"}``), ``moderation/<w>/<s>/<nb>/<cell>`` (PUT, the second mark),
``second-marking`` (GET). Refusals are 403, bad input 400, unknown things 404, all as
``{"error": message}``.
"""

from __future__ import annotations

import argparse
import functools
import hmac
import inspect
import json
import logging
import os
import sys
from typing import Any
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import ioloop, web

from ..course import CourseError, load_course
from .api import Grading, NotFound
from .permissions import InvalidInput, PermissionDenied
from .templates import environment

log = logging.getLogger("gradehub.grading")
DEFAULT_PORT = 10102


# --------------------------------------------------------------------------- injected authentication


class LocalAuth:
    """Authentication without a hub. ``get_user`` returns ``{"name", "groups"}`` or None."""

    needs_xsrf = False

    def get_user(self, handler: web.RequestHandler) -> dict | None:
        raise NotImplementedError

    def login_url(self, prefix: str) -> str | None:
        return None

    def logout_url(self, prefix: str) -> str | None:
        return None

    def handlers(self, prefix: str) -> list[tuple]:
        return []


class HeaderAuth(LocalAuth):
    """Trusts ``X-Gradehub-User`` (and ``X-Gradehub-Groups``, comma-separated). Tests only."""

    def get_user(self, handler):
        name = handler.request.headers.get("X-Gradehub-User")
        if not name:
            return None
        groups = [g.strip() for g in handler.request.headers.get("X-Gradehub-Groups", "").split(",") if g.strip()]
        return {"name": name, "groups": groups}


class PasswordAuth(LocalAuth):
    """A login form over fixed accounts, remembered in a signed cookie. Tests and demos only.

    ``accounts``: name → password; ``groups``: name → hub-like groups (e.g. ``instructors``).
    """

    needs_xsrf = True
    cookie = "gradehub-grading-user"

    def __init__(self, accounts: Mapping[str, str], groups: Mapping[str, Iterable[str]] | None = None):
        self.accounts = dict(accounts)
        self.groups = {k: list(v) for k, v in (groups or {}).items()}

    def get_user(self, handler):
        raw = handler.get_secure_cookie(self.cookie)
        if not raw:
            return None
        name = raw.decode()
        return {"name": name, "groups": self.groups.get(name, [])} if name in self.accounts else None

    def check(self, name: str, password: str) -> bool:
        expected = self.accounts.get(name)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    def login_url(self, prefix):
        return url_path_join(prefix, "login")

    def logout_url(self, prefix):
        return url_path_join(prefix, "logout")

    def handlers(self, prefix):
        return [(url_path_join(prefix, "login"), _LoginHandler), (url_path_join(prefix, "logout"), _LogoutHandler)]


# --------------------------------------------------------------------------- base handlers


_STATUS_OF = ((PermissionDenied, 403), (InvalidInput, 400), (NotFound, 404), (CourseError, 500))


def mapped(method: Callable) -> Callable:
    """Turn the library's refusals into HTTP errors (403, 400, 404) with their message."""

    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        try:
            result = method(self, *args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result
        except tuple(e for e, _ in _STATUS_OF) as exc:
            status = next(code for e, code in _STATUS_OF if isinstance(exc, e))
            raise web.HTTPError(status, "%s", str(exc)) from None

    return wrapper


class BaseHandler(HubOAuthenticated, web.RequestHandler):
    """Hub OAuth by default; an injected :class:`LocalAuth` replaces it in tests."""

    @property
    def grading(self) -> Grading:
        return self.settings["grading"]

    @property
    def local_auth(self) -> LocalAuth | None:
        return self.settings.get("gradehub_auth")

    @property
    def base(self) -> str:
        return self.settings["gradehub_prefix"]

    def get_current_user(self):
        if self.local_auth is not None:
            return self.local_auth.get_user(self)
        return super().get_current_user()

    def get_login_url(self):
        if self.local_auth is not None:
            url = self.local_auth.login_url(self.base)
            if url is None:
                raise web.HTTPError(403, "authentication required")
            return url
        return super().get_login_url()

    @property
    def xsrf_token(self):
        if self.local_auth is not None:
            return web.RequestHandler.xsrf_token.fget(self)  # type: ignore[attr-defined]  # a property in tornado
        return super().xsrf_token

    def check_xsrf_cookie(self):
        if self.local_auth is not None:
            if self.local_auth.needs_xsrf:
                web.RequestHandler.check_xsrf_cookie(self)
            return
        return super().check_xsrf_cookie()

    def logout_url(self) -> str | None:
        if self.local_auth is not None:
            return self.local_auth.logout_url(self.base)
        return url_path_join(self.hub_auth.hub_prefix, "logout")

    @property
    def actor(self):
        return self.grading.actor(self.current_user)

    def error_message(self, status_code: int, kwargs: dict) -> str:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            return exc.log_message % exc.args if exc.args else exc.log_message
        return self._reason


class ApiHandler(BaseHandler):
    def get_login_url(self):
        raise web.HTTPError(403, "authentication required")

    def prepare(self):
        if not self.current_user:
            raise web.HTTPError(403, "authentication required")
        self.set_header("Cache-Control", "no-store")

    def body(self) -> dict:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "the request body is not JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "the request body must be a JSON object")
        return data

    def send(self, data: Any) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(data, default=str))

    def write_error(self, status_code, **kwargs):
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": self.error_message(status_code, kwargs), "status": status_code}))


_NO_ME = {"name": "", "instructor": False, "assignments": [], "second_marks_open": 0, "course": {"title": ""}}


class PageHandler(BaseHandler):
    def render_page(self, template: str, **context) -> None:
        me = context.pop("me", None) or self.grading.me(self.actor)
        self.set_header("Cache-Control", "no-store")
        self.set_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'self'; base-uri 'none'",
        )
        page = self.settings["gradehub_templates"].get_template(template)
        self.finish(
            page.render(
                me=me,
                base=self.base,
                xsrf=self.xsrf_text(),
                logout_url=self.logout_url(),
                here=self.request.uri,
                **context,
            )
        )

    def xsrf_text(self) -> str:
        token = self.xsrf_token
        return token.decode() if isinstance(token, bytes) else token

    def write_error(self, status_code, **kwargs):
        message = self.error_message(status_code, kwargs)
        try:
            me = self.grading.me(self.actor) if self.current_user else _NO_ME
        except Exception:  # noqa: BLE001 - an error page must render whatever went wrong
            me = _NO_ME
        self.render_page(
            "error.html", me=me, status=status_code, reason=self._reason, message=message, title=str(status_code)
        )

    def redirect_next(self) -> None:
        target = self.get_body_argument("next", "") or self.base
        parsed = urlparse(target)
        if parsed.scheme or parsed.netloc or not parsed.path.startswith(self.base) or target.startswith("//"):
            target = self.base
        self.redirect(target)

    def form_key(self) -> tuple[str, str, str, str]:
        return tuple(self.get_body_argument(k) for k in ("assignment", "student", "notebook", "cell"))  # type: ignore


# --------------------------------------------------------------------------- pages


class DashboardHandler(PageHandler):
    @web.authenticated
    @mapped
    def get(self):
        actor = self.actor
        me = self.grading.me(actor)
        context: dict[str, Any] = {"progress": self.grading.progress(actor)}
        if actor.instructor:
            context["flags"] = self.grading.flags(actor)
            context["allocation"] = self.grading.allocation(actor)
        self.render_page("dashboard.html", me=me, title="progress", **context)


class AssignmentHandler(PageHandler):
    @web.authenticated
    @mapped
    def get(self, assignment):
        actor = self.actor
        questions = self.grading.questions(actor, assignment)
        students = self.grading.students(actor, assignment)
        title = self.grading.course().assignment(assignment).title
        self.render_page("assignment.html", title=title, assignment=assignment, questions=questions, students=students)


class QuestionHandler(PageHandler):
    @web.authenticated
    @mapped
    def get(self, assignment, notebook, cell):
        todo = self.get_query_argument("todo", "") not in ("", "0")
        q = self.grading.question_answers(self.actor, assignment, notebook, cell, todo_only=todo)
        self.render_page("question.html", title=f"{assignment} {cell}", q=q, todo=todo)


class StudentHandler(PageHandler):
    @web.authenticated
    @mapped
    def get(self, assignment, student):
        actor = self.actor
        s = self.grading.student_answers(actor, assignment, student)
        order = [x["student"] for x in self.grading.students(actor, assignment)]
        i = order.index(student) if student in order else -1
        prev = order[i - 1] if i > 0 else None
        nxt = order[i + 1] if 0 <= i < len(order) - 1 else None
        self.render_page("student.html", title=f"{assignment} {student}", s=s, prev=prev, next=nxt)


class GradeFormHandler(PageHandler):
    """POST from the grade form of the question and student pages."""

    @mapped
    def post(self):
        if not self.current_user:
            raise web.HTTPError(403, "authentication required")
        points = self.get_body_argument("points", "").strip()
        flagged = self.get_body_argument("flag", "") not in ("", "0")
        message = self.get_body_argument("flag_message", "").strip()
        self.grading.set_grade(
            self.actor,
            self.form_key(),
            points=points if points != "" else None,
            comment=self.get_body_argument("comment", ""),
            flag=(message or "please look at this answer") if flagged else False,
        )
        self.redirect_next()


class SecondMarkingHandler(PageHandler):
    @web.authenticated
    @mapped
    def get(self):
        self.render_page("second.html", title="second marking", items=self.grading.second_marking(self.actor))

    @mapped
    def post(self):
        if not self.current_user:
            raise web.HTTPError(403, "authentication required")
        points = self.get_body_argument("points", "").strip()
        self.grading.set_second_mark(
            self.actor, self.form_key(), points=points or None, comment=self.get_body_argument("comment", "")
        )
        self.redirect(url_path_join(self.base, "second"))


class ModerationPageHandler(PageHandler):
    @web.authenticated
    @mapped
    def get(self, assignment=None):
        actor = self.actor
        if not actor.instructor:
            self.redirect(url_path_join(self.base, "second"))
            return
        self.render_page(
            "moderation.html", title="moderation", assignment=assignment, m=self.grading.moderation(actor, assignment)
        )


class AdminFormHandler(PageHandler):
    """The instructor's forms: move, split, draw a moderation sample, resolve a flag."""

    @mapped
    def post(self, action):
        if not self.current_user:
            raise web.HTTPError(403, "authentication required")
        actor, arg = self.actor, self.get_body_argument
        if action == "move":
            self.grading.move(actor, arg("student"), arg("tutor", "").strip() or None)
        elif action == "split":
            self.grading.split(actor, arg("group"), [arg("tutor1").strip(), arg("tutor2").strip()])
        elif action == "moderate":
            try:
                n = int(arg("sample", "0"))
            except ValueError:
                raise InvalidInput("sample: a whole number is required") from None
            assignment = arg("assignment")
            self.grading.draw_sample(actor, assignment, n, marker=arg("marker", "").strip() or None)
            self.redirect(url_path_join(self.base, "moderation", assignment))
            return
        elif action == "resolve":
            self.grading.resolve_flag(actor, self.form_key())
        self.redirect(self.base)


class _LoginHandler(PageHandler):
    def get(self):
        self.finish(
            self.settings["gradehub_templates"]
            .get_template("login.html")
            .render(xsrf=self.xsrf_text(), next=self.get_query_argument("next", self.base), error="")
        )

    def post(self):
        auth: PasswordAuth = self.local_auth  # type: ignore[assignment]
        name, password = self.get_body_argument("username", ""), self.get_body_argument("password", "")
        if not auth.check(name, password):
            self.set_status(403)
            self.finish(
                self.settings["gradehub_templates"]
                .get_template("login.html")
                .render(
                    xsrf=self.xsrf_text(),
                    next=self.get_body_argument("next", self.base),
                    error="unknown account or wrong password",
                )
            )
            return
        self.set_secure_cookie(auth.cookie, name, path=self.base, httponly=True, samesite="Lax")
        self.redirect_next()


class _LogoutHandler(PageHandler):
    def get(self):
        self.clear_cookie(PasswordAuth.cookie, path=self.base)
        self.redirect(url_path_join(self.base, "login"))


# --------------------------------------------------------------------------- JSON API


class MeApi(ApiHandler):
    @mapped
    def get(self):
        self.send(self.grading.me(self.actor))


class ProgressApi(ApiHandler):
    @mapped
    def get(self):
        self.send(
            self.grading.progress(
                self.actor, self.get_query_argument("assignment", None), self.get_query_argument("tutor", None)
            )
        )


class QuestionsApi(ApiHandler):
    @mapped
    def get(self, assignment, notebook=None, cell=None):
        if notebook is None:
            self.send(self.grading.questions(self.actor, assignment))
        else:
            todo = self.get_query_argument("todo", "") not in ("", "0")
            self.send(self.grading.question_answers(self.actor, assignment, notebook, cell, todo_only=todo))


class StudentsApi(ApiHandler):
    @mapped
    def get(self, assignment, student=None):
        if student is None:
            self.send(self.grading.students(self.actor, assignment))
        else:
            self.send(self.grading.student_answers(self.actor, assignment, student))


class RubricApi(ApiHandler):
    @mapped
    def get(self, assignment, notebook, cell):
        self.send(self.grading.rubric(self.actor, assignment, notebook, cell))


class GradeApi(ApiHandler):
    @mapped
    def get(self, *key):
        self.send(self.grading.get_grade(self.actor, key))

    @mapped
    def put(self, *key):
        data = self.body()
        self.send(
            self.grading.set_grade(
                self.actor, key, points=data.get("points"), comment=data.get("comment"), flag=data.get("flag")
            )
        )


class AllocationApi(ApiHandler):
    @mapped
    def get(self):
        self.send(self.grading.allocation(self.actor))


class MoveApi(ApiHandler):
    @mapped
    def put(self, student):
        tutor = self.body().get("tutor")
        if tutor is not None and not isinstance(tutor, str):
            raise InvalidInput("tutor: an account name, or null for the group's tutors")
        self.send(self.grading.move(self.actor, student, tutor or None))


class SplitApi(ApiHandler):
    @mapped
    def post(self):
        data = self.body()
        tutors = data.get("tutors")
        if not isinstance(tutors, list) or not all(isinstance(t, str) for t in tutors):
            raise InvalidInput("tutors: a list of two account names")
        self.send(self.grading.split(self.actor, str(data.get("group", "")), tutors))


class FlagsApi(ApiHandler):
    @mapped
    def get(self):
        self.send(self.grading.flags(self.actor, self.get_query_argument("assignment", None)))

    @mapped
    def delete(self, *key):
        self.send({"resolved": self.grading.resolve_flag(self.actor, key)})


class ModerationApi(ApiHandler):
    @mapped
    def get(self, assignment=None):
        self.send(self.grading.moderation(self.actor, assignment))


class SampleApi(ApiHandler):
    @mapped
    def post(self, assignment):
        data = self.body()
        self.send(
            self.grading.draw_sample(
                self.actor, assignment, data.get("n"), marker=data.get("marker"), seed=data.get("seed")
            )
        )


class SecondMarkApi(ApiHandler):
    @mapped
    def get(self):
        self.send(self.grading.second_marking(self.actor, self.get_query_argument("assignment", None)))

    @mapped
    def put(self, *key):
        data = self.body()
        self.send(self.grading.set_second_mark(self.actor, key, points=data.get("points"), comment=data.get("comment")))


# --------------------------------------------------------------------------- the application


def make_app(
    course_root,
    *,
    prefix: str = "/",
    auth: LocalAuth | None = None,
    instructors: Iterable[str] = (),
    instructor_groups: Iterable[str] = ("instructors",),
    extra_tutors: Mapping[str, Iterable[str]] | None = None,
    cookie_secret: bytes | None = None,
) -> web.Application:
    """The tornado application. ``auth=None``: JupyterHub OAuth (the hub's environment)."""
    prefix = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"
    grading = Grading(
        course_root, instructors=instructors, instructor_groups=instructor_groups, extra_tutors=extra_tutors
    )
    seg = "([^/]+)"

    def p(*parts: str) -> str:
        return url_path_join(prefix, *parts)

    key = f"{seg}/{seg}/{seg}/{seg}"
    handlers: list[tuple] = [
        (prefix, DashboardHandler),
        (p("a", seg), AssignmentHandler),
        (p("a", seg, "q", seg, seg), QuestionHandler),
        (p("a", seg, "s", seg), StudentHandler),
        (p("grade"), GradeFormHandler),
        (p("second"), SecondMarkingHandler),
        (p("moderation"), ModerationPageHandler),
        (p("moderation", seg), ModerationPageHandler),
        (p("admin", "(move|split|moderate|resolve)"), AdminFormHandler),
        (p("api", "me"), MeApi),
        (p("api", "progress"), ProgressApi),
        (p("api", "assignments", seg, "questions"), QuestionsApi),
        (p("api", "assignments", seg, "questions", seg, seg), QuestionsApi),
        (p("api", "assignments", seg, "students"), StudentsApi),
        (p("api", "assignments", seg, "students", seg), StudentsApi),
        (p("api", "rubric", seg, seg, seg), RubricApi),
        (p("api", "grades", key), GradeApi),
        (p("api", "allocation"), AllocationApi),
        (p("api", "allocation", "students", seg), MoveApi),
        (p("api", "allocation", "split"), SplitApi),
        (p("api", "flags"), FlagsApi),
        (p("api", "flags", key), FlagsApi),
        (p("api", "moderation"), ModerationApi),
        (p("api", "moderation", seg), ModerationApi),
        (p("api", "moderation", seg, "sample"), SampleApi),
        (p("api", "moderation", key), SecondMarkApi),
        (p("api", "second-marking"), SecondMarkApi),
    ]
    if prefix != "/":
        handlers.insert(0, (prefix.rstrip("/"), web.RedirectHandler, {"url": prefix}))
    if auth is None:
        handlers.append((p("oauth_callback"), HubOAuthCallbackHandler))
    else:
        handlers.extend(auth.handlers(prefix))
    settings: dict[str, Any] = {
        "grading": grading,
        "gradehub_auth": auth,
        "gradehub_prefix": prefix,
        "gradehub_templates": environment(),
        "cookie_secret": cookie_secret or os.urandom(32),
        # HubOAuth checks xsrf itself on cookie-authenticated writes (not on token requests);
        # tornado's check is for the injected cookie login only.
        "xsrf_cookies": bool(auth is not None and auth.needs_xsrf),
        "login_url": p("login"),
    }
    return web.Application(handlers, **settings)


def _env_list(name: str) -> list[str]:
    return [x.strip() for x in os.environ.get(name, "").split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gradehub.tutoring.service", description="The gradehub grading service (a JupyterHub service)."
    )
    parser.add_argument("--course-root", default=os.environ.get("GRADEHUB_COURSE_ROOT", "."), metavar="DIR")
    service_url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", ""))
    parser.add_argument("--ip", default=service_url.hostname or "127.0.0.1")
    parser.add_argument("--port", type=int, default=service_url.port or DEFAULT_PORT)
    parser.add_argument(
        "--instructor",
        action="append",
        default=_env_list("GRADEHUB_INSTRUCTORS"),
        metavar="NAME",
        help="an instructor account (besides the hub group 'instructors')",
    )
    parser.add_argument(
        "--tutors-json",
        default=os.environ.get("GRADEHUB_TUTORS", ""),
        metavar="JSON",
        help='tutor accounts added to course.toml [tutors], e.g. {"A": ["demo-tutor"]}',
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="[%(levelname)1.1s %(asctime)s grading] %(message)s")
    if not os.environ.get("JUPYTERHUB_API_TOKEN"):
        print(
            "error: the grading service runs as a JupyterHub service (JUPYTERHUB_API_TOKEN is not set); "
            "start it through `gradehub hub` or the hub's configuration",
            file=sys.stderr,
        )
        return 2
    try:
        course = load_course(args.course_root)
        extra = json.loads(args.tutors_json) if args.tutors_json else {}
        if not isinstance(extra, dict) or not all(isinstance(v, list) for v in extra.values()):
            raise ValueError("expected an object of lists")
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: --tutors-json / GRADEHUB_TUTORS: {exc}", file=sys.stderr)
        return 2
    secret = os.environ.get("GRADEHUB_GRADING_COOKIE_SECRET")
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/grading/")
    app = make_app(
        course.root,
        prefix=prefix,
        instructors=args.instructor,
        extra_tutors=extra,
        cookie_secret=bytes.fromhex(secret) if secret else None,
    )
    app.listen(args.port, address=args.ip, xheaders=True)
    log.info("grading service for %s on http://%s:%d%s", course.id, args.ip, args.port, prefix)
    ioloop.IOLoop.current().start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
