"""The embedded hub (`gradehub hub`, as root in CI) keeps students' code away from hub state,
enforces course.toml's [exchange] limits end to end, keeps an instructor's unrelease across a
restart, and stops within 10 s on SIGTERM.

One course root, two hub runs: the first does everything up to the instructor's unrelease
and is stopped with SIGTERM; the second starts on the same state.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
import uuid

import pytest

from hubtools import Hub, api_token, course_secret, free_port, hub_available, login, make_course, start_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
_missing = hub_available()
if _missing:
    pytestmark.append(pytest.mark.skip(reason=_missing))
if hasattr(os, "geteuid") and os.geteuid() != 0:
    pytestmark.append(pytest.mark.skip(reason="servers as OS users of their own need a hub run as root (CI is)"))

COURSE_ID = "nat3008"
LIMITS = """
[exchange]
max_submission_size = "48KiB"
max_total_size = "1MiB"
max_submissions = 2
rate_limit = "10/10min"
"""
NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def _h(token):
    return {"Authorization": f"token {token}"}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("hubiso") / "course", sheets=("week01",))
    text = (root / "course.toml").read_text()
    text = text.replace('id = "week02"', 'id = "week02"\nrelease = "2099-01-01T00:00:00+00:00"')
    import re
    for line in LIMITS.strip().splitlines()[1:]:          # the course's [exchange], tightened
        key = line.split("=")[0].strip()
        text, n = re.subn(rf"(?m)^{key} = .*$", line, text)
        assert n == 1, key
    (root / "course.toml").write_text(text)
    import shutil

    from hubtools import REPO
    shutil.copytree(REPO / "release" / "week02", root / "release" / "week02")   # published only in 2099
    return root


@pytest.fixture(scope="module")
def hub(course):
    hub = Hub(course, free_port())
    try:
        hub.wait_ready()
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="module")
def people(hub):
    pw = hub.passwords()
    out = {}
    for user in ("alice", "bob", "demo-instructor"):
        s = login(hub.url, user, pw[user])
        out[user] = {"session": s, "token": api_token(s, hub.url, user)}
    return out


def run_in_kernel(hub_url: str, user: str, token: str, code: str, timeout: float = 120) -> str:
    """Execute ``code`` in a new kernel of ``user``'s server (as its own kernel would); stdout."""
    import asyncio

    import requests
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    base = hub_url + f"user/{user}/api/kernels"
    r = requests.post(base, headers=_h(token), json={"name": "python3"}, timeout=120)
    assert r.status_code == 201, r.text
    kid = r.json()["id"]

    async def talk():
        ws_url = base.replace("http", "ws", 1) + f"/{kid}/channels"
        conn = await websocket_connect(HTTPRequest(ws_url, headers=_h(token), connect_timeout=60))
        msg_id = uuid.uuid4().hex
        conn.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": user, "session": uuid.uuid4().hex, "msg_type": "execute_request",
                       "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        out, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            raw = await asyncio.wait_for(conn.read_message(), timeout)
            if raw is None:
                break
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                out.append("\n".join(msg["content"]["traceback"]))
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                break
        conn.close()
        return "".join(out)

    try:
        return asyncio.run(talk())
    finally:
        requests.delete(f"{base}/{kid}", headers=_h(token), timeout=60)


PROBE = r'''
import json, os, pwd
report = {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
          "user": pwd.getpwuid(os.getuid()).pw_name, "home": os.path.expanduser("~"), "read": {}}
for path in PATHS:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as fh:
                fh.read(1)
        report["read"][path] = "READ"
    except OSError as exc:
        report["read"][path] = type(exc).__name__
print("REPORT" + json.dumps(report))
'''


