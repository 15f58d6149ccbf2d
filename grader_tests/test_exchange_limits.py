"""The exchange under abuse, without a hub: course.toml's [exchange] limits and release dates,
malformed submissions (400, never 500), the HTTP layer's 413/429, the formgrader's recorded
release/unrelease, and staff submissions left out of `gradehub collect`."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from gradehub.course import CourseError, ExchangeLimits, load_course
from gradehub.hub.exchange.store import ExchangeRejected, ExchangeStore

REPO = Path(__file__).resolve().parent.parent
T0 = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.timezone.utc)
NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'

COURSE = """\
[course]
id = "nat3008"
roster = "roster.csv"

[exchange]
max_submission_size = "10KiB"
max_total_size = "25KiB"
max_submissions = 3
rate_limit = "4/10min"

[tutors]
A = ["tina"]

[[assignment]]
id = "week01"
due = "2026-11-20T23:59:00+01:00"

[[assignment]]
id = "week02"
due = "2026-11-27T23:59:00+01:00"
release = "2026-11-10T10:00:00+01:00"
"""


class Clock:
    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def course_root(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    (root / "course.toml").write_text(COURSE)
    (root / "roster.csv").write_text("id,first_name,last_name,email,group\nalice,A,A,a@x,A\nbob,B,B,b@x,A\n")
    for aid in ("week01", "week02"):
        (root / "release" / aid).mkdir(parents=True)
        (root / "release" / aid / f"{aid}.ipynb").write_bytes(NB)
    return root


@pytest.fixture
def store(course_root, tmp_path):
    return ExchangeStore(tmp_path / "exchange", "nat3008", clock=Clock(), course_root=course_root)


def _reject(fn, *args):
    with pytest.raises(ExchangeRejected) as err:
        fn(*args)
    return err.value


# --------------------------------------------------------------------------- course.toml


def test_exchange_section_and_release_dates_are_read(course_root):
    course = load_course(course_root)
    assert course.exchange == ExchangeLimits(max_submission_bytes=10 * 1024, max_total_bytes=25 * 1024,
                                             max_submissions=3, rate_count=4, rate_window=600.0)
    assert course.assignment("week01").release is None
    assert course.assignment("week02").release == dt.datetime(2026, 11, 10, 9, 0, tzinfo=dt.timezone.utc)
    assert load_course(REPO).exchange.max_submission_bytes == 20 * 2**20


@pytest.mark.parametrize("change, message", [
    (('max_submissions = 3', 'max_submisions = 3'), "[exchange]: unknown key(s) 'max_submisions'"),
    (('rate_limit = "4/10min"', 'rate_limit = "often"'), "[exchange].rate_limit: cannot read 'often'"),
    (('rate_limit = "4/10min"', 'rate_limit = "4/10parsecs"'), "[exchange].rate_limit: cannot read"),
    (('max_total_size = "25KiB"', 'max_total_size = "5KiB"'), "max_total_size is smaller"),
    (('max_submissions = 3', 'max_submissions = 0'), "must be positive"),
    (('release = "2026-11-10T10:00:00+01:00"', 'release = "2026-11-10T10:00:00"'), "week02.release: 2026-11-10T10:00:00 has no UTC offset"),
    (('release = "2026-11-10T10:00:00+01:00"', 'relase = "2026-11-10T10:00:00+01:00"'), "unknown key(s) 'relase'"),
])
def test_exchange_section_typos_are_errors_naming_the_key(course_root, change, message):
    (course_root / "course.toml").write_text(COURSE.replace(*change))
    with pytest.raises(CourseError) as err:
        load_course(course_root)
    assert message in str(err.value)


# --------------------------------------------------------------------------- limits


def test_size_per_submission_is_413(store):
    err = _reject(store.submit, "alice", "week01", {"week01.ipynb": NB, "data.bin": b"x" * 11 * 1024})
    assert err.status == 413 and "at most 10 KiB per submission" in str(err)
    assert store.submissions("alice") == []


def test_total_per_student_and_assignment_is_413(store):
    store.submit("alice", "week01", {"week01.ipynb": NB, "d.bin": b"x" * 9 * 1024})
    store.submit("alice", "week01", {"week01.ipynb": NB, "d.bin": b"x" * 9 * 1024})
    err = _reject(store.submit, "alice", "week01", {"week01.ipynb": NB, "d.bin": b"x" * 9 * 1024})
    assert err.status == 413 and "25 KiB the course keeps per student and assignment" in str(err)
    store.submit("bob", "week01", {"week01.ipynb": NB, "d.bin": b"x" * 9 * 1024})    # per student


def test_submissions_per_student_and_assignment_is_429(store):
    for _ in range(3):
        store.clock.now += dt.timedelta(minutes=5)
        store.submit("alice", "week01", {"week01.ipynb": NB})
    store.clock.now += dt.timedelta(minutes=5)
    err = _reject(store.submit, "alice", "week01", {"week01.ipynb": NB})
    assert err.status == 429 and "submitted week01 3 times" in str(err)


def test_rate_per_student_is_429_until_the_window_has_passed(store, course_root):
    store.clock.now = dt.datetime(2026, 11, 12, tzinfo=dt.timezone.utc)     # week02 is released
    for aid in ("week01", "week01", "week02", "week02"):
        store.clock.now += dt.timedelta(seconds=30)
        store.submit("alice", aid, {f"{aid}.ipynb": NB})
    store.clock.now += dt.timedelta(seconds=30)
    err = _reject(store.submit, "alice", "week02", {"week02.ipynb": NB})
    assert err.status == 429 and "4 submissions per 10 min" in str(err)
    assert 400 <= err.retry_after <= 481      # the oldest of the four leaves the window then
    store.submit("bob", "week01", {"week01.ipynb": NB})                    # per student
    store.clock.now += dt.timedelta(seconds=err.retry_after)
    store.submit("alice", "week02", {"week02.ipynb": NB})


@pytest.mark.parametrize("files, fragment", [
    ({"a.ipynb": NB, "a.ipynb/b": b"x"}, "both as a file and as a folder"),
    ({"week01.ipynb": NB, "d": b"", "d/e/f": b""}, "both as a file and as a folder"),
    ({"a//b.ipynb": NB}, "invalid file name"),
    ({"dir/": NB, "x.ipynb": NB}, "invalid file name"),
    ({"x" * 300 + ".ipynb": NB}, "invalid file name"),
    ({"a\x01.ipynb": NB}, "invalid file name"),
    ({"\udcff.ipynb": NB}, "not UTF-8"),
    ({"/".join("d" * 20) + ".ipynb": NB}, "invalid file name"),
    ({"notes.txt": b"x"}, "at least one notebook"),
])
def test_malformed_submissions_are_400(store, files, fragment):
    err = _reject(store.submit, "alice", "week01", files)
    assert err.status == 400 and fragment in str(err)
    assert not list(store.inbound.glob("alice+*")) and not list(store.inbound.glob(".incoming-*"))


# --------------------------------------------------------------------------- release dates


def test_release_date_gates_listing_fetching_and_submitting(store, course_root):
    assert [a["assignment_id"] for a in store.released()] == ["week01"]
    assert _reject(store.release_files, "week02").status == 404
    assert _reject(store.submit, "alice", "week02", {"week02.ipynb": NB}).status == 404
    assert not (store.outbound / "week02").exists()
    store.clock.now = dt.datetime(2026, 11, 10, 9, 0, tzinfo=dt.timezone.utc)   # its release time
    assert [a["assignment_id"] for a in store.released()] == ["week01", "week02"]
    assert store.release_files("week02") == {"week02.ipynb": NB}                # published from release/


def test_instructor_release_and_unrelease_override_the_date(store, course_root):
    from gradehub.hub.releases import RELEASED, UNRELEASED, read_overrides, record
    record(course_root, "week02", RELEASED, "prof")          # early
    record(course_root, "week01", UNRELEASED, "prof")
    assert [a["assignment_id"] for a in store.released()] == ["week02"]
    assert _reject(store.release_files, "week01").status == 404
    assert read_overrides(course_root)["week01"]["by"] == "prof"


# --------------------------------------------------------------------------- the HTTP layer


def _serve_and_call(store, requests_to_make):
    """Run the service's app on a free port with a fake hub login (header X-User)."""
    from jupyterhub.services import auth
    from tornado import httpclient, httpserver

    from gradehub.hub.exchange.service import make_app

    async def main():
        original = auth.HubAuthenticated.get_current_user
        auth.HubAuthenticated.get_current_user = lambda self: (
            {"name": self.request.headers["X-User"]} if "X-User" in self.request.headers else None)
        try:
            server = httpserver.HTTPServer(make_app(store))
            [sock] = __import__("tornado.netutil").netutil.bind_sockets(0, "127.0.0.1")
            server.add_sockets([sock])
            port = sock.getsockname()[1]
            client = httpclient.AsyncHTTPClient()
            out = []
            for method, path, body, headers in requests_to_make:
                r = await client.fetch(f"http://127.0.0.1:{port}{path}", method=method, body=body,
                                       headers={"X-User": "alice", **headers}, raise_error=False,
                                       request_timeout=60)
                out.append(r)
            server.stop()
            return out
        finally:
            auth.HubAuthenticated.get_current_user = original

    return asyncio.run(main())


