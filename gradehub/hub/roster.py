"""``gradehub hub sync-roster``: apply a changed roster or ``[tutors]`` table to a running hub.

New users and groups are created, students who changed group move, students who left lose
their groups and their password (their files stay). Running it again changes nothing. The
plan is a pure function (:func:`plan_group_sync`); the calls go through the hub's REST API
with the ``gradehub-admin`` service token.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..course import Course, CourseError
from .accounts import build_accounts, ensure_accounts, ensure_demo_student_on_roster, hub_groups
from .runtime import admin_token, state_dir_of
from .settings import load_settings, settings_path


@dataclass
class SyncReport:
    created_users: list[str] = field(default_factory=list)
    created_groups: list[str] = field(default_factory=list)
    added: list[tuple[str, str]] = field(default_factory=list)  # (group, user)
    removed: list[tuple[str, str]] = field(default_factory=list)  # (group, user)
    new_passwords: dict[str, str] = field(default_factory=dict)
    removed_accounts: list[str] = field(default_factory=list)
    roster_changes: list[str] = field(default_factory=list)  # the demo student put on (or off) the roster

    @property
    def changed(self) -> bool:
        return bool(
            self.created_users
            or self.created_groups
            or self.added
            or self.removed
            or self.new_passwords
            or self.removed_accounts
            or self.roster_changes
        )

    def lines(self) -> list[str]:
        out = list(self.roster_changes)
        out += [f"created user {u}" for u in self.created_users]
        out += [f"created group {g}" for g in self.created_groups]
        out += [f"added {u} to {g}" for g, u in self.added]
        out += [f"removed {u} from {g}" for g, u in self.removed]
        out += [f"new password for {u}" for u in sorted(self.new_passwords)]
        out += [f"{u} left the roster: can no longer log in (files kept)" for u in self.removed_accounts]
        return out or ["the hub already matches the roster"]


class HubAPI:
    """A few calls of JupyterHub's REST API with the gradehub-admin service token."""

    def __init__(self, api_url: str, token: str):
        self.api_url = api_url.rstrip("/")
        self.token = token

    def __call__(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api_url + path, data=data, method=method)  # noqa: S310 - the hub's URL
        req.add_header("Authorization", f"token {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - the hub's own URL
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise CourseError(f"hub API {method} {path}: {exc.code} {exc.read()[:300]!r}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise CourseError(
                f"the hub does not answer at {self.api_url} ({exc}); start it with `gradehub hub` "
                "(a hub that is not running applies the roster when it starts)"
            ) from None
        return json.loads(raw) if raw else None


def plan_group_sync(
    wanted: dict[str, list[str]], current: dict[str, list[str]], managed_prefixes: tuple[str, ...]
) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """(groups to create, (group, user) to add, (group, user) to remove). Pure; unmanaged groups are left."""
    create = sorted(set(wanted) - set(current))
    add = sorted((g, u) for g, users in wanted.items() for u in set(users) - set(current.get(g, [])))
    remove = sorted(
        (g, u)
        for g, users in current.items()
        if g in wanted or g.startswith(managed_prefixes)
        for u in set(users) - set(wanted.get(g, []))
    )
    return create, add, remove


def sync_roster(
    course: Course, *, settings_file: str | None = None, api_url: str | None = None, dry_run: bool = False
) -> SyncReport:
    """Make the running hub's users and groups match the roster and course.toml (idempotent)."""
    settings = load_settings(settings_path(course.root, settings_file))
    roster_change = None if dry_run else ensure_demo_student_on_roster(course, settings)
    roster = course.roster() if course.roster_path.is_file() else []
    accounts = build_accounts(course, roster, settings)
    state = state_dir_of(course, settings)
    report = SyncReport(roster_changes=[roster_change] if roster_change else [])
    if not dry_run:
        account_changes = ensure_accounts(accounts, state)
        report.new_passwords = account_changes.created
        report.removed_accounts = account_changes.removed
    api_url = api_url or _running_api_url(state)
    api = HubAPI(api_url, admin_token(state))
    users = {u["name"] for u in api("GET", "/users?limit=10000") or []}
    groups = {g["name"]: g["users"] for g in api("GET", "/groups?limit=10000") or []}
    wanted = {name: spec["users"] for name, spec in hub_groups(accounts).items()}
    report.created_users = sorted(set(accounts.usernames) - users)
    create, add, remove = plan_group_sync(wanted, groups, ("students-", "tutors-"))
    report.created_groups, report.added, report.removed = create, add, remove
    if dry_run:
        return report
    if report.created_users:
        api("POST", "/users", {"usernames": report.created_users})
    for g in create:
        api("POST", f"/groups/{urllib.parse.quote(g)}", {})
    by_group_add: dict[str, list[str]] = {}
    for g, u in add:
        by_group_add.setdefault(g, []).append(u)
    for g, names in by_group_add.items():
        api("POST", f"/groups/{urllib.parse.quote(g)}/users", {"users": sorted(names)})
    by_group_rm: dict[str, list[str]] = {}
    for g, u in remove:
        by_group_rm.setdefault(g, []).append(u)
    for g, names in by_group_rm.items():
        api("DELETE", f"/groups/{urllib.parse.quote(g)}/users", {"users": sorted(names)})
    return report


def _running_api_url(state: Path) -> str:
    info = state / "hub-api-url"
    if not info.is_file():
        raise CourseError(f"no running hub found ({info} is missing): start it with `gradehub hub`")
    return info.read_text().strip()
