"""Students get their results: feedback released through the exchange, grades released by the
instructor, the grades service (pages and JSON), and what a hostile student or name tries there.

One toy class, graded once in the local sandbox: alice submits on time through the local
exchange (nbgrader's layout, with a submission secret), bob a day and two hours late; carol
never submits. alice's roster name and her tutor's comment carry HTML.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import urllib.error
import urllib.request

import nbformat
import pytest

from conftest import GOOD, solve, student_copy
from tutoring_helpers import ServerThread

pytestmark = pytest.mark.slow

DUE = dt.datetime(2026, 10, 23, 23, 59, tzinfo=dt.timezone.utc)
NAME = "<script>alert('name')</script>"
COMMENT = "Nice <img src=x onerror=alert('comment')> work & a 'product'."
EVIL_NB = "<img src=x onerror=alert(1)>"
NOW = dt.datetime(2026, 10, 30, 12, 0, tzinfo=dt.timezone.utc)


def _submit(course, student, nb, when, extra: dict[str, str] | None = None):
    from gradehub.exchange import submit

    folder = course.root / "work" / f"{student}-{when:%H%M%S}"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "toy.ipynb")
    for name, text in (extra or {}).items():
        (folder / name).write_text(text)
    return submit(course, student, "toy", folder, when)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    import conftest
    from gradehub.course import load_course
    from gradehub.exchange import collect, publish
    from gradehub.grading import autograde

    course = conftest.toy_course.__wrapped__(tmp_path_factory.mktemp("results"))
    root = course.root
    toml = (root / "course.toml").read_text().replace('id = "toycourse"', 'id = "nat3008"')  # = nbgrader's course id
    (root / "course.toml").write_text(toml + '\n[tutors]\nA = ["tina"]\nB = ["tom"]\n')
    (root / "roster.csv").write_text(
        "id,first_name,last_name,email,group\n"
        f'alice,"{NAME}",A,a@x.org,A\nbob,Bob,B,b@x.org,B\ncarol,Carol,C,c@x.org,A\n')
    (root / "nbgrader_config.py").write_text(
        (root / "nbgrader_config.py").read_text() + f"\nc.Exchange.root = {str(root / 'exchange')!r}\n")
    course = load_course(root)
    publish(course, "toy")
    _submit(course, "alice", solve(student_copy(course), GOOD), DUE - dt.timedelta(hours=3),
            extra={f"{EVIL_NB}.ipynb": "{}"})
    _submit(course, "bob", solve(student_copy(course), GOOD), DUE + dt.timedelta(days=1, hours=2))
    assert collect(course, "toy") == ["alice", "bob"]
    autograde(course, "toy", jobs=2, sandbox="local")
    return course


def _grade_explain(course, student, points, comment):
    from gradehub.gradebook import open_gradebook

    with open_gradebook(course) as gb:
        gb.find_comment("explain", "toy", "toy", student).manual_comment = comment
        grade = gb.find_grade("explain", "toy", "toy", student)
        grade.manual_score, grade.needs_manual_grade = points, False
        gb.db.commit()


def _inbound(course, student):
    from gradehub.exchange import exchange_root

    found = sorted((exchange_root(course) / course.id / "inbound").glob(f"{student}+toy+*"))
    assert found, student
    return found[-1]


def _exchange_feedback(course, student) -> dict[str, dict[str, bytes]]:
    """What the hub's exchange service hands the student (gradehub.hub.exchange.store)."""
    from gradehub.exchange import exchange_root
    from gradehub.hub.exchange.store import ExchangeStore

    return ExchangeStore(exchange_root(course), course.id).feedback(student, "toy")


