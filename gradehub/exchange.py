"""The embedded default exchange: nbgrader's file exchange under ``<course root>/exchange``.

Instructors publish with :func:`publish` (nbgrader's release_assignment), collect with
:func:`collect` (nbgrader's collect) and give out feedback with :func:`release_feedback`.
:func:`submit` writes a submission exactly as nbgrader's ``ExchangeSubmit`` lays it out
(``inbound/<student>+<assignment>+<timestamp>+<random>`` with ``timestamp.txt`` and
``submission_secret.txt``), for tools that submit on a student's behalf (the demo, tests, LMS
imports) with a given time.

Feedback, as nbgrader 0.9's ``fetch_feedback`` (and the hub's exchange service,
:mod:`gradehub.hub.exchange.store`) look for it: ``<exchange>/<course>/feedback/<hash>.html``
where ``<hash>`` is ``nbgrader.utils.notebook_hash(secret=<submission_secret.txt>,
notebook_id=<notebook>)`` of the submission the feedback is for, one file per notebook of the
submission; a submission without a secret (older nbgrader) is found by the legacy hash of its
notebook and ``make_unique_key(course, assignment, notebook, student, timestamp)``. The student's
Assignment List (*Fetch Feedback*) then writes ``<assignment>/feedback/<timestamp>/<notebook>.html``.
nbgrader's own ``release_feedback`` copies whatever HTML is in ``feedback/<student>/<assignment>/``
(nbgrader's feedback shows hidden tests); :func:`release_feedback` publishes only gradehub's page.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import os
import secrets
import shutil
from dataclasses import dataclass, field
from typing import Any, ClassVar
from pathlib import Path

from .course import Course, CourseError, is_valid_id, load_nbgrader_config
from .extensions import default_granter
from .gradebook import (
    FeedbackRelease,
    ensure_tools_on_path,
    feedback_releases,
    gradebook_engine,
    open_gradebook,
    read_status,
    record_feedback_release,
    sync_roster,
)
from .gradebook.releases import now_iso

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"


def _api(course: Course):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    ensure_tools_on_path()
    config = load_nbgrader_config(course.root)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    api.log.setLevel(logging.WARNING)
    return api


def exchange_root(course: Course) -> Path:
    config = load_nbgrader_config(course.root)
    root = config.Exchange.get("root") if "root" in config.Exchange else None
    return Path(root or "/usr/local/share/nbgrader/exchange")


def publish(course: Course, assignment: str) -> Path:
    """Copy release/<assignment> into the exchange's outbound folder."""
    course.assignment(assignment)
    root = exchange_root(course)
    (root / course.id / "inbound").mkdir(parents=True, exist_ok=True)
    (root / course.id / "outbound").mkdir(parents=True, exist_ok=True)
    # nbgrader's exchange layout: students write into inbound without listing it, read outbound
    os.chmod(root / course.id / "inbound", 0o733)  # noqa: S103
    os.chmod(root / course.id / "outbound", 0o755)  # noqa: S103
    result = _api(course).release_assignment(assignment)
    if not result.get("success"):
        raise CourseError(f"could not publish {assignment}: {(result.get('log') or '') + (result.get('error') or '')}")
    return root / course.id / "outbound" / assignment


def submit(course: Course, student: str, assignment: str, files: Path, when: dt.datetime) -> Path:
    """Place ``files`` (a folder) in the inbound exchange as ``student``'s submission at ``when``."""
    if not is_valid_id(student) or "+" in student:
        raise CourseError(f"{student!r} is not a valid student id")
    stamp = when.astimezone(dt.UTC).strftime(TIMESTAMP_FORMAT)
    suffix = base64.urlsafe_b64encode(os.urandom(9)).decode("ascii")
    dest = exchange_root(course) / course.id / "inbound" / f"{student}+{assignment}+{stamp}+{suffix}"
    shutil.copytree(files, dest)
    (dest / "timestamp.txt").write_text(stamp, encoding="utf-8")
    # as nbgrader's submit: the secret names this submission's feedback in the exchange
    (dest / "submission_secret.txt").write_text(secrets.token_hex(64), encoding="utf-8")
    return dest


