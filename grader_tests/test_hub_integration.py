"""`gradehub hub` for real, on loopback, in a temp course root (local single-user processes).

One hub for the module (starting it is the slow part). The story:

1. alice logs in through the login form, starts her server, fetches week01 through nbgrader's
   server API (the Assignments panel's own calls), solves it, submits;
2. bob cannot list, read, fetch feedback of, or overwrite alice's submission, and cannot choose
   the time of his own; he cannot reach alice's server or the formgrader;
3. the instructor collects and autogrades (``--sandbox local``); alice's score is in the
   gradebook; the formgrader service answers the instructor, not the tutor;
4. the instructor releases feedback and grades; alice fetches the feedback in her Assignment List
   and reads her grades page (cookie and token), bob gets a 403 on it;
5. ``gradehub hub sync-roster`` applies a changed roster, and a second run changes nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import subprocess

import nbformat
import pytest

from hubtools import (BIN, Hub, api_token, free_port, hub_available, hub_env, login, make_course,
                      start_server)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
_missing = hub_available()
if _missing:
    pytestmark.append(pytest.mark.skip(reason=_missing))

COURSE_ID = "nat3008"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("hubint") / "course")
    hub = Hub(root, free_port())
    try:
        hub.wait_ready()
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="module")
def people(hub):
    """Logged-in sessions and API tokens of alice, bob, the instructor and a tutor."""
    import requests
    pw = hub.passwords()
    out = {}
    for user in ("alice", "bob", "demo-instructor", "tina"):
        s = login(hub.url, user, pw[user])
        out[user] = {"session": s, "token": api_token(s, hub.url, user)}
    yield out
    for who in out.values():
        who["session"].close()
    requests.Session().close()


def _h(token):
    return {"Authorization": f"token {token}"}


def _exchange_url(hub):
    return hub.url + "services/gradehub-exchange/"


def _solve_from_source(root, nb):
    """Put the reference solution of every solution cell into the student's notebook."""
    source = nbformat.read(root / "source" / "week01" / "week01.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell["source"] = re.sub(r"(?m)^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", "", answers[gid])
    return nb


@pytest.fixture(scope="module")
def alice_submitted(hub, people):
    import requests
    tok = people["alice"]["token"]
    start_server(hub.url, "alice", tok)
    base = hub.url + "user/alice/"
    listing = requests.get(base + "assignments", params={"course_id": COURSE_ID}, headers=_h(tok), timeout=120)
    assert listing.status_code == 200, listing.text
    value = listing.json()
    assert value["success"], value
    assert ("week01", "released") in [(a["assignment_id"], a["status"]) for a in value["value"]]

    r = requests.post(base + "assignments/fetch", data={"course_id": COURSE_ID, "assignment_id": "week01"},
                      headers=_h(tok), timeout=120)
    assert r.status_code == 200, r.text
    statuses = {a["assignment_id"]: a["status"] for a in r.json()["value"]}
    assert statuses["week01"] == "fetched"

    model = requests.get(base + "api/contents/week01/week01.ipynb", headers=_h(tok), timeout=60).json()
    nb = _solve_from_source(hub.root, model["content"])
    r = requests.put(base + "api/contents/week01/week01.ipynb", headers=_h(tok), timeout=60,
                     json={"type": "notebook", "format": "json", "content": nb})
    assert r.status_code == 200, r.text
    # a forged timestamp in the student's folder is ignored by the exchange
    requests.put(base + "api/contents/week01/timestamp.txt", headers=_h(tok), timeout=60,
                 json={"type": "file", "format": "text", "content": "2000-01-01 00:00:00.000000 UTC"})

    before = dt.datetime.now(dt.timezone.utc)
    r = requests.post(base + "assignments/submit", data={"course_id": COURSE_ID, "assignment_id": "week01"},
                      headers=_h(tok), timeout=120)
    after = dt.datetime.now(dt.timezone.utc)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"], body
    submitted = [a for a in body["value"] if a["status"] == "submitted" and a["assignment_id"] == "week01"]
    assert len(submitted) == 1 and len(submitted[0]["submissions"]) == 1
    return {"timestamp": submitted[0]["submissions"][0]["timestamp"], "before": before, "after": after}


def _parse(ts):
    return dt.datetime.strptime(ts.replace(" UTC", ""), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc)


def test_student_fetches_solves_and_submits_with_server_time(hub, alice_submitted):
    ts = _parse(alice_submitted["timestamp"])
    assert alice_submitted["before"] - dt.timedelta(seconds=5) <= ts <= alice_submitted["after"] + dt.timedelta(seconds=5)
    inbound = hub.root / "exchange" / COURSE_ID / "inbound"
    [folder] = [p for p in inbound.iterdir() if p.name.startswith("alice+week01+")]
    assert (folder / "timestamp.txt").read_text() == alice_submitted["timestamp"]
    assert (folder / "submission_secret.txt").is_file()
    assert (folder / "week01.ipynb").is_file()


def test_other_student_cannot_see_or_touch_the_submission(hub, people, alice_submitted):
    import requests
    bob = people["bob"]["token"]
    ex = _exchange_url(hub)
    mine = requests.get(ex + "api/submissions", headers=_h(bob), timeout=30).json()
    assert mine == {"student_id": "bob", "submissions": []}
    # the filter is the token's owner, not a parameter bob can set
    r = requests.get(ex + "api/submissions", params={"student_id": "alice", "assignment_id": "week01"},
                     headers=_h(bob), timeout=30)
    assert r.json()["submissions"] == []
    assert requests.get(ex + "api/assignments/week01/feedback", headers=_h(bob), timeout=30).json() == {"feedback": {}}
    # no route reads inbound folders; guessing names gets nowhere
    for path in ("api/inbound", "../inbound", "api/assignments/..%2Finbound", "api/submissions/alice"):
        assert requests.get(ex + path, headers=_h(bob), timeout=30).status_code in (403, 404)
    # bob's server is not alice's
    assert requests.get(hub.url + "user/alice/api/contents", headers=_h(bob), timeout=30).status_code in (403, 404)
    # nor is the exchange open without a token
    anon = requests.get(ex + "api/submissions", timeout=30, allow_redirects=False)
    assert anon.status_code in (302, 403)


def test_submission_time_and_name_cannot_be_forged_nor_overwrite(hub, people, alice_submitted):
    import requests
    bob = people["bob"]["token"]
    ex = _exchange_url(hub)
    inbound = hub.root / "exchange" / COURSE_ID / "inbound"
    alice_before = {p.name: (p / "week01.ipynb").read_bytes() for p in inbound.iterdir() if p.name.startswith("alice+")}
    nb = base64.b64encode(b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}').decode()
    forged = base64.b64encode(b"2000-01-01 00:00:00.000000 UTC").decode()
    t0 = dt.datetime.now(dt.timezone.utc)
    r = requests.post(ex + "api/assignments/week01/submissions", headers=_h(bob), timeout=30,
                      json={"files": {"week01.ipynb": nb, "timestamp.txt": forged},
                            "timestamp": "2000-01-01 00:00:00.000000 UTC", "student_id": "alice"})
    assert r.status_code == 201, r.text
    assert r.json()["student_id"] == "bob"
    assert _parse(r.json()["timestamp"]) >= t0 - dt.timedelta(seconds=5)
    [bobs] = [p for p in inbound.iterdir() if p.name.startswith("bob+week01+")]
    assert (bobs / "timestamp.txt").read_text() == r.json()["timestamp"]
    # path tricks are refused
    for name in ("../alice+week01+x/week01.ipynb", "/etc/passwd", "a/../../b.ipynb"):
        bad = requests.post(ex + "api/assignments/week01/submissions", headers=_h(bob), timeout=30,
                            json={"files": {name: nb}})
        assert bad.status_code == 400, (name, bad.text)
    # alice's submission is untouched
    after = {p.name: (p / "week01.ipynb").read_bytes() for p in inbound.iterdir() if p.name.startswith("alice+")}
    assert after == alice_before
    # bob's own listing shows his one submission (server time), alice's still only hers
    assert [s["timestamp"] for s in requests.get(ex + "api/submissions", headers=_h(bob), timeout=30).json()["submissions"]] \
        == [r.json()["timestamp"]]
    for name in list(inbound.iterdir()):
        if name.name.startswith("bob+"):
            import shutil
            shutil.rmtree(name)   # keep the grading step below about alice


def test_students_have_no_formgrader(hub, people):
    import requests
    s = people["alice"]["session"]
    home = s.get(hub.url + "hub/home", timeout=30)
    assert home.status_code == 200
    assert "services/formgrader" not in home.text
    r = requests.get(hub.url + "services/formgrader/formgrader", headers=_h(people["alice"]["token"]),
                     timeout=30, allow_redirects=False)
    assert r.status_code == 403


def test_tutors_have_no_formgrader(hub, people):
    """The formgrader shows and edits every student's grades: tutors grade in the grading service."""
    import requests
    home = people["tina"]["session"].get(hub.url + "hub/home", timeout=30)
    assert "services/formgrader" not in home.text
    r = requests.get(hub.url + "services/formgrader/formgrader", headers=_h(people["tina"]["token"]),
                     timeout=30, allow_redirects=False)
    assert r.status_code == 403


def test_the_instructor_reaches_the_formgrader_from_the_hub_home(hub, people):
    for user in ("demo-instructor",):
        s = people[user]["session"]
        home = s.get(hub.url + "hub/home", timeout=30)
        assert "services/formgrader" in home.text, user
        page = s.get(hub.url + "services/formgrader/formgrader", timeout=120)   # oauth round trip
        assert page.status_code == 200, (user, page.status_code, page.text[:300])
        assert "Manage Assignments" in page.text
        base = hub.url + "services/formgrader/formgrader/"
        # the page's scripts load, and the patched one sends the XSRF header on every request
        js = s.get(base + "static/js/backbone_xsrf.js", timeout=60)
        assert js.status_code == 200 and "X-XSRFToken" in js.text
        assert s.get(base + "static/js/manage_assignments.js", timeout=60).status_code == 200
        # what the page's jQuery does: a cookie-authenticated fetch; without the header JupyterHub
        # does not accept the cookie (nbgrader's own script: the "blank formgrader" of recent
        # hubs), with it the table has week01
        fetch = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}
        refused = s.get(base + "api/assignments", headers=fetch, timeout=60, allow_redirects=False)
        assert refused.status_code in (302, 403)     # not accepted as logged in
        xsrf = next(c.value for c in s.cookies if c.name == "_xsrf" and "formgrader" in c.path)
        api = s.get(base + "api/assignments", headers={**fetch, "X-XSRFToken": xsrf}, timeout=120)
        assert api.status_code == 200, api.text[:300]
        assert "week01" in [a["name"] for a in api.json()]


