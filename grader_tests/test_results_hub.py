"""The grades service in the hub's configuration, and the demo student on the roster (no hub runs)."""

from __future__ import annotations

from traitlets.config import Config

from conftest import REPO
from hubtools import with_tutors
from gradehub.course import load_course
from gradehub.hub.accounts import DEMO_STUDENT, DEMO_TUTOR, build_accounts, ensure_demo_student_on_roster
from gradehub.hub.config import GRADES_SERVICE, apply_config
from gradehub.hub.runtime import Runtime
from gradehub.hub.settings import HubSettings


def _course(tmp_path, roster: str | None):
    root = tmp_path / "course"
    root.mkdir()
    (root / "course.toml").write_text(with_tutors((REPO / "course.toml").read_text(),
                                                  '\n[tutors]\nA = ["tina"]\nB = ["tom"]\n'))
    if roster is not None:
        (root / "roster.csv").write_text(roster)
    return load_course(root)


ROSTER = "id,first_name,last_name,email,group\ns1,Ann,A,a@x.org,B\ns2,\"Bo, Jr\",B,b@x.org,A\n"


def test_the_grades_service_is_a_hub_service_students_and_tutors_may_open(tmp_path):
    course = _course(tmp_path, ROSTER)
    runtime = Runtime(course_root=course.root, state_dir=course.root / "state", python="/venv/bin/python",
                      hub_port=1, proxy_api_port=2, exchange_port=3, formgrader_port=4, grades_port=18110)
    c = apply_config(Config(), course, HubSettings(), runtime, roster=course.roster())
    [svc] = [s for s in c.JupyterHub.services if s["name"] == GRADES_SERVICE]
    assert svc["url"] == "http://127.0.0.1:18110" and svc["display"] is True
    assert svc["command"][1:4] == ["-m", "gradehub.hub.grades.service", "--course-root"]
    assert "demo-tutor" in svc["environment"]["GRADEHUB_TUTORS"]
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    for name in ("gradehub-student", "gradehub-tutor"):
        assert "access:services!service=grades" in roles[name]["scopes"]
    assert "/services/grades/" in c.JupyterHub.template_vars["announcement_home"]
    # the students' servers may ask it for their own results with their own token (the lab's deadlines)
    assert "access:services!service=grades" in c.Spawner.server_token_scopes
    assert c.LocalCourseSpawner.environment["GRADEHUB_GRADES_URL"] == "http://127.0.0.1:18110/services/grades/"
    # no grades port: no service, no link
    c = apply_config(Config(), course, HubSettings(), Runtime(**{**runtime.__dict__, "grades_port": 0}),
                     roster=course.roster())
    assert GRADES_SERVICE not in [s["name"] for s in c.JupyterHub.services]
    assert "announcement_home" not in c.JupyterHub.template_vars


def test_the_demo_student_is_put_on_the_roster_in_the_demo_tutors_group(tmp_path):
    course = _course(tmp_path, ROSTER)
    settings = HubSettings()
    message = ensure_demo_student_on_roster(course, settings)
    assert message and "group A" in message
    students = {s.id: s for s in course.roster()}
    assert students[DEMO_STUDENT].group == "A" and students["s2"].first_name == "Bo, Jr"  # others unchanged
    accounts = build_accounts(course, course.roster(), settings)
    assert DEMO_TUTOR in accounts.tutors["A"] and DEMO_STUDENT in accounts.students["A"]
    assert ensure_demo_student_on_roster(course, settings) is None  # idempotent
    off = settings.replace(accounts={"demo": False})
    assert "taken off" in ensure_demo_student_on_roster(course, off)
    assert [s.id for s in course.roster()] == ["s1", "s2"]


def test_without_a_roster_the_demo_student_makes_one(tmp_path):
    course = _course(tmp_path, None)
    ensure_demo_student_on_roster(course, HubSettings())
    [only] = course.roster()
    assert only.id == DEMO_STUDENT and only.group == "A"  # the first [tutors] group: demo-tutor's