def staff_accounts(course: Course) -> set[str]:
    """Tutors (``[tutors]``), instructors (hub settings) and the demo staff accounts: their
    submissions are tries of the platform, not students' work. Roster students are never staff."""
    from .hub.accounts import DEMO_INSTRUCTOR, DEMO_TUTOR
    from .hub.settings import load_settings, settings_path

    staff = {name for names in course.tutors.values() for name in names}
    try:
        accounts = load_settings(settings_path(course.root)).accounts
        staff |= set(accounts.instructors) | ({DEMO_TUTOR, DEMO_INSTRUCTOR} if accounts.demo else set())
    except CourseError:
        staff |= {DEMO_TUTOR, DEMO_INSTRUCTOR}
    if course.roster_path.is_file():
        staff -= {s.id for s in course.roster()}
    return staff


def _students_only_collect(staff: set[str]):
    """nbgrader's collect, leaving out the submissions of ``staff``."""
    from nbgrader.exchange.default import ExchangeCollect

    class StudentsOnlyCollect(ExchangeCollect):
        skipped: ClassVar[list[str]] = []
        src_records: list[dict[str, Any]]  # set by nbgrader's init_src

        def init_src(self):
            super().init_src()
            kept = [r for r in self.src_records if r["username"] not in staff]
            type(self).skipped = sorted({r["username"] for r in self.src_records} - {r["username"] for r in kept})
            for name in type(self).skipped:
                self.log.warning("not collected: %s is a staff account (tutor or instructor)", name)
            self.src_records = kept

    return StudentsOnlyCollect


def collect(course: Course, assignment: str) -> list[str]:
    """nbgrader collect (newest submission per student) into ``submitted/``; returns students.

    Staff accounts' submissions (:func:`staff_accounts`) stay in the exchange, uncollected.
    """
    course.assignment(assignment)
    with open_gradebook(course) as gb:
        if course.roster_path.is_file():
            sync_roster(gb, course)
    inbound = exchange_root(course) / course.id / "inbound"
    if not inbound.is_dir():
        raise CourseError(f"the exchange has no inbound folder at {inbound}; publish the assignment first")
    api = _api(course)
    api.exchange.collect = _students_only_collect(staff_accounts(course))
    result = api.collect(assignment, update=True)
    if not result.get("success"):
        raise CourseError(f"nbgrader collect failed: {(result.get('log') or '') + (result.get('error') or '')}")
    submitted = course.submitted_dir()
    return sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir()) if submitted.is_dir() else []


# ----------------------------------------------------------------------------- feedback


SECRET_FILE = "submission_secret.txt"  # noqa: S105 - a file name, not a secret
_SMALL_FILE = 4096  # timestamp.txt and submission_secret.txt are far below this


@dataclass
class FeedbackReleaseRun:
    """What :func:`release_feedback` did: one line per student, refusals as results."""

    assignment: str
    released: dict[str, list[str]] = field(default_factory=dict)  # student -> feedback files written
    removed: list[str] = field(default_factory=list)  # files of an earlier release no longer valid
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (student, why)
    with_grades: bool = False


def feedback_dir(course: Course) -> Path:
    """``<exchange>/<course>/feedback``: where nbgrader's fetch_feedback and the hub's exchange look."""
    return exchange_root(course) / course.id / "feedback"


