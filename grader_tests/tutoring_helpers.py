"""A tutored toy course with a ready gradebook, and the grading service on a loopback port.

The course is the toy sheet of ``conftest`` plus a second free-response question, five
students in two tutor groups, and submissions written straight into the gradebook with
``gradehub.gradebook.write_submission`` (no notebook runs). nbgrader's release is slow, so the
course is built once per test process and copied for each user.
"""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import json
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import nbformat

from conftest import REPO, TOY_COURSE_TOML, cell_by_id, nbg, toy_source

TUTORS_TOML = """
[tutors]
A = ["tutor_a"]
B = ["tutor_b"]
"""
ROSTER = ("id,first_name,last_name,email,group\n"
          "alice,Alice,Adler,a@x.org,A\ncarol,Carol,Castro,c@x.org,A\nerin,Erin,Eng,e@x.org,A\n"
          "bob,Bob,Brandt,b@x.org,B\ndave,Dave,Dorn,d@x.org,B\n")
XSS = ("Squares are products. <script>alert('xss')</script> <img src=x onerror=\"alert(1)\"> "
       "[click me](javascript:alert(1)) **bold**")
# student → (explain answer, reflect answer); None: left as released (blank)
ANSWERS = {
    "alice": ("It is a product: x times x.", "Try $x = -2$: the square is $4$, the sign is lost."),
    "carol": (XSS, "Negative inputs give positive squares."),
    "erin": (None, None),
    "bob": ("A product of x with itself.", "Squares of reals are never negative."),
    "dave": ("x*x", "Because (-x)^2 = x^2."),
}
INSTRUCTOR = "prof"


def tutored_source() -> nbformat.NotebookNode:
    """The toy sheet with a second free-response question ``reflect`` (2 points)."""
    nb = toy_source()
    nb.cells.append(nbformat.v4.new_markdown_cell(
        "## Reflect (2 points, graded by your tutor)\nWhy is a square never negative?",
        metadata=nbg("reflect_question", locked=True)))
    nb.cells.append(nbformat.v4.new_markdown_cell(
        "### BEGIN SOLUTION\n**Model answer.** A square is a product of two numbers of the same sign.\n\n"
        "**Rubric.**\n- 1 point: same sign.\n- 1 point: a product of two negatives is positive.\n"
        "### END SOLUTION", metadata=nbg("reflect", grade=True, solution=True, points=2)))
    return nb


_TEMPLATE: list[Path] = []


def _build_template() -> Path:
    from gradehub.course import load_course
    from gradehub.gradebook import StatusRow, open_gradebook, sync_roster, write_submission
    from gradehub.release import release

    tmp = Path(tempfile.mkdtemp(prefix="gradehub-tutoring-"))
    atexit.register(shutil.rmtree, tmp, True)
    root = tmp / "course"
    (root / "source" / "toy").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "course.toml").write_text(TOY_COURSE_TOML + TUTORS_TOML)
    (root / "roster.csv").write_text(ROSTER)
    nbformat.write(tutored_source(), root / "source" / "toy" / "toy.ipynb")
    course = load_course(root)
    release(course, "toy")
    released = nbformat.read(course.release_dir("toy") / "toy.ipynb", as_version=4)
    when = dt.datetime(2026, 10, 23, 20, 0, tzinfo=dt.timezone.utc)
    with open_gradebook(course) as gb:
        sync_roster(gb, course)
        for student, (explain, reflect) in ANSWERS.items():
            nb = nbformat.from_dict(json.loads(nbformat.writes(released)))
            for gid, text in (("explain", explain), ("reflect", reflect)):
                if text is not None:
                    cell_by_id(nb, gid).source = text
            out = course.autograded_dir(student, "toy")
            out.mkdir(parents=True)
            nbformat.write(nb, out / "toy.ipynb")
            scores = {"square_tests": (2.0, False), "add_tests": (1.0, False)}
            for gid, text in (("explain", explain), ("reflect", reflect)):
                scores[gid] = (None, True) if text is not None else (0.0, False)
            manual = any(m for _, m in scores.values())
            write_submission(gb, assignment="toy", student=student, timestamp=when.replace(tzinfo=None),
                             scores={"toy": scores}, comments={"toy": {}},
                             status=StatusRow("toy", student, "needs_manual" if manual else "graded", "graded",
                                              [], [], "local", 1.0, when.isoformat(), when.isoformat()))
    return root


def build_course(dest: Path):
    """A fresh copy of the tutored course at ``dest``; returns the loaded Course."""
    from gradehub.course import load_course

    if not _TEMPLATE:
        _TEMPLATE.append(_build_template())
    shutil.copytree(_TEMPLATE[0], dest)
    return load_course(dest)


class ServerThread:
    """A tornado application on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, app):
        self.app = app
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        from tornado.httpserver import HTTPServer
        from tornado.netutil import bind_sockets

        asyncio.set_event_loop(asyncio.new_event_loop())
        from tornado.ioloop import IOLoop

        self.loop = IOLoop.current()
        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        server = HTTPServer(self.app)
        server.add_sockets(sockets)
        self._ready.set()
        self.loop.start()
        server.stop()

    def __enter__(self):
        self._thread.start()
        self._ready.wait(30)
        return self

    def __exit__(self, *exc):
        self.loop.add_callback(self.loop.stop)
        self._thread.join(10)

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/services/grading/{path}"


def request(url: str, *, user: str | None = None, groups: str = "", method: str = "GET", body=None,
            raw: bool = False):
    """(status, parsed JSON or text) for one request as ``user`` (HeaderAuth)."""
    headers = {"Content-Type": "application/json"}
    if user is not None:
        headers["X-Gradehub-User"] = user
    if groups:
        headers["X-Gradehub-Groups"] = groups
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, payload = resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read().decode()
    if raw:
        return status, payload
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload
