"""Keeping students' code away from the hub's state in the embedded hub (``gradehub hub``).

When the hub runs as root, every hub user's server runs as an OS user of its own
(:func:`system_username`: ``gh-<name>``, created on demand with ``useradd --system``, no login
shell, no password), with a home of its own under a homes root that only root can list
(``0711``; each home ``0700``, owned by that user). The server process gets that uid and gid
and no supplementary groups before it executes anything.

What the servers' users must not read is made unreadable for them when the hub starts
(:func:`lock_down`): the hub's state folder (cookie secret, tokens, SQLite database,
passwords), the course's ``source/``, ``submitted/``, ``autograded/``, ``feedback/``,
``reports/``, ``.gradehub/``, the roster, the gradebook and the exchange's storage lose every
permission for "others". The hub (root) still reads them; the students' users are "others".

When the hub does not run as root it cannot switch users: it then refuses to start anyone's
server (:data:`REFUSAL`) unless ``[spawner].local_users = "shared"`` says that every server may
run as the hub's own user, which lets every student read everything the hub can: only for
trying the hub out alone.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
from pathlib import Path

GECOS_PREFIX = "gradehub server of "
LOCAL_USERS = ("auto", "system", "shared")
REFUSAL = (
    "the embedded hub starts a server only as an OS user of its own, which needs root; "
    "run `gradehub hub` as root, use the Docker mode (GRADEHUB_HUB__HUB__MODE=docker), or set "
    "[spawner] local_users = \"shared\" to run every server as the hub's own user (every student "
    "can then read the hub's secrets and the course: only for trying the hub out alone)"
)


class IsolationError(Exception):
    """A server cannot be started safely; the message says why and what to do."""


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def effective_mode(local_users: str) -> str:
    """``system`` (own OS users), ``shared`` (the hub's own user) or ``refuse``."""
    if local_users not in LOCAL_USERS:
        raise ValueError(f"local_users must be one of {', '.join(LOCAL_USERS)}")
    if local_users == "shared":
        return "refuse" if is_root() else "shared"  # shared as root would make every student root
    if local_users == "system" or is_root():
        return "system" if is_root() else "refuse"
    return "refuse"


def system_username(name: str) -> str:
    """The OS user of hub user ``name``: ``gh-<name>``, or a sanitized name with a hash (≤ 32)."""
    base = re.sub(r"[^a-z0-9_-]", "-", name.lower())
    candidate = f"gh-{base}"
    if base != name or len(candidate) > 32:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
        candidate = f"gh-{base[:19].strip('-') or 'u'}-{digest}"
    return candidate


def default_homes_root(course_id: str, state_dir: Path) -> Path:
    """Outside the course root (whose folders students must not traverse), one per hub state."""
    digest = hashlib.sha256(str(Path(state_dir).resolve()).encode()).hexdigest()[:8]
    return Path("/var/lib/gradehub/homes") / f"{course_id}-{digest}"


def ensure_system_user(name: str, home: Path) -> tuple[int, int]:
    """(uid, gid) of the OS user for hub user ``name``, created if needed; never root, never a
    user that gradehub did not create."""
    import pwd

    sysname = system_username(name)
    try:
        entry = pwd.getpwnam(sysname)
    except KeyError:
        cmd = [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            str(home),
            "--shell",
            "/usr/sbin/nologin",
            "--comment",
            f"{GECOS_PREFIX}{name}"[:200],
            sysname,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if result.returncode not in (0, 9):  # 9: created meanwhile by another start
            raise IsolationError(
                f"cannot create the OS user {sysname} for {name}: {(result.stderr or result.stdout).strip()}"
            ) from None
        entry = pwd.getpwnam(sysname)
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise IsolationError(f"the OS user {sysname} has uid or gid 0: refusing to start a server as it")
    if not entry.pw_gecos.startswith(GECOS_PREFIX):
        raise IsolationError(
            f"the OS user {sysname} exists but was not made by gradehub "
            f"(comment {entry.pw_gecos!r}): refusing to start {name}'s server as it"
        )
    return entry.pw_uid, entry.pw_gid


def blocked_ancestor(path: Path) -> Path | None:
    """The first folder above ``path`` (resolved) that others cannot traverse, or None."""
    current = Path(path).resolve()
    for folder in [*reversed(current.parents)]:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return folder
    return None


def prepare_home(homes_root: Path, name: str, uid: int, gid: int) -> Path:
    """``<homes root>/<name>``: owned by the user, 0700; the root: owned by the hub, 0711."""
    homes_root = Path(homes_root)
    homes_root.mkdir(parents=True, exist_ok=True)
    os.chmod(homes_root, 0o711)  # noqa: S103 - others may pass through to their own home, not list
    blocked = blocked_ancestor(homes_root / "x")
    if blocked is not None:
        raise IsolationError(
            f"the homes root {homes_root} is not reachable for the servers' users: "
            f"{blocked} is mode {stat.S_IMODE(os.stat(blocked).st_mode):04o}; choose "
            "another [spawner] homes_root"
        )
    home = homes_root / name
    home.mkdir(exist_ok=True)
    if home.is_symlink() or not home.is_dir():
        raise IsolationError(f"{home} is not a folder")
    os.chown(home, uid, gid)
    os.chmod(home, 0o700)
    return home


def check_runnable(python: str, uid: int, gid: int, home: Path, env: dict[str, str]) -> None:
    """The servers' users can run the server's interpreter and import what it needs."""
    code = "import jupyterhub.singleuser, nbgrader, gradehub.hub.singleuser"
    result: subprocess.CompletedProcess[str] | None
    try:
        result = subprocess.run(
            [python, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=str(home),
            env={k: v for k, v in env.items() if k in ("PATH", "LANG", "HOME", "PYTHONPATH")},
            preexec_fn=drop_privileges(uid, gid, str(home)),
        )
    except OSError as exc:
        result = None
        detail = str(exc)
    else:
        detail = ((result.stderr or "").strip().splitlines()[-1:] or [""])[0]
    if result is None or result.returncode != 0:
        blocked = blocked_ancestor(Path(python))
        hint = (
            f"; {blocked} is not traversable by others (mode "
            f"{stat.S_IMODE(os.stat(blocked).st_mode):04o}): give it o+x or install the environment "
            "elsewhere"
            if blocked
            else ""
        )
        raise IsolationError(f"the servers' OS users cannot run {python} ({detail}){hint}")


def drop_privileges(uid: int, gid: int, home: str):
    """A ``preexec_fn``: no supplementary groups, the user's gid and uid, a private umask, cd home."""

    def preexec():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        if os.getuid() != uid or os.geteuid() != uid or os.getgid() != gid:
            os._exit(121)
        os.umask(0o077)
        os.chdir(home)

    return preexec


def _no_others(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        return False
    os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o007)
    return True


def lock_down(course, state_dir: Path, exchange_dir: Path | None, gradebook: str | None) -> list[Path]:
    """Take every permission of "others" from the hub's and the course's private state; returns
    what was changed. Folders that do not exist yet are created private."""
    root = Path(course.root)
    done = []
    for folder in (
        state_dir,
        root / ".gradehub",
        root / "submitted",
        root / "autograded",
        root / "feedback",
        exchange_dir,
    ):
        if folder is None:
            continue
        Path(folder).mkdir(parents=True, exist_ok=True)
        if _no_others(Path(folder)):
            done.append(Path(folder))
    for path in (root / "source", root / "reports", course.roster_path, root / "nbgrader_config.py"):
        if _no_others(path):
            done.append(path)
    if gradebook and gradebook.startswith("sqlite:///"):
        db = Path(gradebook[len("sqlite:///") :])
        for path in (db, *(db.with_name(db.name + s) for s in ("-journal", "-wal", "-shm"))):
            if _no_others(path):
                done.append(path)
    return done
