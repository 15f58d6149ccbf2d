"""``gradehub hub``: start JupyterHub for a course root, and ``gradehub hub sync-roster``.

Start-up is a list of idempotent ``ensure_*`` steps, then JupyterHub itself, configured by
:func:`gradehub.hub.apply_config`:

1. the state folder (``<course root>/.gradehub/hub`` unless ``[hub].state_dir``);
2. accounts: a password for every roster student, tutor and instructor that has none yet
   (``accounts.json``, salted PBKDF2 hashes, mode 0600); new passwords are written once to
   ``new-passwords.csv`` (mode 0600) for the instructor to hand out; the demo accounts'
   passwords are kept in ``demo-accounts.json`` and printed at every start;
3. the gradebook knows the roster and the demo student, and every released sheet;
4. every released sheet (``release/<id>``) is published to the exchange (when changed);
5. free ports for the hub API, the proxy API, the exchange and the formgrader.

The embedded default is JupyterHub on 127.0.0.1 with local single-user processes, SQLite,
the course's own exchange folder: no Docker, no root.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .course import Course, CourseError, gradebook_url
from .hub import (Accounts, HubSettings, Runtime, apply_config, build_accounts, hub_groups,
                  load_settings, settings_path)

PBKDF2_ITERATIONS = 200_000


# --------------------------------------------------------------------------- passwords


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        algo, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algo != "pbkdf2_sha256":
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def read_accounts(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass
class AccountChanges:
    demo: dict[str, tuple[str, str]] = field(default_factory=dict)   # role -> (name, password)
    created: dict[str, str] = field(default_factory=dict)            # name -> new password
    removed: list[str] = field(default_factory=list)                 # no longer on the roster


def ensure_accounts(accounts: Accounts, state_dir: Path, *, demo_passwords: dict[str, str] | None = None
                    ) -> AccountChanges:
    """Give every account a password (idempotent); returns the demo and the new credentials."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "accounts.json"
    stored = read_accounts(path)
    demo_path = state_dir / "demo-accounts.json"
    demo_plain: dict[str, str] = json.loads(demo_path.read_text()) if demo_path.is_file() else {}
    demo_names = set(accounts.demo.values())
    changes = AccountChanges()
    for name in sorted(set(stored) - set(accounts.usernames)):
        del stored[name]            # left the roster: cannot log in any more (their files stay)
        changes.removed.append(name)
    for name in accounts.usernames:
        wanted = (demo_passwords or {}).get(name)
        if name in stored and not (wanted and not check_password(wanted, stored[name]["hash"])):
            stored[name]["role"] = accounts.role_of(name) or ""
            continue
        password = wanted or demo_plain.get(name) or secrets.token_urlsafe(9)
        stored[name] = {"hash": hash_password(password), "role": accounts.role_of(name) or ""}
        if name in demo_names:
            demo_plain[name] = password
        else:
            changes.created[name] = password
    _write_private(path, json.dumps(stored, indent=1, sort_keys=True))
    if demo_names:
        _write_private(demo_path, json.dumps(demo_plain, indent=1, sort_keys=True))
    for role, name in accounts.demo.items():
        changes.demo[role] = (name, demo_plain.get(name, ""))
    if changes.created:
        new_file = state_dir / "new-passwords.csv"
        rows = []
        if new_file.is_file():
            rows = list(csv.reader(new_file.read_text(encoding="utf-8").splitlines()))[1:]
        rows += [[name, pw] for name, pw in sorted(changes.created.items())]
        lines = ["account,password"] + [",".join(r) for r in rows]
        _write_private(new_file, "\n".join(lines) + "\n")
    return changes


try:
    from jupyterhub.auth import Authenticator
    from traitlets import Unicode
except ImportError:  # the hub extra is not installed
    Authenticator = None

if Authenticator is not None:
    class CoursePasswordAuthenticator(Authenticator):
        """Passwords from the course's ``accounts.json`` (written by ``gradehub hub``)."""

        accounts_file = Unicode(config=True, help="JSON: {username: {hash, role}}")

        def _accounts(self) -> dict[str, dict[str, str]]:
            try:
                return read_accounts(Path(self.accounts_file))
            except (OSError, ValueError):
                self.log.error("cannot read the accounts file %s", self.accounts_file)
                return {}

        async def authenticate(self, handler, data):
            name = self.normalize_username((data or {}).get("username", ""))
            entry = self._accounts().get(name)
            if entry and check_password((data or {}).get("password", ""), entry["hash"]):
                return name
            self.log.warning("failed login for %r", name)
            return None

        def check_allowed(self, username, authentication=None):
            # accounts added by `gradehub hub sync-roster` may log in without a restart
            return username in self._accounts() or super().check_allowed(username, authentication)