def _nbgrader_fetch_feedback(course, student, tmp_path) -> list:
    """nbgrader 0.9's own fetch_feedback, from the student's cached copy of the submission."""
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import ExchangeFetchFeedback
    from traitlets.config import Config

    from gradehub.exchange import exchange_root

    inbound = _inbound(course, student)
    cache = tmp_path / "cache"
    name = "+".join(inbound.name.split("+")[:3])  # nbgrader's cache drops the random suffix
    shutil.rmtree(cache, ignore_errors=True)
    shutil.copytree(inbound, cache / course.id / name)
    home = tmp_path / "home"
    config = Config()
    config.Exchange.root = str(exchange_root(course))
    config.Exchange.cache = str(cache)
    config.Exchange.assignment_dir = str(home)
    config.CourseDirectory.course_id = course.id
    config.CourseDirectory.assignment_id = "toy"
    config.CourseDirectory.student_id = student
    fetch = ExchangeFetchFeedback(coursedir=CourseDirectory(config=config), config=config)
    fetch.start()
    return sorted(home.rglob("*.html"))


def _text(page) -> str:
    page = page.decode() if isinstance(page, bytes) else page
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    import html

    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


# --------------------------------------------------------------------------- feedback release


def test_feedback_release_is_found_by_nbgrader_and_the_hub_exchange(graded, tmp_path):
    from nbgrader.utils import notebook_hash

    from gradehub.exchange import feedback_dir, release_feedback

    run = release_feedback(graded, "toy", by="prof")
    assert sorted(run.released) == ["alice", "bob"] and not run.with_grades
    secret = (_inbound(graded, "alice") / "submission_secret.txt").read_text()
    # autograde kept the graded submission's secret beside the graded copy
    assert (graded.autograded_dir("alice", "toy") / "submission_secret.txt").read_text() == secret
    name = notebook_hash(secret=secret, notebook_id="toy") + ".html"
    assert run.released["alice"] == [name]
    # every file the release wrote is an nbgrader-hashed name in the exchange's feedback folder (the
    # notebook alice named with HTML is no notebook id: no page for it, under any name)
    assert all(re.fullmatch(r"[0-9a-f]{32}\.html", p.name) for p in feedback_dir(graded).iterdir())
    served = _exchange_feedback(graded, "alice")
    assert list(served.values())[0]["toy"] == (feedback_dir(graded) / name).read_bytes()
    fetched = _nbgrader_fetch_feedback(graded, "alice", tmp_path)
    assert [p.name for p in fetched] == ["toy.html"]
    assert "Tests passed" in _text(fetched[0].read_bytes())


def test_unreleased_grades_are_not_in_the_released_feedback(graded):
    from gradehub.exchange import release_feedback

    _grade_explain(graded, "alice", 1.0, COMMENT)
    release_feedback(graded, "toy", ["alice"], by="prof")
    page = list(_exchange_feedback(graded, "alice").values())[0]["toy"].decode()
    assert "onerror=alert('comment')" not in _text(page) and "Nice" not in page
    assert "shown once your instructor releases the grades of toy" in _text(page)
    assert "3 of 4 points" in _text(page)  # the automatic tests only


def test_grades_release_gives_the_feedback_again_with_the_tutors_points(graded):
    from gradehub.results import release_grades

    before = list(_exchange_feedback(graded, "alice").values())[0]["toy"]
    result = release_grades(graded, "toy", by="prof")
    assert result.changed and result.released and sorted(result.feedback.released) == ["alice", "bob"]
    after = list(_exchange_feedback(graded, "alice").values())[0]["toy"].decode()
    assert after != before.decode()
    assert COMMENT in _text(after) and "<img src=x" not in after  # shown, escaped
    assert "4 of 4 points" in _text(after)
    assert not release_grades(graded, "toy", by="prof").changed  # idempotent


