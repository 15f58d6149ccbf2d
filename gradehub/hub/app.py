"""``gradehub hub``: start JupyterHub for a course root.

Start-up (:func:`prepare`) reads the roster once, then runs a list of idempotent steps, then
JupyterHub itself, configured by :func:`gradehub.hub.config.apply_config`:

1. the state folder (``<course root>/.gradehub/hub`` unless ``[hub].state_dir``), the admin
   token and free ports (:func:`gradehub.hub.runtime.prepare_runtime`);
2. accounts: ``demo-student`` on the roster in the demo tutor's group (while the demo accounts
   are on); a password for every roster student, tutor and instructor that has none yet
   (``accounts.json``, salted PBKDF2 hashes, mode 0600); new passwords are written once to
   ``new-passwords.csv`` (mode 0600) for the instructor to hand out; the demo accounts'
   passwords are kept in ``demo-accounts.json`` and printed at every start;
3. the gradebook knows the roster and the demo student, and every released sheet;
4. every released sheet (``release/<id>``) is published to the exchange (when changed);
5. as root, the hub's and the course's private state closed to the servers' users.

``gradehub hub sync-roster`` is :mod:`gradehub.hub.roster`.

The embedded default is JupyterHub on 127.0.0.1 with local single-user processes, SQLite,
the course's own exchange folder: no Docker, no root.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import urllib.parse
from pathlib import Path
from collections.abc import Callable

from ..course import Course, gradebook_url
from .accounts import DEMO_STUDENT, Accounts, build_accounts, ensure_accounts, ensure_demo_student_on_roster
from .config import apply_config
from .runtime import Runtime, prepare_runtime
from .settings import HubSettings, load_settings, settings_path


def ensure_released(course: Course, log: Callable[[str], None] = print) -> list[str]:
    """Publish every released sheet whose exchange copy is missing or differs; returns their ids.

    Not those the instructor unreleased (``gradehub.hub.releases``), nor those whose release date
    has not come (the exchange service publishes them then).
    """
    import datetime as dt

    from ..exchange import exchange_root, publish
    from .releases import is_released, read_overrides

    done = []
    outbound = exchange_root(course) / course.id / "outbound"
    overrides = read_overrides(course.root)
    now = dt.datetime.now(dt.UTC)
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
        return {
            p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).digest()
            for p in root.rglob("*")
            if p.is_file() and ".ipynb_checkpoints" not in p.parts
        }

    return listing(a) == listing(b)


def ensure_gradebook_assignments(course: Course, log: Callable[[str], None] = print) -> list[str]:
    """The gradebook learns every released sheet it does not know yet (cells, points, due date).

    In a fresh checkout ``release/`` is committed but the gradebook (runtime state) is empty;
    nbgrader's generate runs in a temp root so the committed ``release/`` stays untouched.
    """
    import tempfile

    from nbgrader.api import MissingEntry

    from ..gradebook import open_gradebook, sync_assignment_dates
    from ..release import generate

    wanted = [
        a.id for a in course.assignments if course.release_dir(a.id).is_dir() and course.source_dir(a.id).is_dir()
    ]
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
    from ..gradebook import open_gradebook, sync_roster

    with open_gradebook(course) as gb:
        if course.roster_path.is_file():
            sync_roster(gb, course)
        if "student" in accounts.demo:
            gb.update_or_create_student(accounts.demo["student"], first_name="Demo", last_name="Student")


def public_url(settings: HubSettings) -> str:
    return settings.hub.bind_url.rstrip("/") + "/"


# --------------------------------------------------------------------------- gradehub hub


def prepare(
    course: Course,
    settings: HubSettings,
    *,
    demo_passwords: dict[str, str] | None = None,
    out: Callable[[str], None] = print,
):
    """Every ensure_* step of a hub start; returns (runtime, roster, account changes).

    ``gradehub hub`` calls it, and so does Zero-to-JupyterHub's ``hub.extraConfig``.
    """
    changed = ensure_demo_student_on_roster(course, settings)
    if changed:
        out(changed)
    roster = course.roster() if course.roster_path.is_file() else []
    accounts = build_accounts(course, roster, settings)
    runtime = prepare_runtime(course, settings)
    changes = ensure_accounts(accounts, runtime.state_dir, demo_passwords=demo_passwords)
    ensure_gradebook_students(course, accounts)
    ensure_gradebook_assignments(course, log=out)
    ensure_released(course, log=out)
    ensure_private(course, settings, runtime, out)
    return runtime, roster, changes


def ensure_private(course: Course, settings: HubSettings, runtime: Runtime, out: Callable[[str], None] = print) -> None:
    """Servers as OS users of their own (hub as root): the hub's and the course's private state
    get no permissions for others (``gradehub.hub.isolation.lock_down``)."""
    from .isolation import effective_mode, lock_down

    if settings.hub.mode != "local" or effective_mode(settings.spawner.local_users) != "system":
        return
    changed = lock_down(course, runtime.state_dir, runtime.exchange_dir, gradebook_url(course))
    if changed:
        out(f"closed to the servers' users: {', '.join(str(p) for p in changed)}")


def run_hub(
    course: Course,
    *,
    settings_file: str | None = None,
    port: int | None = None,
    ip: str | None = None,
    demo_passwords: dict[str, str] | None = None,
    out: Callable[[str], None] = print,
) -> int:
    from traitlets.config import Config

    settings = load_settings(settings_path(course.root, settings_file))
    if port is not None or ip is not None:
        parsed = urllib.parse.urlparse(settings.hub.bind_url)
        host = ip or parsed.hostname or "127.0.0.1"
        bind_port = port if port is not None else parsed.port
        settings = settings.replace(hub={"bind_url": f"{parsed.scheme}://{host}:{bind_port}{parsed.path or '/'}"})
    runtime, roster, changes = prepare(course, settings, demo_passwords=demo_passwords, out=out)
    c = apply_config(Config(), course, settings, runtime, roster=roster)
    url = public_url(settings)
    out(f"gradehub hub for {course.id} ({course.title}) at {url}  [{settings.hub.mode} servers]")
    if changes.demo:
        out("demo accounts (user / password):")
        for role, (name, password) in changes.demo.items():
            out(f"  {role:<10} {name:<16} {password}")
    if changes.created:
        out(f"{len(changes.created)} new account(s); their passwords are in {runtime.state_dir / 'new-passwords.csv'}")
    if not any(s.id != DEMO_STUDENT for s in roster):
        out(f"no students in {course.roster_path}: only the demo accounts exist")
    sys.stdout.flush()

    (runtime.state_dir / "hub-api-url").write_text(url + "hub/api\n")
    empty = runtime.state_dir / "jupyterhub_config.py"
    empty.write_text("# gradehub hub configures JupyterHub in-process (gradehub.hub.config.apply_config)\n")
    os.chdir(runtime.state_dir)
    hub_class = course_hub_class()
    hub_class.instance(config=c)  # launch_instance() picks up this instance
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
            for user in self.users.values():  # servers start stopping meanwhile
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