def test_a_students_kernel_cannot_read_hub_state(hub, people):
    import requests
    for user in ("bob", "alice"):
        start_server(hub.url, user, people[user]["token"])
    # bob keeps something in his home
    r = requests.put(hub.url + "user/bob/api/contents/secret.txt", headers=_h(people["bob"]["token"]), timeout=60,
                     json={"type": "file", "format": "text", "content": "bob's answers"})
    assert r.status_code in (200, 201), r.text
    homes = hub.homes
    state, root = hub.state, hub.root
    paths = [state / "admin-token", state / "jupyterhub_cookie_secret", state / "jupyterhub.sqlite",
             state / "accounts.json", state / "demo-accounts.json", state / "new-passwords.csv", state,
             root / "source" / "week01" / "week01.ipynb", root / "source", root / "gradebook.db",
             root / "submitted", root / "autograded", root / "feedback", root / "roster.csv",
             root / "exchange", root / "exchange" / COURSE_ID / "inbound", root / ".gradehub",
             homes / "bob", homes / "bob" / "secret.txt", homes,
             # the course secret every student's data derive from (per-student variants)
             course_secret(root), course_secret(root).parent]
    for p in paths[:5] + [root / "gradebook.db", root / "source" / "week01" / "week01.ipynb", course_secret(root)]:
        assert p.exists(), p            # the probe must not pass because a file is missing
    code = f"PATHS = {json.dumps([str(p) for p in paths])}\n" + PROBE
    out = run_in_kernel(hub.url, "alice", people["alice"]["token"], code)
    assert "REPORT" in out, out
    report = json.loads(out.split("REPORT", 1)[1].strip().splitlines()[0])
    import pwd
    me = pwd.getpwnam(report["user"])
    assert report["uid"] != 0 and report["euid"] != 0 and report["gid"] != 0 and report["groups"] in ([], [report["gid"]])
    assert report["user"].startswith("gh-") and me.pw_uid == report["uid"]
    assert report["home"] == str(homes / "alice")
    readable = {p: how for p, how in report["read"].items() if how == "READ"}
    assert readable == {}, readable
    assert set(report["read"].values()) == {"PermissionError"}, report["read"]
    # bob's server is another OS user
    out_bob = run_in_kernel(hub.url, "bob", people["bob"]["token"], "import os; print('UID', os.getuid())")
    assert f"UID {report['uid']}" not in out_bob and "UID " in out_bob


def _submit(hub, token, aid, files):
    import requests
    body = {"files": {k: base64.b64encode(v).decode() for k, v in files.items()}}
    return requests.post(hub.url + f"services/gradehub-exchange/api/assignments/{aid}/submissions",
                         headers=_h(token), json=body, timeout=120)


def test_exchange_limits_end_to_end_and_the_panel_shows_the_refusal(hub, people):
    import requests
    tok = people["alice"]["token"]
    base = hub.url + "user/alice/"
    r = requests.post(base + "assignments/fetch", data={"course_id": COURSE_ID, "assignment_id": "week01"},
                      headers=_h(tok), timeout=120)
    assert r.status_code == 200 and r.json()["success"], r.text
    data = base64.b64encode(os.urandom(30 * 1024)).decode()
    r = requests.put(base + "api/contents/week01/data.txt", headers=_h(tok), timeout=60,
                     json={"type": "file", "format": "text", "content": data})
    assert r.status_code in (200, 201), r.text
    # what the Assignments panel calls: the refusal comes back as its error text
    r = requests.post(base + "assignments/submit", data={"course_id": COURSE_ID, "assignment_id": "week01"},
                      headers=_h(tok), timeout=120)
    value = r.json()
    assert value["success"] is False and "the course accepts at most 48 KiB per submission" in value["value"]
    # the service refuses it too, with the same words (413)
    big = _submit(hub, tok, "week01", {"week01.ipynb": NB, "data.bin": os.urandom(60 * 1024)})
    assert big.status_code == 413 and "at most 48 KiB" in big.json()["message"]
    # conflicting names: 400, not 500
    clash = _submit(hub, tok, "week01", {"a.ipynb": NB, "a.ipynb/b": b"x"})
    assert clash.status_code == 400 and "both as a file and as a folder" in clash.json()["message"]
    requests.delete(base + "api/contents/week01/data.txt", headers=_h(tok), timeout=60)
    r = requests.post(base + "assignments/submit", data={"course_id": COURSE_ID, "assignment_id": "week01"},
                      headers=_h(tok), timeout=120)
    assert r.json()["success"] is True, r.text
    assert _submit(hub, tok, "week01", {"week01.ipynb": NB}).status_code == 201
    third = _submit(hub, tok, "week01", {"week01.ipynb": NB})
    assert third.status_code == 429 and "submitted week01 2 times" in third.json()["message"]
    r = requests.post(base + "assignments/submit", data={"course_id": COURSE_ID, "assignment_id": "week01"},
                      headers=_h(tok), timeout=120)
    assert r.json()["success"] is False and "(429)" in r.json()["value"]


