"""gradehub.hub.labserver: a student's server asks the grades service for its owner's deadlines.

A stand-in grades service (Tornado, in this process) answers ``/api/me`` for one token. The
server's handler passes its own token, hands the JSON on, and turns every way of not knowing
into ``{"assignments": [], "unavailable": ...}`` (never an error the lab would log).
"""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("jupyter_server")

from gradehub.hub.labserver import fetch_me  # noqa: E402
from hubtools import free_port  # noqa: E402

ME = {"student": "alice", "assignments": [{"id": "week01", "due": "2026-10-23T23:59:00+02:00"}]}


async def _with_service(check):
    import tornado.web

    class Me(tornado.web.RequestHandler):
        def get(self):
            auth = self.request.headers.get("Authorization", "")
            if auth == "token alice-server-token":
                self.finish(ME)
            elif auth == "token not-json":
                self.finish("<html>login</html>")
            elif auth == "token redirect":
                self.redirect("/hub/login")
            else:
                self.set_status(403)
                self.finish({"error": "authentication required", "status": 403})

    port = free_port()
    server = tornado.web.Application([(r"/services/grades/api/me", Me)]).listen(port, "127.0.0.1")
    try:
        return await check(f"http://127.0.0.1:{port}/services/grades/")
    finally:
        server.stop()


def test_the_servers_token_gets_its_owners_results():
    data = asyncio.run(_with_service(lambda url: fetch_me(url, "alice-server-token")))
    assert data == ME


@pytest.mark.parametrize("token, why", [
    ("someone-else", "answered 403"),          # a tutor's or an instructor's server: not a student
    ("not-json", "no JSON"),
    ("redirect", "answered 302"),              # a login page is never followed
])
def test_not_knowing_is_an_empty_answer_with_the_reason(token, why):
    data = asyncio.run(_with_service(lambda url: fetch_me(url, token)))
    assert data["assignments"] == [] and why in data["unavailable"]


def test_without_a_service_or_a_token_or_an_answer():
    assert "no grades service" in asyncio.run(fetch_me("", "t"))["unavailable"]
    assert "no grades service" in asyncio.run(fetch_me("http://127.0.0.1:1/", ""))["unavailable"]
    port = free_port()   # nothing listens there
    data = asyncio.run(fetch_me(f"http://127.0.0.1:{port}/services/grades/", "t"))
    assert data["assignments"] == [] and "unavailable" in data
    json.dumps(data)