# --------------------------------------------------------------------------- runtime


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host if host not in ("", "0.0.0.0") else "127.0.0.1", 0))
        return s.getsockname()[1]


def state_dir_of(course: Course, settings: HubSettings) -> Path:
    return Path(settings.hub.state_dir) if settings.hub.state_dir else course.state_dir / "hub"


def proxy_command() -> tuple[str, ...]:
    """configurable-http-proxy (the pure-Python package's script, beside this interpreter first)."""
    beside = Path(sys.executable).with_name("configurable-http-proxy")
    if beside.is_file():
        return (str(beside),)
    found = shutil.which("configurable-http-proxy")
    if found:
        return (found,)
    raise CourseError("configurable-http-proxy is not installed: pip install 'gradehub[hub]'")


def admin_token(state_dir: Path) -> str:
    path = state_dir / "admin-token"
    if not path.is_file():
        _write_private(path, secrets.token_hex(32))
    return path.read_text().strip()


def prepare_runtime(course: Course, settings: HubSettings) -> Runtime:
    state = state_dir_of(course, settings)
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    (state / "homes").mkdir(exist_ok=True)
    from .exchange import exchange_root
    ip = settings.hub.hub_ip
    passthrough = {k: v for k, v in os.environ.items()
                   if k.startswith("GRADEHUB_") and not k.startswith("GRADEHUB_HUB__")}
    return Runtime(
        course_root=course.root,
        state_dir=state,
        python=sys.executable,
        hub_port=settings.hub.hub_port or free_port(ip),
        proxy_api_port=settings.hub.proxy_api_port or free_port(),
        exchange_port=settings.exchange.port or free_port(settings.exchange.listen_ip or ip),
        formgrader_port=settings.formgrader.port or free_port(),
        grading_port=free_port(),           # the tutors' grading service (gradehub.tutoring)
        admin_token=admin_token(state),
        exchange_root=exchange_root(course),
        proxy_command=proxy_command(),
        environ={**passthrough, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")},
    )


def ensure_released(course: Course, log: Callable[[str], None] = print) -> list[str]:
    """Publish every released sheet whose exchange copy is missing or differs; returns their ids.

    Not those the instructor unreleased (``gradehub.releases``), nor those whose release date
    has not come (the exchange service publishes them then).
    """
    import datetime as dt

    from .exchange import exchange_root, publish
    from .releases import is_released, read_overrides

    done = []
    outbound = exchange_root(course) / course.id / "outbound"
    overrides = read_overrides(course.root)
    now = dt.datetime.now(dt.timezone.utc)
    for a in course.assignments:
        release = course.release_dir(a.id)
        if not release.is_dir():
            continue
        if not is_released(course, a.id, now, overrides):
            state = overrides.get(a.id, {}).get("state")
            log(f"{a.id} is unreleased by the instructor" if state else f"{a.id} is released on {a.release}")
            continue
        target = outbound / a.id
        if target.is_dir() and _same_tree(release, target):
            continue
        if target.is_dir():
            shutil.rmtree(target)
        publish(course, a.id)
        log(f"published {a.id} to the exchange")
        done.append(a.id)
    return done


def _same_tree(a: Path, b: Path) -> bool:
    def listing(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).digest()
                for p in root.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts}
    return listing(a) == listing(b)


def ensure_gradebook_assignments(course: Course, log: Callable[[str], None] = print) -> list[str]:
    """The gradebook learns every released sheet it does not know yet (cells, points, due date).

    In a fresh checkout ``release/`` is committed but the gradebook (runtime state) is empty;
    nbgrader's generate runs in a temp root so the committed ``release/`` stays untouched.
    """
    import tempfile

    from nbgrader.api import MissingEntry

    from .gradebook import open_gradebook, sync_assignment_dates
    from .release import generate

    wanted = [a.id for a in course.assignments
              if course.release_dir(a.id).is_dir() and course.source_dir(a.id).is_dir()]
    missing = []
    with open_gradebook(course) as gb:
        for aid in wanted:
            try:
                gb.find_assignment(aid)
            except MissingEntry:
                missing.append(aid)
    for aid in missing:
        with tempfile.TemporaryDirectory(prefix="gradehub-hub-gradebook-") as tmp:
            root = Path(tmp)
            shutil.copy2(course.root / "nbgrader_config.py", root / "nbgrader_config.py")
            shutil.copytree(course.source_dir(aid), root / "source" / aid)
            generate(course, aid, root=root, db=gradebook_url(course))
        log(f"the gradebook now knows {aid}")
    if missing:
        with open_gradebook(course) as gb:
            sync_assignment_dates(gb, course)
    return missing


