"""The hub's password login under a login storm (issue 18): password checks run off JupyterHub's
event loop, side by side, and the loop keeps serving meanwhile. Behaviour, not timing: a check
that blocks until a second one has started can only finish when checks are not serialised."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from gradehub.hub import auth as auth_module
from gradehub.hub.accounts import hash_password
from gradehub.hub.auth import CoursePasswordAuthenticator


@pytest.fixture
def authenticator(tmp_path):
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps({
        "alice": {"hash": hash_password("pw-alice", iterations=1000), "role": "student"},
        "bob": {"hash": hash_password("pw-bob", iterations=1000), "role": "student"},
    }))
    a = CoursePasswordAuthenticator(accounts_file=str(accounts), check_threads=4)
    return a


def test_two_password_checks_run_at_the_same_time(authenticator, monkeypatch):
    both_started = threading.Barrier(2, timeout=20)
    real = auth_module.check_password

    def check(password, stored):
        both_started.wait()      # breaks (and fails the login) if the other check cannot start meanwhile
        return real(password, stored)

    monkeypatch.setattr(auth_module, "check_password", check)

    async def main():
        return await asyncio.gather(
            authenticator.authenticate(None, {"username": "alice", "password": "pw-alice"}),
            authenticator.authenticate(None, {"username": "bob", "password": "pw-bob"}),
        )

    assert asyncio.run(main()) == ["alice", "bob"]


def test_the_event_loop_serves_others_while_a_password_is_checked(authenticator, monkeypatch):
    release = threading.Event()
    real = auth_module.check_password
    checking_thread = {}

    def check(password, stored):
        checking_thread["id"] = threading.get_ident()
        assert release.wait(20)
        return real(password, stored)

    monkeypatch.setattr(auth_module, "check_password", check)

    async def main():
        login = asyncio.ensure_future(authenticator.authenticate(None, {"username": "alice", "password": "pw-alice"}))
        ticks = 0
        while ticks < 20:          # other requests' work: runs while the check is still blocked
            await asyncio.sleep(0.01)
            ticks += 1
        assert not login.done()
        release.set()
        return await login, threading.get_ident()

    name, loop_thread = asyncio.run(main())
    assert name == "alice" and checking_thread["id"] != loop_thread


@pytest.mark.parametrize("data", [
    {"username": "alice", "password": "wrong"},
    {"username": "alice", "password": ""},
    {"username": "mallory", "password": "pw-alice"},
    {"username": "", "password": ""},
    {},
])
def test_wrong_credentials_are_refused(authenticator, data):
    assert asyncio.run(authenticator.authenticate(None, data)) is None


def test_accounts_added_while_the_hub_runs_can_log_in(authenticator, tmp_path):
    assert not authenticator.check_allowed("carol")
    accounts = json.loads((tmp_path / "accounts.json").read_text())
    accounts["carol"] = {"hash": hash_password("pw-carol", iterations=1000), "role": "student"}
    (tmp_path / "accounts.json").write_text(json.dumps(accounts, indent=2))      # sync-roster rewrote it
    assert authenticator.check_allowed("carol")
    assert asyncio.run(authenticator.authenticate(None, {"username": "carol", "password": "pw-carol"})) == "carol"
    del accounts["alice"]                                                        # left the roster
    (tmp_path / "accounts.json").write_text(json.dumps(accounts, indent=3))
    assert asyncio.run(authenticator.authenticate(None, {"username": "alice", "password": "pw-alice"})) is None
