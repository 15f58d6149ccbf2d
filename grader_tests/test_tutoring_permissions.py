"""The grading service's permissions, through its JSON API on a real loopback server.

Group A (alice, carol, erin) is tutored by tutor_a, group B (bob, dave) by tutor_b; ``prof``
is an instructor by name, ``head`` by the hub group ``instructors``. Every refusal is a 403
and leaves the gradebook as it was; points outside [0, max] are a 400.
"""

from __future__ import annotations

import random

import pytest

from gradehub.tutoring import permissions as perm
from tutoring_helpers import INSTRUCTOR, ServerThread, build_course, request

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return build_course(tmp_path_factory.mktemp("tutoring") / "course")


@pytest.fixture(scope="module")
def server(course):
    from gradehub.tutoring.service import HeaderAuth, make_app

    app = make_app(course.root, prefix="/services/grading/", auth=HeaderAuth(), instructors=[INSTRUCTOR])
    with ServerThread(app) as s:
        yield s


def api(server, path, user, method="GET", body=None, groups=""):
    return request(server.url("api/" + path), user=user, method=method, body=body, groups=groups)


def gradebook_state(course, student, cell, notebook="toy", assignment="toy"):
    from gradehub.gradebook import open_gradebook
    with open_gradebook(course) as gb:
        g = gb.find_grade(cell, notebook, assignment, student)
        try:
            comment = gb.find_comment(cell, notebook, assignment, student).manual_comment
        except Exception:
            comment = None
        return (g.auto_score, g.manual_score, g.needs_manual_grade, comment)


# --------------------------------------------------------------------------- pure rules


def test_permission_rules_without_a_server():
    alloc = perm.Allocation(groups={"alice": "A", "bob": "B"}, group_tutors={"A": ("ta",), "B": ("tb",)})
    manual = perm.Cell("w", "nb", "essay", 2.0, manual=True)
    auto = perm.Cell("w", "nb", "tests", 3.0, manual=False)
    ta, prof = perm.Actor("ta"), perm.Actor("prof", instructor=True)
    perm.check_write_grade(ta, alloc, "alice", manual)
    for student, cell in (("bob", manual), ("alice", auto)):
        with pytest.raises(perm.PermissionDenied):
            perm.check_write_grade(ta, alloc, student, cell)
        perm.check_write_grade(prof, alloc, student, cell)
    with pytest.raises(perm.PermissionDenied):
        perm.check_instructor(ta)
    with pytest.raises(perm.PermissionDenied):
        perm.check_staff(perm.Actor("alice"), alloc)
    # an override wins over the group; hub groups tutors-<G> add a tutor to G
    moved = perm.Allocation(alloc.groups, alloc.group_tutors, overrides={"alice": "tb"})
    assert moved.tutors_of("alice") == ("tb",) and moved.students_of("ta") == []
    hub_tutor = perm.Actor("demo-tutor", hub_groups=frozenset({"tutors-B"}))
    assert perm.allocation_for(hub_tutor, alloc).students_of("demo-tutor") == ["bob"]
    for bad in (-0.5, 2.5, float("nan"), "x", None, True):
        with pytest.raises(perm.InvalidInput):
            perm.check_points(bad, manual)
    assert perm.check_points("1.5", manual) == 1.5 and perm.check_points(2, manual) == 2.0


# --------------------------------------------------------------------------- what a tutor sees


def test_tutor_sees_only_their_group(server):
    status, students = api(server, "assignments/toy/students", "tutor_a")
    assert status == 200 and [s["student"] for s in students] == ["alice", "carol", "erin"]
    status, q = api(server, "assignments/toy/questions/toy/explain", "tutor_a")
    assert status == 200 and {a["student"] for a in q["answers"]} == {"alice", "carol", "erin"}
    assert "squaring is a product" in q["model_answer"] and "1 point" in q["rubric"]
    status, progress = api(server, "progress", "tutor_b")
    assert status == 200 and {r["tutor"] for r in progress["rows"]} == {"tutor_b"}
    assert progress["rows"][0]["students"] == 2 and "totals" not in progress


@pytest.mark.parametrize("method, path, body", [
    ("GET", "grades/toy/bob/toy/explain", None),
    ("PUT", "grades/toy/bob/toy/explain", {"points": 1, "comment": "sneaky"}),
    ("PUT", "grades/toy/dave/toy/reflect", {"flag": "look"}),
    ("GET", "assignments/toy/students/bob", None),
])
def test_tutor_of_group_a_is_refused_for_a_student_of_group_b(server, course, method, path, body):
    before = gradebook_state(course, "bob", "explain"), gradebook_state(course, "dave", "reflect")
    status, reply = api(server, path, "tutor_a", method, body)
    assert status == 403, reply
    assert "not one of tutor_a's students" in reply["error"]
    assert (gradebook_state(course, "bob", "explain"), gradebook_state(course, "dave", "reflect")) == before