def ensure_gradebook_students(course: Course, accounts: Accounts) -> None:
    """The gradebook knows every roster student (names for the formgrader) and the demo student."""
    from .gradebook import open_gradebook, sync_roster
    with open_gradebook(course) as gb:
        if course.roster_path.is_file():
            sync_roster(gb, course)
        if "student" in accounts.demo:
            gb.update_or_create_student(accounts.demo["student"], first_name="Demo", last_name="Student")


def public_url(settings: HubSettings) -> str:
    return settings.hub.bind_url.rstrip("/") + "/"


# --------------------------------------------------------------------------- gradehub hub


def prepare(course: Course, settings: HubSettings, *, demo_passwords: dict[str, str] | None = None,
            out: Callable[[str], None] = print):
    """Every ensure_* step of a hub start; returns (runtime, roster, account changes).

    ``gradehub hub`` calls it, and so does Zero-to-JupyterHub's ``hub.extraConfig``.
    """
    roster = course.roster() if course.roster_path.is_file() else []
    accounts = build_accounts(course, roster, settings)
    runtime = prepare_runtime(course, settings)
    changes = ensure_accounts(accounts, runtime.state_dir, demo_passwords=demo_passwords)
    ensure_gradebook_students(course, accounts)
    ensure_gradebook_assignments(course, log=out)
    ensure_released(course, log=out)
    ensure_private(course, settings, runtime, out)
    return runtime, roster, changes


def ensure_private(course: Course, settings: HubSettings, runtime: Runtime,
                   out: Callable[[str], None] = print) -> None:
    """Servers as OS users of their own (hub as root): the hub's and the course's private state
    get no permissions for others (``gradehub.hub_isolation.lock_down``)."""
    from .hub_isolation import effective_mode, lock_down
    if settings.hub.mode != "local" or effective_mode(settings.spawner.local_users) != "system":
        return
    changed = lock_down(course, runtime.state_dir, runtime.exchange_dir, gradebook_url(course))
    if changed:
        out(f"closed to the servers' users: {', '.join(str(p) for p in changed)}")


def run_hub(course: Course, *, settings_file: str | None = None, port: int | None = None,
            ip: str | None = None, demo_passwords: dict[str, str] | None = None,
            out: Callable[[str], None] = print) -> int:
    from traitlets.config import Config

    settings = load_settings(settings_path(course.root, settings_file))
    if port is not None or ip is not None:
        parsed = urllib.parse.urlparse(settings.hub.bind_url)
        host = ip or parsed.hostname or "127.0.0.1"
        settings = settings.replace(hub={"bind_url": f"{parsed.scheme}://{host}:{port if port is not None else parsed.port}"
                                                      f"{parsed.path or '/'}"})
    runtime, roster, changes = prepare(course, settings, demo_passwords=demo_passwords, out=out)
    c = apply_config(Config(), course, settings, runtime, roster=roster)
    url = public_url(settings)
    out(f"gradehub hub for {course.id} ({course.title}) at {url}  [{settings.hub.mode} servers]")
    if changes.demo:
        out("demo accounts (user / password):")
        for role, (name, password) in changes.demo.items():
            out(f"  {role:<10} {name:<16} {password}")
    if changes.created:
        out(f"{len(changes.created)} new account(s); their passwords are in "
            f"{runtime.state_dir / 'new-passwords.csv'}")
    if not course.roster_path.is_file():
        out(f"no roster at {course.roster_path}: only the demo accounts exist")
    sys.stdout.flush()

    (runtime.state_dir / "hub-api-url").write_text(url + "hub/api\n")
    empty = runtime.state_dir / "jupyterhub_config.py"
    empty.write_text("# gradehub hub configures JupyterHub in-process (gradehub.hub.apply_config)\n")
    os.chdir(runtime.state_dir)
    hub_class = course_hub_class()
    hub_class.instance(config=c)           # launch_instance() picks up this instance
    hub_class.launch_instance(argv=[f"--config={empty}"])
    return 0