def test_release_after_a_regrade_replaces_the_old_feedback(graded):
    """A tutor's change, then a resubmission: the student always fetches the newest page, once."""
    from gradehub.exchange import collect, feedback_dir, release_feedback
    from gradehub.grading import autograde

    old_files = set(p.name for p in feedback_dir(graded).iterdir())
    _grade_explain(graded, "alice", 0.5, "Half a point: say why it is a product.")
    run = release_feedback(graded, "toy", ["alice"], by="prof")
    assert set(p.name for p in feedback_dir(graded).iterdir()) == old_files  # same submission, same name
    page = list(_exchange_feedback(graded, "alice").values())[0]["toy"].decode()
    assert "Half a point" in page and "Nice" not in page
    # alice resubmits (a wrong square), the instructor collects and regrades, releases again
    _submit(graded, "alice", solve(student_copy(graded), {**GOOD, "square": "def square(x):\n    return x"}),
            DUE - dt.timedelta(hours=1))
    collect(graded, "toy")
    autograde(graded, "toy", sandbox="local", students=["alice"])
    run = release_feedback(graded, "toy", ["alice"], by="prof")
    assert run.removed and set(run.removed) <= old_files
    served = _exchange_feedback(graded, "alice")
    assert len(served) == 1  # only the graded submission has feedback
    (stamp, files), = served.items()
    assert stamp == (_inbound(graded, "alice") / "timestamp.txt").read_text().strip()
    assert "Tests failed" in _text(files["toy"])


def test_a_student_id_with_a_path_in_it_is_never_written(graded):
    from sqlalchemy import text

    from gradehub.exchange import feedback_dir, release_feedback
    from gradehub.gradebook import gradebook_engine

    engine = gradebook_engine(graded)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO student (id, first_name, last_name) VALUES ('../s002', 'x', 'y')"))
        aid = conn.execute(text("SELECT id FROM assignment WHERE name = 'toy'")).scalar()
        conn.execute(text("INSERT INTO submitted_assignment (id, assignment_id, student_id, timestamp) "
                          "VALUES ('evil-sub', :a, '../s002', '2026-10-23 20:00:00')"), {"a": aid})
    engine.dispose()
    before = sorted(p for p in graded.root.parent.rglob("*") if p.is_file())
    run = release_feedback(graded, "toy", ["../s002"], by="prof")
    assert run.released == {} and ("../s002", "not a valid student id") in run.skipped
    after = sorted(p for p in graded.root.parent.rglob("*") if p.is_file())
    assert [p for p in after if p not in before and p.parent != feedback_dir(graded)] == []


def test_the_formgrader_release_button_goes_through_the_same_code(graded):
    from gradehub.hub.formgrader import release_gradehub_feedback

    result = release_gradehub_feedback(graded.root, "toy", ["bob"], "prof")
    assert result["success"], result
    assert "released feedback for bob" in result["log"]
    result = release_gradehub_feedback(graded.root, "toy", ["carol"], "prof")  # never submitted
    assert not result["success"] and "carol" in result["error"]


# --------------------------------------------------------------------------- the grades service


@pytest.fixture(scope="module")
def service(graded):
    from gradehub.hub.grades.service import make_app

    def user(handler):
        name = handler.request.headers.get("X-Test-User")
        groups = [g for g in handler.request.headers.get("X-Test-Groups", "").split(",") if g]
        return {"name": name, "groups": groups} if name else None

    app = make_app(graded.root, user=user, instructors=["prof"], extra_tutors={"A": ["demo-tutor"]},
                   cache_seconds=0, clock=lambda: NOW)
    with ServerThread(app) as s:
        yield s