@pytest.mark.parametrize("method, path, body", [
    ("GET", "grades/toy/alice/toy/square_tests", None),
    ("PUT", "grades/toy/alice/toy/square_tests", {"points": 0}),
    ("PUT", "grades/toy/alice/toy/add_tests", {"points": 1}),
    ("GET", "rubric/toy/toy/square_tests", None),                   # the source holds hidden tests
    ("GET", "assignments/toy/questions/toy/add_tests", None),
])
def test_tutor_is_refused_for_autograded_cells(server, course, method, path, body):
    before = gradebook_state(course, "alice", "square_tests")
    status, reply = api(server, path, "tutor_a", method, body)
    assert status == 403 and "autograded" in reply["error"]
    assert gradebook_state(course, "alice", "square_tests") == before
    status, questions = api(server, "assignments/toy/questions", "tutor_a")
    assert {q["cell"] for q in questions} == {"explain", "reflect"}


@pytest.mark.parametrize("method, path, body", [
    ("GET", "allocation", None),
    ("PUT", "allocation/students/bob", {"tutor": "tutor_a"}),
    ("POST", "allocation/split", {"group": "B", "tutors": ["tutor_a", "tutor_b"]}),
    ("POST", "moderation/toy/sample", {"n": 2}),
    ("GET", "flags", None),
    ("DELETE", "flags/toy/alice/toy/explain", None),
    ("GET", "progress?tutor=tutor_b", None),
])
def test_tutor_is_refused_for_instructor_actions(server, course, method, path, body):
    def state():
        return api(server, "allocation", INSTRUCTOR)[1], api(server, "moderation/toy", INSTRUCTOR)[1]

    before = state()
    status, reply = api(server, path, "tutor_a", method, body)
    assert status == 403 and "instructor" in reply["error"], reply
    assert state() == before


@pytest.mark.parametrize("points", [-1, 1.5, 100, "abc", None, True, "nan"])
def test_points_outside_zero_to_max_are_refused(server, course, points):
    before = gradebook_state(course, "carol", "explain")
    status, reply = api(server, "grades/toy/carol/toy/explain", "tutor_a", "PUT",
                        {"points": points, "comment": "x"})
    assert status == 400, reply
    assert "points" in reply["error"]
    assert gradebook_state(course, "carol", "explain") == before


@pytest.mark.parametrize("user", ["alice", "stranger", None])
def test_students_and_strangers_get_nothing(server, user):
    for method, path, body in (("GET", "me", None), ("GET", "progress", None),
                               ("GET", "assignments/toy/questions/toy/explain", None),
                               ("PUT", "grades/toy/alice/toy/explain", {"points": 1})):
        status, _ = api(server, path, user, method, body)
        assert status == 403, (user, path)
    status, page = request(server.url("a/toy/s/alice"), user=user, raw=True)
    assert status == 403 and "It is a product" not in page


# --------------------------------------------------------------------------- what a tutor may do


def test_tutor_grades_their_student_into_nbgrader_gradebook(server, course):
    status, reply = api(server, "grades/toy/alice/toy/explain", "tutor_a", "PUT",
                        {"points": 0.5, "comment": "Half: say *why* it is a product."})
    assert status == 200 and reply["manual_score"] == 0.5 and reply["graded_by"] == "tutor_a"
    assert gradebook_state(course, "alice", "explain") == (None, 0.5, False, "Half: say *why* it is a product.")
    status, progress = api(server, "progress", "tutor_a")
    assert progress["rows"][0]["graded_by_tutor"] >= 1
    # the last open answer graded: the submission's status is no longer "needs manual grading"
    api(server, "grades/toy/alice/toy/reflect", "tutor_a", "PUT", {"points": 2, "comment": "Right."})
    from gradehub.gradebook import open_gradebook, read_status
    with open_gradebook(course) as gb:
        assert read_status(gb, "toy")[("toy", "alice")].status == "graded"


def _tags(html: str) -> list[tuple[str, dict]]:
    from html.parser import HTMLParser

    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    Collect().feed(html)
    return found


def test_answers_are_rendered_escaped(server):
    status, reply = api(server, "grades/toy/carol/toy/explain", "tutor_a")
    assert status == 200 and "<strong>bold</strong>" in reply["answer_html"]
    status, page = request(server.url("a/toy/q/toy/explain"), user="tutor_a", raw=True)
    assert status == 200 and "&lt;script&gt;alert(" in page
    for html in (reply["answer_html"], page):
        tags = _tags(html)
        assert not [t for t, _ in tags if t in ("script", "img", "iframe", "object")]
        assert not [a for _, attrs in tags for a in attrs if a.startswith("on")]
        assert not [v for _, attrs in tags for v in attrs.values() if v and "javascript:" in v.lower()]