def _body(files):
    return json.dumps({"files": {k: base64.b64encode(v).decode() for k, v in files.items()}})


def test_http_malformed_requests_are_400_and_limits_413_429(store):
    store.max_upload = 10 * 1024
    url = "/api/assignments/week01/submissions"
    big = _body({"week01.ipynb": NB, "d.bin": b"x" * 200 * 1024})
    responses = _serve_and_call(store, [
        ("POST", url, "not json", {}),
        ("POST", url, "[1, 2]", {}),
        ("POST", url, json.dumps({"files": ["week01.ipynb"]}), {}),
        ("POST", url, json.dumps({"files": {"week01.ipynb": "***"}}), {}),
        ("POST", url, json.dumps({"files": {"week01.ipynb": 5}}), {}),
        ("POST", url, _body({"a.ipynb": NB, "a.ipynb/b": b"x"}), {}),
        ("POST", url, b"\xff\xfe", {}),
        ("POST", url, big, {}),
        ("POST", url, _body({"week01.ipynb": NB, "d.bin": b"x" * 11 * 1024}), {}),
        ("GET", "/api/assignments", None, {}),
        *[("POST", url, _body({"week01.ipynb": NB}), {})] * 4,
    ])
    statuses = [r.code for r in responses]
    assert statuses[:7] == [400] * 7, [(r.code, r.body[:200]) for r in responses]
    assert statuses[7:9] == [413, 413]
    assert "at most 10 KiB per submission" in json.loads(responses[8].body)["message"]
    limits = json.loads(responses[9].body)["limits"]
    assert limits["max_submission_bytes"] == 10 * 1024 and limits["max_submissions"] == 3
    assert statuses[10:] == [201, 201, 201, 429]
    assert "submitted week01 3 times" in json.loads(responses[13].body)["message"]