SERVICE_STOP_SECONDS = 3.0


def course_hub_class():
    """JupyterHub, stopping within seconds on SIGTERM.

    JupyterHub stops its managed services one after the other, each with SIGINT and up to 10 s
    of waiting, while still polling them: a service that exits on its own meanwhile is started
    again (and fails: ``'NoneType' object has no attribute 'proto'``). Here every service stops
    being polled first, they and the local servers get SIGTERM at once, services SIGKILL after
    a few seconds; then JupyterHub's own cleanup stops what is left (seconds, not minutes).
    """
    import asyncio
    import signal
    import time

    from jupyterhub.app import JupyterHub

    class CourseHub(JupyterHub):
        async def cleanup(self):
            procs = []
            for service in self._service_map.values():
                spawner = getattr(service, "spawner", None) if service.managed else None
                if spawner is None:
                    continue
                spawner.stop_polling()
                proc = getattr(spawner, "proc", None)
                if proc is not None and proc.poll() is None:
                    try:
                        proc.send_signal(signal.SIGTERM)
                        procs.append(proc)
                    except ProcessLookupError:
                        pass
            for user in self.users.values():     # servers start stopping meanwhile
                for spawner in user.spawners.values():
                    pid = getattr(spawner, "pid", 0) if spawner.active else 0
                    if pid:
                        try:
                            os.kill(pid, signal.SIGTERM)
                        except (ProcessLookupError, PermissionError):
                            pass
            deadline = time.monotonic() + SERVICE_STOP_SECONDS
            while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            for p in procs:
                if p.poll() is None:
                    self.log.warning("service process %s did not stop in %.0f s: killed", p.pid, SERVICE_STOP_SECONDS)
                    p.kill()
            await super().cleanup()

        async def shutdown_cancel_tasks(self, sig=None):
            if sig is None:
                return await super().shutdown_cancel_tasks(sig)
            self.log.critical("Received signal %s, initiating shutdown...", sig.name)
            await self.cleanup()
            # Everything is stopped, the database committed, the pid file removed: exit now. The
            # interpreter's own teardown of a hub's thousands of modules took seconds on a loaded
            # machine, for nothing.
            import logging
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)

    return CourseHub


# --------------------------------------------------------------------------- sync-roster


@dataclass
class SyncReport:
    created_users: list[str] = field(default_factory=list)
    created_groups: list[str] = field(default_factory=list)
    added: list[tuple[str, str]] = field(default_factory=list)     # (group, user)
    removed: list[tuple[str, str]] = field(default_factory=list)   # (group, user)
    new_passwords: dict[str, str] = field(default_factory=dict)
    removed_accounts: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created_users or self.created_groups or self.added or self.removed
                    or self.new_passwords or self.removed_accounts)

    def lines(self) -> list[str]:
        out = [f"created user {u}" for u in self.created_users]
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
        req = urllib.request.Request(self.api_url + path, data=data, method=method)
        req.add_header("Authorization", f"token {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - the hub's own URL
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise CourseError(f"hub API {method} {path}: {exc.code} {exc.read()[:300]!r}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise CourseError(f"the hub does not answer at {self.api_url} ({exc}); start it with `gradehub hub` "
                              "(a hub that is not running applies the roster when it starts)") from None
        return json.loads(raw) if raw else None


def plan_group_sync(wanted: dict[str, list[str]], current: dict[str, list[str]], managed_prefixes: tuple[str, ...]
                    ) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """(groups to create, (group, user) to add, (group, user) to remove). Pure; unmanaged groups are left."""
    create = sorted(set(wanted) - set(current))
    add = sorted((g, u) for g, users in wanted.items() for u in set(users) - set(current.get(g, [])))
    remove = sorted((g, u) for g, users in current.items()
                    if g in wanted or g.startswith(managed_prefixes)
                    for u in set(users) - set(wanted.get(g, [])))
    return create, add, remove


def sync_roster(course: Course, *, settings_file: str | None = None, api_url: str | None = None,
                dry_run: bool = False) -> SyncReport:
    """Make the running hub's users and groups match the roster and course.toml (idempotent)."""
    settings = load_settings(settings_path(course.root, settings_file))
    roster = course.roster() if course.roster_path.is_file() else []
    accounts = build_accounts(course, roster, settings)
    state = state_dir_of(course, settings)
    report = SyncReport()
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