def test_flag_reaches_the_instructor_and_nbgrader(server, course):
    status, _ = api(server, "grades/toy/erin/toy/reflect", "tutor_a", "PUT", {"flag": "Blank - excused?"})
    assert status == 200
    status, flags = api(server, "flags", "head", groups="instructors")
    assert status == 200 and [(f["student"], f["message"]) for f in flags] == [("erin", "Blank - excused?")]
    from gradehub.gradebook import open_gradebook
    with open_gradebook(course) as gb:
        assert gb.find_submission_notebook("toy", "toy", "erin").flagged is True
    status, reply = api(server, "flags/toy/erin/toy/reflect", "head", "DELETE", groups="instructors")
    assert status == 200 and reply == {"resolved": True}
    assert api(server, "flags", INSTRUCTOR)[1] == []
    with open_gradebook(course) as gb:
        assert gb.find_submission_notebook("toy", "toy", "erin").flagged is False


# --------------------------------------------------------------------------- the instructor


@pytest.mark.parametrize("who, groups", [(INSTRUCTOR, ""), ("head", "instructors")])
def test_instructor_can_do_everything(server, course, who, groups):
    def call(path, method="GET", body=None):
        status, reply = api(server, path, who, method, body, groups=groups)
        assert status == 200, (path, reply)
        return reply

    assert call("me")["instructor"] is True
    assert {a["student"] for a in call("assignments/toy/questions/toy/reflect")["answers"]} == \
        {"alice", "carol", "erin", "bob", "dave"}
    call("grades/toy/dave/toy/reflect", "PUT", {"points": 1, "comment": "by the instructor"})
    assert gradebook_state(course, "dave", "reflect")[1:] == (1.0, False, "by the instructor")
    assert call("grades/toy/bob/toy/square_tests")["auto_score"] == 2.0          # autograded: readable
    call("grades/toy/bob/toy/square_tests", "PUT", {"points": 1.5})           # ... and overridable
    assert gradebook_state(course, "bob", "square_tests")[1] == 1.5
    assert "squaring" in call("rubric/toy/toy/explain")["model_answer"]
    assert len(call("allocation")["students"]) == 5
    progress = call("progress")
    assert {r["tutor"] for r in progress["rows"]} >= {"tutor_a", "tutor_b"} and progress["totals"]
    assert call("progress?tutor=tutor_a")["rows"][0]["tutor"] == "tutor_a"
    try:
        assert call("allocation/students/dave", "PUT", {"tutor": "tutor_a"})["tutors"] == ["tutor_a"]
        assert api(server, "grades/toy/dave/toy/explain", "tutor_a")[0] == 200
        assert api(server, "grades/toy/dave/toy/explain", "tutor_b")[0] == 403
        split = call("allocation/split", "POST", {"group": "A", "tutors": ["tutor_a", "tutor_x"]})
        assert split == {"tutor_a": ["alice", "erin"], "tutor_x": ["carol"]}
        assert api(server, "grades/toy/carol/toy/explain", "tutor_x")[0] == 200
        assert api(server, "grades/toy/carol/toy/explain", "tutor_a")[0] == 403
        assert api(server, "grades/toy/alice/toy/explain", "tutor_x")[0] == 403
    finally:
        for student in ("dave", "alice", "carol", "erin"):
            call(f"allocation/students/{student}", "PUT", {"tutor": None})
    assert api(server, "grades/toy/carol/toy/explain", "tutor_x")[0] == 403


def test_moderation_second_mark_is_blind_and_disagreements_show(server, course):
    assert api(server, "grades/toy/bob/toy/explain", "tutor_b", "PUT", {"points": 1, "comment": "ok"})[0] == 200
    status, drawn = api(server, "moderation/toy/sample", INSTRUCTOR, "POST", {"n": 1, "seed": 3, "marker": "tutor_a"})
    assert status == 200 and len(drawn) == 1 and drawn[0]["marker"] == "tutor_a"
    key = "/".join(drawn[0][k] for k in ("assignment", "student", "notebook", "cell"))
    # the second marker sees the answer and the rubric, not the first mark
    status, queue = api(server, "second-marking", "tutor_a")
    assert status == 200 and len(queue) == 1
    assert "first_score" not in queue[0] and "current_score" not in queue[0] and "comment" not in queue[0]
    assert queue[0]["answer"] and queue[0]["rubric"]["model_answer"]
    # only the assigned marker enters the second mark; never into the gradebook
    assert api(server, f"moderation/{key}", "tutor_b", "PUT", {"points": 0})[0] == 403
    first = drawn[0]["current_score"]
    other = 0.0 if first else drawn[0]["max_score"]
    status, item = api(server, f"moderation/{key}", "tutor_a", "PUT", {"points": other, "comment": "disagree"})
    assert status == 200 and item["second_score"] == other
    _, student, notebook, cell = key.split("/")
    assert gradebook_state(course, student, cell)[1] == first
    status, m = api(server, "moderation/toy", INSTRUCTOR)
    assert m["disagreements"] == 1 and m["items"][0]["difference"] == other - first
    assert api(server, "moderation/toy", "tutor_a")[1]["items"][0].get("first_score", "hidden") == "hidden"