def test_instructor_collects_and_autogrades_into_the_gradebook(hub, alice_submitted):
    env = hub_env()
    root = str(hub.root)
    collect = subprocess.run([str(BIN / "gradehub"), "collect", "week01", "--course-root", root], env=env,
                             capture_output=True, text=True, timeout=300)
    assert collect.returncode == 0, collect.stdout + collect.stderr
    assert (hub.root / "submitted" / "alice" / "week01" / "week01.ipynb").is_file()
    grade = subprocess.run([str(BIN / "gradehub"), "autograde", "week01", "--sandbox", "local", "--student", "alice",
                            "--course-root", root], env=env, capture_output=True, text=True, timeout=900)
    assert grade.returncode == 0, grade.stdout + grade.stderr

    from gradehub.course import load_course
    from gradehub.gradebook import open_gradebook
    course = load_course(hub.root)
    with open_gradebook(course) as gb:
        sub = gb.find_submission("week01", "alice")
        auto = {g.name: g.auto_score for nb in sub.notebooks for g in nb.grades}
        max_auto = {g.name: g.max_score for nb in sub.notebooks for g in nb.grades if g.auto_score is not None}
        timestamp = sub.timestamp
    assert auto["nll_tests"] == 3 and auto["perceptron_tests"] == 3, auto
    assert sum(v for v in auto.values() if v is not None) == sum(max_auto.values())
    assert timestamp.replace(tzinfo=dt.timezone.utc) == _parse(alice_submitted["timestamp"]).replace(microsecond=timestamp.microsecond)