def _get(service, path, user, groups="", method="GET", body=None):
    headers = {"X-Test-User": user, "X-Test-Groups": groups}
    data = None
    if body is not None:
        data = "&".join(f"{k}={v}" for k, v in body.items()).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(f"http://127.0.0.1:{service.port}/services/grades/{path}", data=data,
                                 method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode()


def test_withdrawn_grades_are_invisible_on_the_page_and_in_the_json(graded, service):
    from gradehub.results import release_grades

    release_grades(graded, "toy", undo=True, by="prof")
    status, _, body = _get(service, "api/me", "alice")
    assert status == 200
    me = json.loads(body)
    week = me["assignments"][0]
    assert week["grades_released"] is False and week["status"] == "submitted"
    assert week["score"] is None and week["total"] is None and week["tasks"] == []
    assert me["total"] == {"points": 0.0, "max_points": 0.0, "released_weeks": [], "course_max": 4.0}
    status, _, page = _get(service, "", "alice")
    assert status == 200 and "Half a point" not in page and "not released" in page


def test_released_grades_show_points_comments_and_the_exam_bonus(graded, service):
    from gradehub.results import release_grades

    _grade_explain(graded, "bob", 1.0, COMMENT)
    release_grades(graded, "toy", by="prof")
    status, headers, page = _get(service, "", "bob")
    assert status == 200
    assert "script-src" not in headers["Content-Security-Policy"] and "default-src 'none'" in headers["Content-Security-Policy"]
    assert "<script" not in page and "<img" not in page
    assert "Nice &lt;img src=x onerror=alert(" in page  # the comment, escaped
    me = json.loads(_get(service, "api/me", "bob")[2])
    week = me["assignments"][0]
    assert [(t["task"], t["score"], t["tutor_score"]) for t in week["tasks"]] == [
        ("square_tests", 2.0, None), ("add_tests", 1.0, None), ("explain", 1.0, 1.0)]
    assert me["exam_bonus"]["points_needed"] == 2.0
    assert me["total"]["points"] == week["total"] == 2.0  # 4 points − the late penalty of 2


def test_a_late_submission_shows_the_warning_and_the_penalty(service):
    me = json.loads(_get(service, "api/me", "bob")[2])
    week = me["assignments"][0]
    assert week["late_hours"] == 26.0 and week["late_penalty"] == 2.0
    assert week["late_policy"] == "25% per started day after 15 min grace, at most 50%"
    page = _get(service, "", "bob")[2]
    assert "submitted 26 h late: −2 points" in page
    alice = json.loads(_get(service, "api/me", "alice")[2])["assignments"][0]
    assert alice["late_penalty"] == 0.0 and alice["penalty_now"]["points"] == 2.0  # 6.5 days late now: capped


def test_another_students_page_is_403(service):
    for path in ("s/bob", "api/students/bob", "s/bob/feedback/toy"):
        status, _, body = _get(service, path, "alice")
        assert status == 403, (path, body)
        assert "Nice" not in body and "26" not in body
    # a tutor of group A: alice and carol, not bob
    assert _get(service, "s/alice", "tina")[0] == 200
    assert _get(service, "api/students/bob", "tina")[0] == 403
    assert _get(service, "s/bob", "someone-else")[0] == 403
    assert _get(service, "api/me", "tina")[0] == 403  # staff are not students
    # path tricks in the student id
    for path in ("s/..%2Fbob", "api/students/..%2Fbob", "s/..%2F..%2Fetc/feedback/toy"):
        assert _get(service, path, "prof")[0] in (403, 404)


def test_staff_choose_a_student_and_see_what_the_student_sees(service):
    status, _, index = _get(service, "students", "tina")
    assert status == 200 and "s/alice" in index and "s/carol" in index and "s/bob" not in index
    assert "&lt;script&gt;alert(" in index and "<script>" not in index  # alice's name, escaped
    assert "release grades" not in index and "withdraw grades" not in index  # instructors only
    # the demo tutor (group A through the hub) and a hub group tutors-B
    assert "s/alice" in _get(service, "students", "demo-tutor")[2]
    assert _get(service, "s/bob", "x-tutor", groups="tutors-B")[0] == 200
    staff_view = json.loads(_get(service, "api/students/alice", "prof")[2])
    own_view = json.loads(_get(service, "api/me", "alice")[2])
    assert staff_view["assignments"][0]["feedback_url"] == "/services/grades/s/alice/feedback/toy"
    own_view["assignments"][0]["feedback_url"] = staff_view["assignments"][0]["feedback_url"]
    assert staff_view == own_view
    status, headers, fb = _get(service, "s/alice/feedback/toy", "prof")
    assert status == 200 and "sandbox" in headers["Content-Security-Policy"] and "Tests" in fb
    status, _, fb = _get(service, "feedback/toy", "alice")
    assert status == 200 and "Tests failed" in fb
    assert _get(service, "feedback/toy", "carol")[0] == 404  # nothing released to carol


def test_only_instructors_release_grades_from_the_page(graded, service):
    from gradehub.results import grade_release_states

    assert _get(service, "release", "tina", method="POST", body={"assignment": "toy", "undo": "1"})[0] == 403
    assert grade_release_states(graded)[0]["released"]
    status, _, page = _get(service, "release", "prof", method="POST", body={"assignment": "toy", "undo": "1"})
    assert status == 200 and "release grades" in page  # redirected to the list, now withdrawable no more
    assert not grade_release_states(graded)[0]["released"]
    assert _get(service, "release", "prof", method="POST", body={"assignment": "nope"})[0] == 404


def test_the_formgrader_lists_scores_after_the_late_penalty(graded):
    """The formgrader's pages read nbgrader's API: bob's 26 h late submission shows 4 − 2 points
    there too (the raw sum beside it), alice's on-time one is untouched, and patching twice
    does not take the penalty twice."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from gradehub.course import load_nbgrader_config
    from gradehub.hub.formgrader import patch_api_scores

    patch_api_scores()
    patch_api_scores()
    config = load_nbgrader_config(graded.root)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config, root=str(graded.root)), config=config)
    rows = {s["student"]: s for s in api.get_submissions("toy")}
    assert rows["bob"]["late_penalty"] == 2.0 and rows["bob"]["score"] == rows["bob"]["raw_score"] - 2.0
    assert rows["alice"]["late_penalty"] == 0.0 and "raw_score" not in rows["alice"]
    bob = api.get_submission("toy", "bob")
    assert bob["score"] == rows["bob"]["score"] and bob["late_penalty"] == 2.0
    assert [s["score"] for s in api.get_student_submissions("bob")] == [rows["bob"]["score"]]


def test_a_release_and_a_withdrawal_show_at_once_whatever_the_cache(graded):
    """The service caches the course's frames, never the release state: withdrawn grades must
    vanish at the next request (and released ones appear), not up to the cache time later."""
    from gradehub.hub.grades.service import make_app
    from gradehub.results import release_grades

    def user(handler):
        return {"name": handler.request.headers.get("X-Test-User"), "groups": []}

    app = make_app(graded.root, user=user, instructors=["prof"], cache_seconds=3600, clock=lambda: NOW)
    with ServerThread(app) as cached:
        release_grades(graded, "toy", by="prof")
        assert json.loads(_get(cached, "api/me", "bob")[2])["assignments"][0]["grades_released"] is True
        release_grades(graded, "toy", undo=True, by="prof")
        week = json.loads(_get(cached, "api/me", "bob")[2])["assignments"][0]
        assert week["grades_released"] is False and week["tasks"] == [] and week["total"] is None
        release_grades(graded, "toy", by="prof")
        assert json.loads(_get(cached, "api/me", "bob")[2])["assignments"][0]["grades_released"] is True


def test_the_exam_bonus_counts_the_whole_course_also_weeks_not_graded_yet():
    """Mid-semester the gradebook knows only the weeks released so far; the bonus threshold is a
    share of the whole course, so the others count with the points their release carries."""
    from types import SimpleNamespace

    import pandas as pd

    from conftest import REPO
    from gradehub.course import load_course
    from gradehub.results import course_max_points, release_points

    course = load_course(REPO)
    per_sheet = {a.id: release_points(course, a.id) for a in course.assignments}
    assert per_sheet["week01"] == 19.0 and all(v > 0 for v in per_sheet.values())
    nothing = SimpleNamespace(submissions=pd.DataFrame({"assignment": [], "max_score": []}))
    assert course_max_points(course, nothing) == pytest.approx(sum(per_sheet.values()))
    week01_known = SimpleNamespace(submissions=pd.DataFrame({"assignment": ["week01"], "max_score": [25.0]}))
    assert course_max_points(course, week01_known) == pytest.approx(sum(per_sheet.values()) - 19.0 + 25.0)