def test_cli_status_move_split_moderate(course, capsys):
    from gradehub.cli import main

    root = str(course.root)
    assert main(["tutors", "status", "toy", "--course-root", root]) == 0
    out = capsys.readouterr().out
    assert "tutor_a" in out and "tutor_b" in out and "answers graded" in out
    assert main(["tutors", "move", "bob", "tutor_a", "--course-root", root]) == 0
    assert "bob is graded by tutor_a" in capsys.readouterr().out
    assert main(["tutors", "move", "bob", "--back", "--course-root", root]) == 0
    assert main(["tutors", "move", "nobody", "tutor_a", "--course-root", root]) == 2
    assert main(["tutors", "split", "B", "tutor_b", "tutor_y", "--course-root", root]) == 0
    assert "tutor_y: dave" in capsys.readouterr().out
    for student in ("bob", "dave"):
        assert main(["tutors", "move", student, "--back", "--course-root", root]) == 0
    assert main(["tutors", "moderate", "toy", "--sample", "1", "--seed", "1", "--course-root", root]) == 0
    assert "second marking" in capsys.readouterr().out


def test_random_sample_goes_to_another_tutor(course):
    from gradehub.tutoring.api import Grading
    from gradehub.tutoring.store import open_store

    grading = Grading(course.root, instructors=[INSTRUCTOR])
    prof = grading.actor({"name": INSTRUCTOR})
    drawn = grading.draw_sample(prof, "toy", 50, seed=random.randrange(1000))
    with open_store(course) as store:
        alloc = store.allocation()
    for item in drawn:
        assert item["marker"] != item["first_marker"]
        assert item["marker"] == INSTRUCTOR or item["marker"] not in alloc.tutors_of(item["student"])


# --------------------------------------------------------------------------- the hub's side


def test_hub_runs_the_grading_service_for_tutors_only(tmp_path):
    """In the hub configuration: the managed service, its environment, and who may open it."""
    import json
    import sys

    from traitlets.config import Config

    from conftest import TOY_COURSE_TOML
    from gradehub.course import load_course
    from gradehub.hub import accounts, config, settings
    from gradehub.hub import runtime as hub_runtime
    from tutoring_helpers import ROSTER, TUTORS_TOML

    (tmp_path / "course.toml").write_text(TOY_COURSE_TOML + TUTORS_TOML)
    (tmp_path / "roster.csv").write_text(ROSTER)
    course = load_course(tmp_path)
    runtime = hub_runtime.Runtime(course_root=course.root, state_dir=tmp_path / "state", python=sys.executable,
                                  hub_port=18081, proxy_api_port=18001, exchange_port=18101, formgrader_port=18102,
                                  grading_port=18103)
    c = config.apply_config(Config(), course, settings.HubSettings(), runtime, roster=course.roster())
    [service] = [s for s in c.JupyterHub.services if s["name"] == config.GRADING_SERVICE]
    assert service["url"] == "http://127.0.0.1:18103"
    assert service["command"][1:] == ["-m", "gradehub.tutoring.service", "--course-root", str(course.root)]
    tutors = json.loads(service["environment"]["GRADEHUB_TUTORS"])
    assert "tutor_a" in tutors["A"] and tutors["B"] == ["tutor_b"]
    access = f"access:services!service={config.GRADING_SERVICE}"
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert access in roles["gradehub-tutor"]["scopes"] and accounts.GROUP_TUTORS in roles["gradehub-tutor"]["groups"]
    assert "access:services" in roles["gradehub-instructor"]["scopes"]
    assert not any(access in r["scopes"] or "access:services" in r["scopes"]
                   for r in roles.values() if accounts.GROUP_STUDENTS in r.get("groups", []))
    without = config.apply_config(Config(), course, settings.HubSettings(),
                                  hub_runtime.Runtime(**{**runtime.__dict__, "grading_port": 0}), roster=course.roster())
    assert config.GRADING_SERVICE not in [s["name"] for s in without.JupyterHub.services]