def test_release_date_hides_a_sheet(hub, people):
    import requests
    ex = hub.url + "services/gradehub-exchange/api/"
    tok = people["bob"]["token"]
    listed = [a["assignment_id"] for a in requests.get(ex + "assignments", headers=_h(tok), timeout=60).json()["assignments"]]
    assert listed == ["week01"]
    assert requests.get(ex + "assignments/week02", headers=_h(tok), timeout=60).status_code == 404
    assert _submit(hub, tok, "week02", {"week02.ipynb": NB}).status_code == 404
    assert not (hub.root / "exchange" / COURSE_ID / "outbound" / "week02").exists()


def _formgrader(hub, people, action, aid):
    s = people["demo-instructor"]["session"]
    page = s.get(hub.url + "services/formgrader/formgrader", timeout=120)    # the OAuth round trip
    assert page.status_code == 200, page.text[:300]
    xsrf = next(c.value for c in s.cookies if c.name == "_xsrf" and "formgrader" in c.path)
    r = s.post(hub.url + f"services/formgrader/formgrader/api/assignment/{aid}/{action}", timeout=300,
               headers={"X-XSRFToken": xsrf, "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200 and r.json().get("success"), r.text[:500]


def _listed(hub, token):
    import requests
    r = requests.get(hub.url + "services/gradehub-exchange/api/assignments", headers=_h(token), timeout=60)
    return [a["assignment_id"] for a in r.json()["assignments"]]


def test_unrelease_survives_a_restart_and_sigterm_stops_the_hub_within_10_s(hub, people, course):
    import psutil
    _formgrader(hub, people, "unrelease", "week01")
    assert _listed(hub, people["bob"]["token"]) == []
    start_server(hub.url, "bob", people["bob"]["token"])        # a running server must not slow the stop
    children = hub.descendants()
    assert children
    t0 = time.monotonic()
    hub.proc.send_signal(signal.SIGTERM)
    hub.proc.wait(30)
    took = time.monotonic() - t0
    log = hub.log_path.read_text(errors="replace")
    after = log.split("Received signal SIGTERM", 1)[1]
    assert took < 10, (took, after[-3000:])
    assert hub.proc.returncode == 0
    assert "Traceback" not in after and "'proto'" not in after, after[-3000:]
    time.sleep(1)
    alive = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], [p.cmdline() for p in alive]

    again = Hub(course, free_port(), env={"GRADEHUB_HUB__SPAWNER__HOMES_ROOT": str(hub.homes)})
    try:
        again.wait_ready()
        pw = again.passwords()
        bob = login(again.url, "bob", pw["bob"])
        inst = login(again.url, "demo-instructor", pw["demo-instructor"])
        people2 = {"bob": {"session": bob, "token": api_token(bob, again.url, "bob")},
                   "demo-instructor": {"session": inst}}
        assert _listed(again, people2["bob"]["token"]) == []       # still unreleased
        _formgrader(again, people2, "release", "week01")
        assert _listed(again, people2["bob"]["token"]) == ["week01"]
    finally:
        again.stop()