def _read_small(path: Path) -> str | None:
    """A bookkeeping file of a submission (never a link, never large); None when absent."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _SMALL_FILE:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _same_time(stamp: str | None, iso: str | None) -> bool:
    from nbgrader.utils import parse_utc

    if not stamp or not iso:
        return False
    try:
        a = parse_utc(stamp.strip())
        b = dt.datetime.fromisoformat(iso)
    except (ValueError, OverflowError):
        return False
    a = a.replace(tzinfo=dt.UTC) if a.tzinfo is None else a
    b = b.replace(tzinfo=dt.UTC) if b.tzinfo is None else b
    return abs((a - b).total_seconds()) < 1e-3


def feedback_names(course: Course, student: str, assignment: str, submitted_at: str | None) -> dict[str, str] | str:
    """``{notebook id: "<hash>.html"}`` for the graded submission, or why there is none.

    The secret is the graded submission's: ``autograded/`` keeps a copy of it (the collected
    ``submitted/`` folder may already hold a newer submission); ``submitted/`` is used when its
    time is the graded one.
    """
    from nbgrader.utils import make_unique_key, notebook_hash

    submitted = course.submitted_dir() / student / assignment
    autograded = course.autograded_dir(student, assignment)
    same = _same_time(_read_small(submitted / "timestamp.txt"), submitted_at)
    secret = _read_small(autograded / SECRET_FILE) or (_read_small(submitted / SECRET_FILE) if same else None)
    notebooks = sorted(
        p.stem
        for folder in (autograded, submitted if same else None)
        if folder is not None and folder.is_dir() and not folder.is_symlink()
        for p in folder.glob("*.ipynb")
        if is_valid_id(p.stem) and not p.is_symlink()
    )
    notebooks = sorted(set(notebooks)) or sorted(p.stem for p in course.release_dir(assignment).glob("*.ipynb"))
    if secret:
        return {nb: notebook_hash(secret=secret, notebook_id=nb) + ".html" for nb in notebooks}
    if not same:
        return (
            "the collected submission is not the graded one (no submission_secret.txt in autograded/); "
            f"run `gradehub autograde {assignment}` first"
        )
    stamp = _read_small(submitted / "timestamp.txt") or ""
    names = {}
    for nb in notebooks:  # nbgrader's legacy naming: the notebook's bytes and a key with the timestamp
        path = submitted / f"{nb}.ipynb"
        if path.is_file() and not path.is_symlink():
            key = make_unique_key(course.id, assignment, nb, student, stamp)
            names[nb] = notebook_hash(str(path), key) + ".html"
    return names or "the submission holds no notebook"


def _write_atomic(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)  # nbgrader's file exchange: students read their own file by its secret name
    os.replace(tmp, target)


def release_feedback(
    course: Course,
    assignment: str,
    students: list[str] | None = None,
    *,
    by: str | None = None,
    frames=None,
) -> FeedbackReleaseRun:
    """Give every graded student (or ``students``) gradehub's feedback through the exchange.

    The page is written anew (:func:`gradehub.feedback.generate_feedback`, with the tutor's
    points and comments only if the grades are released) and put where *Fetch Feedback* finds
    it. Releasing again replaces it: same submission, same file names; a new submission since
    the last release gets new names and the old files are removed.
    """
    from .feedback import generate_feedback

    by = by or default_granter()
    run = generate_feedback(course, assignment, students, frames=frames, with_grades=None)
    out = FeedbackReleaseRun(assignment, skipped=list(run.skipped), with_grades=run.with_grades)
    target_dir = feedback_dir(course)
    target_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(target_dir, 0o755)  # noqa: S103 - nbgrader's layout: listable by no one but searchable
    engine = gradebook_engine(course)
    try:
        status = read_status(engine, assignment)
        previous = feedback_releases(engine, assignment)
        for page in run.written:
            student = page.parent.parent.name  # generate_feedback wrote only valid ids
            row = status.get((assignment, student))
            names = feedback_names(course, student, assignment, row.submitted_at if row else None)
            if isinstance(names, str):
                out.skipped.append((student, names))
                continue
            data = page.read_bytes()
            for name in names.values():
                _write_atomic(target_dir / name, data)
            old = previous.get((assignment, student))
            for name in sorted(set(old.files.values()) - set(names.values()) if old else ()):
                stale = target_dir / name
                if _is_feedback_name(name) and stale.is_file():
                    stale.unlink()
                    out.removed.append(name)
            record_feedback_release(
                engine,
                FeedbackRelease(
                    assignment,
                    student,
                    row.submitted_at if row else None,
                    names,
                    hashlib.sha256(data).hexdigest(),
                    run.with_grades,
                    by,
                    now_iso(),
                ),
            )
            out.released[student] = sorted(names.values())
    finally:
        engine.dispose()
    return out


def _is_feedback_name(name: str) -> bool:
    stem, dot, ext = name.partition(".")
    return ext == "html" and dot == "." and len(stem) == 32 and all(c in "0123456789abcdef" for c in stem)


def released_feedback_page(course: Course, release: FeedbackRelease) -> bytes | None:
    """The page a student was given (None when its file is gone); never a path outside the folder."""
    for name in release.files.values():
        if _is_feedback_name(name):
            path = feedback_dir(course) / name
            if path.is_file() and not path.is_symlink():
                return path.read_bytes()
    return None


def feedback_release_lines(run: FeedbackReleaseRun) -> list[str]:
    """What the CLI and the formgrader print."""
    lines = [f"released feedback for {s} ({len(files)} file(s))" for s, files in sorted(run.released.items())]
    lines += [f"removed {name} (an earlier submission's feedback)" for name in run.removed]
    lines += [f"skipped {s}: {why}" for s, why in run.skipped]
    if not run.with_grades and run.released:
        lines.append(
            f"grades of {run.assignment} are not released: the pages show the automatic tests' points only "
            f"(`gradehub grades release {run.assignment}` releases the tutors' points and comments)"
        )
    return lines
