"""Who may log in to the hub, by role, and their passwords.

* :func:`build_accounts`: students from the roster (passed in, never read here), tutors from
  ``course.toml``'s ``[tutors]``, instructors and the demo accounts from the hub settings;
* :func:`hub_groups`: JupyterHub's groups for them (``students``, ``students-<G>``, ...);
* :func:`ensure_accounts`: a salted PBKDF2 password for every account that has none yet
  (``accounts.json``, mode 0600; new passwords once in ``new-passwords.csv``), idempotent;
* :class:`gradehub.hub.auth.CoursePasswordAuthenticator` logs in against that file.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..course import Course, Student
from .settings import HubSettings, HubSettingsError

PBKDF2_ITERATIONS = 200_000

GROUP_STUDENTS = "students"
GROUP_TUTORS = "tutors"
GROUP_INSTRUCTORS = "instructors"

DEMO_STUDENT = "demo-student"
DEMO_TUTOR = "demo-tutor"
DEMO_INSTRUCTOR = "demo-instructor"


@dataclass(frozen=True)
class Accounts:
    """Who the hub knows, by role. Tutors and students are keyed by roster group."""

    students: dict[str, tuple[str, ...]]  # group -> student ids
    tutors: dict[str, tuple[str, ...]]  # group -> tutor accounts
    instructors: tuple[str, ...]
    demo: dict[str, str] = field(default_factory=dict)  # role -> demo account name

    @property
    def all_students(self) -> list[str]:
        return sorted({s for group in self.students.values() for s in group})

    @property
    def all_tutors(self) -> list[str]:
        return sorted({t for group in self.tutors.values() for t in group})

    @property
    def usernames(self) -> list[str]:
        return sorted({*self.all_students, *self.all_tutors, *self.instructors})

    def role_of(self, username: str) -> str | None:
        if username in self.instructors:
            return "instructor"
        if username in self.all_tutors:
            return "tutor"
        if username in self.all_students:
            return "student"
        return None


def build_accounts(course: Course, roster: list[Student], settings: HubSettings) -> Accounts:
    """Students from the roster, tutors from course.toml ``[tutors]``, instructors from settings."""
    students: dict[str, list[str]] = {}
    for s in roster:
        students.setdefault(s.group or "_", []).append(s.id)
    tutors = {g: list(names) for g, names in course.tutors.items()}
    instructors = list(settings.accounts.instructors)
    demo: dict[str, str] = {}
    if settings.accounts.demo:
        group = demo_group(course, roster, settings)
        students.setdefault(group, []).append(DEMO_STUDENT)
        tutors.setdefault(group, []).append(DEMO_TUTOR)
        instructors.append(DEMO_INSTRUCTOR)
        demo = {"student": DEMO_STUDENT, "tutor": DEMO_TUTOR, "instructor": DEMO_INSTRUCTOR}
    accounts = Accounts(
        students={g: tuple(sorted(set(v))) for g, v in sorted(students.items())},
        tutors={g: tuple(sorted(set(v))) for g, v in sorted(tutors.items())},
        instructors=tuple(sorted(set(instructors))),
        demo=demo,
    )
    clash = set(accounts.all_students) & (set(accounts.all_tutors) | set(accounts.instructors))
    if clash:
        raise HubSettingsError(f"account(s) {', '.join(sorted(clash))} are both students and staff")
    return accounts


def demo_group(course: Course, roster: list[Student], settings: HubSettings) -> str:
    """The roster group of the demo student and tutor: ``demo_group``, else the first group."""
    groups = sorted({s.group or "_" for s in roster if s.id != DEMO_STUDENT})
    return settings.accounts.demo_group or (
        groups[0] if groups else (sorted(course.tutors)[0] if course.tutors else "A")
    )


def ensure_demo_student_on_roster(course: Course, settings: HubSettings) -> str | None:
    """``demo-student`` on the roster, in the demo tutor's group, while the demo accounts are on.

    On the roster, the demo student is a student like any other: the demo tutor grades them in
    the grading service, the instructor can move them, the report and the grades page list them.
    With the demo accounts off, the line is taken out again. Returns what changed (None: nothing).
    """
    path = course.roster_path
    rows = _roster_rows(path)
    header, body = (rows[0], rows[1:]) if rows else (["id", "first_name", "last_name", "email", "group"], [])
    id_col = header.index("id") if "id" in header else 0
    present = [r for r in body if r and r[id_col].strip() == DEMO_STUDENT]
    if settings.accounts.demo:
        if present:
            return None
        roster = course.roster() if path.is_file() else []
        group = demo_group(course, roster, settings)
        values = {"id": DEMO_STUDENT, "first_name": "Demo", "last_name": "Student", "email": "", "group": group}
        body.append([values.get(col, "") for col in header])
        _write_roster(path, header, body)
        return (
            f"{DEMO_STUDENT} added to {path.name} (group {group}, the demo tutor's); "
            "it leaves with [accounts] demo = false"
        )
    if not present:
        return None
    _write_roster(path, header, [r for r in body if not (r and r[id_col].strip() == DEMO_STUDENT)])
    return f"{DEMO_STUDENT} taken off {path.name} (the demo accounts are off)"


def _roster_rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return [row for row in csv.reader(fh)]


def _write_roster(path: Path, header: list[str], body: list[list[str]]) -> None:
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(body)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    if path.is_file():
        os.chmod(tmp, path.stat().st_mode & 0o777)
    os.replace(tmp, path)


def hub_groups(accounts: Accounts) -> dict[str, dict[str, Any]]:
    """``JupyterHub.load_groups``: one group per role and one per roster group and role."""
    groups: dict[str, dict[str, Any]] = {
        GROUP_STUDENTS: {"users": accounts.all_students, "properties": {"gradehub_role": "student"}},
        GROUP_TUTORS: {"users": accounts.all_tutors, "properties": {"gradehub_role": "tutor"}},
        GROUP_INSTRUCTORS: {"users": list(accounts.instructors), "properties": {"gradehub_role": "instructor"}},
    }
    for group, members in accounts.students.items():
        groups[f"students-{group}"] = {
            "users": list(members),
            "properties": {"gradehub_role": "student", "roster_group": group},
        }
    for group, members in accounts.tutors.items():
        groups[f"tutors-{group}"] = {
            "users": list(members),
            "properties": {"gradehub_role": "tutor", "roster_group": group},
        }
    return groups


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


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (mode 0600), atomically."""
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
    demo: dict[str, tuple[str, str]] = field(default_factory=dict)  # role -> (name, password)
    created: dict[str, str] = field(default_factory=dict)  # name -> new password
    removed: list[str] = field(default_factory=list)  # no longer on the roster


def ensure_accounts(
    accounts: Accounts, state_dir: Path, *, demo_passwords: dict[str, str] | None = None
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
        del stored[name]  # left the roster: cannot log in any more (their files stay)
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
    write_private(path, json.dumps(stored, indent=1, sort_keys=True))
    if demo_names:
        write_private(demo_path, json.dumps(demo_plain, indent=1, sort_keys=True))
    for role, name in accounts.demo.items():
        changes.demo[role] = (name, demo_plain.get(name, ""))
    if changes.created:
        new_file = state_dir / "new-passwords.csv"
        rows = []
        if new_file.is_file():
            rows = list(csv.reader(new_file.read_text(encoding="utf-8").splitlines()))[1:]
        rows += [[name, pw] for name, pw in sorted(changes.created.items())]
        lines = ["account,password"] + [",".join(r) for r in rows]
        write_private(new_file, "\n".join(lines) + "\n")
    return changes
