"""The embedded default exchange: nbgrader's file exchange under ``<course root>/exchange``.

Instructors publish with :func:`publish` (nbgrader's release_assignment) and collect with
:func:`collect` (nbgrader's collect). :func:`submit` writes a submission exactly as nbgrader's
``ExchangeSubmit`` lays it out (``inbound/<student>+<assignment>+<timestamp>+<random>``), for
tools that submit on a student's behalf (the demo, tests, LMS imports) with a given time.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import shutil
from typing import Any, ClassVar
from pathlib import Path

from .course import Course, CourseError, is_valid_id, load_nbgrader_config
from .gradebook import ensure_tools_on_path, open_gradebook, sync_roster
from .variants import VariantError, personalize, student_variants

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


def personalized_notebook(course: Course, student: str, assignment: str, name: str, data: bytes) -> bytes:
    """A released notebook as ``student`` receives it: their variant written into its variant cell
    (the bytes unchanged for a sheet without variants). Used by every fetch (this module, the hub's
    exchange service)."""
    import nbformat

    variants = student_variants(course, student, assignment)
    if name not in variants:
        return data
    nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    return nbformat.writes(personalize(nb, variants[name])).encode("utf-8") + b"\n"


def fetch(course: Course, student: str, assignment: str, dest: Path) -> Path:
    """``student``'s copy of the released ``assignment`` in ``dest/<assignment>`` (their variant
    written in): the local exchange's fetch, for instructors who hand out files themselves and for
    tools that work on a student's behalf (the demo, tests)."""
    if not is_valid_id(student) or "+" in student:
        raise CourseError(f"{student!r} is not a valid student id")
    course.assignment(assignment)
    released = course.release_dir(assignment)
    if not released.is_dir():
        raise CourseError(f"release/{assignment} does not exist; run `gradehub release {assignment}`")
    target = dest / assignment
    if target.exists():
        raise CourseError(f"{target} exists already; fetch into an empty folder")
    shutil.copytree(released, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    try:
        for path in sorted(target.glob("*.ipynb")):
            path.write_bytes(personalized_notebook(course, student, assignment, path.stem, path.read_bytes()))
    except VariantError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise CourseError(str(exc)) from None
    return target


def submit(course: Course, student: str, assignment: str, files: Path, when: dt.datetime) -> Path:
    """Place ``files`` (a folder) in the inbound exchange as ``student``'s submission at ``when``."""
    if not is_valid_id(student) or "+" in student:
        raise CourseError(f"{student!r} is not a valid student id")
    stamp = when.astimezone(dt.UTC).strftime(TIMESTAMP_FORMAT)
    suffix = base64.urlsafe_b64encode(os.urandom(9)).decode("ascii")
    dest = exchange_root(course) / course.id / "inbound" / f"{student}+{assignment}+{stamp}+{suffix}"
    shutil.copytree(files, dest)
    (dest / "timestamp.txt").write_text(stamp, encoding="utf-8")
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