def test_http_rate_limit_sends_retry_after(store):
    store.clock.now = dt.datetime(2026, 11, 12, tzinfo=dt.timezone.utc)
    calls = [("POST", f"/api/assignments/{a}/submissions", _body({f"{a}.ipynb": NB}), {})
             for a in ("week01", "week02", "week01", "week02", "week01")]
    responses = _serve_and_call(store, calls)
    assert [r.code for r in responses] == [201, 201, 201, 201, 429]
    assert int(responses[-1].headers["Retry-After"]) > 0
    assert "try again in" in json.loads(responses[-1].body)["message"]


# --------------------------------------------------------------------------- the client shows refusals


def test_client_refuses_an_oversized_submission_before_uploading(tmp_path, monkeypatch):
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.abc.exchange import ExchangeError

    from gradehub.hub.exchange.client import HubExchangeSubmit

    (tmp_path / "week01").mkdir()
    (tmp_path / "week01" / "week01.ipynb").write_bytes(NB)
    (tmp_path / "week01" / "data.bin").write_bytes(b"x" * 20 * 1024)
    sub = HubExchangeSubmit(coursedir=CourseDirectory(course_id="nat3008", assignment_id="week01"),
                            url="http://exchange.invalid/", token="t")
    sub.assignment_dir = str(tmp_path)
    posted = []

    def call(method, path, body=None):
        if method == "POST":
            posted.append(path)
        return {"assignments": [{"assignment_id": "week01", "notebooks": ["week01"]}],
                "limits": {"max_submission_bytes": 10 * 1024}}
    monkeypatch.setattr(sub, "call", call)
    with pytest.raises(ExchangeError) as err:
        sub.start()
    assert "the course accepts at most 10 KiB per submission" in str(err.value) and posted == []


# --------------------------------------------------------------------------- formgrader, hub start, collect


@pytest.fixture
def real_course(tmp_path):
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    from hubtools import make_course
    return make_course(tmp_path / "real", sheets=("week01",))


def test_formgrader_unrelease_is_recorded_and_kept_by_the_hub_start(real_course, monkeypatch):
    from gradehub.exchange import _api, exchange_root, publish
    from gradehub.hub.app import ensure_released
    from gradehub.hub.releases import read_overrides

    course = load_course(real_course)
    monkeypatch.setenv("GRADEHUB_COURSE_ROOT", str(real_course))
    publish(course, "week01")
    api = _api(course)
    api.exchange.list = __import__("gradehub.hub.releases").hub.releases.RecordingList
    assert api.unrelease("week01")["success"]
    outbound = exchange_root(course) / course.id / "outbound" / "week01"
    assert not outbound.exists() and read_overrides(real_course)["week01"]["state"] == "unreleased"
    assert ensure_released(course, log=lambda m: None) == []       # a hub start does not undo it
    assert not outbound.exists()
    api.exchange.release_assignment = __import__("gradehub.hub.releases").hub.releases.RecordingReleaseAssignment
    assert api.release_assignment("week01")["success"]
    assert outbound.is_dir() and read_overrides(real_course)["week01"]["state"] == "released"


def test_staff_submissions_are_not_collected(real_course):
    from gradehub.exchange import collect, exchange_root, publish, submit
    course = load_course(real_course)
    publish(course, "week01")
    folder = real_course / "release" / "week01"
    when = dt.datetime(2026, 10, 20, tzinfo=dt.timezone.utc)
    for who in ("alice", "tina", "demo-instructor", "demo-tutor"):
        submit(course, who, "week01", folder, when)
    assert collect(course, "week01") == ["alice"]
    inbound = exchange_root(course) / course.id / "inbound"
    assert sorted(p.name.split("+")[0] for p in inbound.iterdir()) == ["alice", "demo-instructor", "demo-tutor", "tina"]
    from gradehub.gradebook import open_gradebook
    with open_gradebook(course) as gb:
        assert "tina" not in {s.id for s in gb.students}
    shutil.rmtree(real_course / "submitted")