def test_alice_fetches_her_feedback_and_reads_her_grades_page(hub, people, alice_submitted):
    """After autograding: the instructor releases feedback and grades; alice fetches the feedback in
    her Assignment List (nbgrader's fetch_feedback through the exchange service) and opens the grades
    service through the hub's OAuth; bob gets a 403 on her page."""
    import requests
    env, root = hub_env(), str(hub.root)
    release = subprocess.run([str(BIN / "gradehub"), "feedback", "week01", "--release", "--course-root", root],
                             env=env, capture_output=True, text=True, timeout=300)
    assert release.returncode == 0, release.stdout + release.stderr
    assert "released feedback for alice" in release.stdout
    tok = people["alice"]["token"]
    base = hub.url + "user/alice/"
    r = requests.post(base + "assignments/fetch_feedback", data={"course_id": COURSE_ID, "assignment_id": "week01"},
                      headers=_h(tok), timeout=120)
    assert r.status_code == 200, r.text
    folder = requests.get(base + f"api/contents/week01/feedback/{alice_submitted['timestamp']}", headers=_h(tok),
                          timeout=60)
    assert folder.status_code == 200, folder.text
    assert [f["name"] for f in folder.json()["content"]] == ["week01.html"]

    alice = people["alice"]["session"]
    page = alice.get(hub.url + "services/grades/", timeout=120)
    assert page.status_code == 200 and "results of Alice A (alice)" in page.text
    assert "not released" in page.text
    assert people["bob"]["session"].get(hub.url + "services/grades/s/alice", timeout=120).status_code == 403
    grades = subprocess.run([str(BIN / "gradehub"), "grades", "release", "week01", "--course-root", root],
                            env=env, capture_output=True, text=True, timeout=300)
    assert grades.returncode == 0, grades.stdout + grades.stderr
    me = alice.get(hub.url + "services/grades/api/me", timeout=120).json()
    [week] = [w for w in me["assignments"] if w["id"] == "week01"]
    assert week["grades_released"] and week["score"] == sum(t["score"] or 0 for t in week["tasks"]) > 0
    assert week["feedback_url"] == "/services/grades/feedback/week01"
    # with a token instead of the login cookie (how a student's server asks for the deadlines)
    by_token = requests.get(hub.url + "services/grades/api/me", headers=_h(tok), timeout=120)
    assert by_token.status_code == 200 and by_token.json()["student"] == "alice"
    assert requests.get(hub.url + "services/grades/api/students/alice", headers=_h(people["bob"]["token"]),
                        timeout=120).status_code == 403


def test_sync_roster_is_idempotent(hub, people):
    import requests
    (hub.root / "roster.csv").write_text("id,first_name,last_name,email,group\n"
                                          "alice,Alice,A,alice@x.org,A\nbob,Bob,B,bob@x.org,A\n"
                                          "carol,Carol,C,carol@x.org,B\n")
    cmd = [str(BIN / "gradehub"), "hub", "sync-roster", "--course-root", str(hub.root)]
    first = subprocess.run(cmd, env=hub_env(), capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "created user carol" in first.stdout
    assert "added bob to students-A" in first.stdout and "removed bob from students-B" in first.stdout
    second = subprocess.run(cmd, env=hub_env(), capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "the hub already matches the roster"
    tok = people["demo-instructor"]["token"]
    groups = {g["name"]: sorted(g["users"]) for g in
              requests.get(hub.url + "hub/api/groups", headers=_h(tok), timeout=30).json()}
    assert groups["students-A"] == ["alice", "bob", "demo-student"]
    assert groups["students-B"] == ["carol"]
    # carol can log in with the password written for her
    assert login(hub.url, "carol", hub.passwords()["carol"])
