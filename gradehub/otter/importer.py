"""``gradehub import-otter``: bring an otter assignment into the course root.

From a master notebook: checked (:func:`gradehub.otter.assign.check_master`), copied with the
files its ``files:`` config names to ``source/<a>/``, listed in course.toml as
``format = "otter"`` when it is not there yet, and released.

From otter's graded form (a student notebook and ``tests/`` or ``autograder.zip``): there is no
master to release from, so the release and the grading notebook are written directly, with a
note in ``source/<a>/autograder/IMPORTED.json``; import again to change it.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..course import OTTER_GRADING_DIR, Course, CourseError, load_course
from .assign import OtterUnsupported, check_master, master_config, read_graded_form
from .release import register, release_otter, write_assignment

IMPORTED_MARKER = "IMPORTED.json"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class ImportResult:
    assignment: str
    questions: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    added_to_course_toml: bool = False


def _ensure_listed(course: Course, assignment: str) -> tuple[Course, bool]:
    found = next((a for a in course.assignments if a.id == assignment), None)
    if found is not None:
        if found.format != "otter":
            raise CourseError(
                f'course.toml: assignment {assignment!r} exists; give it format = "otter" to import into it'
            )
        return course, False
    toml = course.root / "course.toml"
    text = toml.read_text(encoding="utf-8")
    text += f'\n[[assignment]]\nid = "{assignment}"\ntitle = "{assignment} (otter)"\nformat = "otter"\n'
    toml.write_text(text, encoding="utf-8")
    return load_course(course.root), True


def import_master(course: Course, master: Path, assignment: str) -> ImportResult:
    if not _ID.match(assignment):
        raise CourseError(f"{assignment!r} is not a valid assignment id")
    if not master.is_file():
        raise CourseError(f"{master} does not exist")
    nb = nbformat.read(master, as_version=4)
    notes = check_master(nb, master.name)
    config, _ = master_config(nb)
    target = course.source_dir(assignment)
    if target.exists() and any(target.glob("*.ipynb")) and not (target / master.name).is_file():
        raise CourseError(f"source/{assignment}/ already holds another notebook")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(master, target / master.name)
    for rel in config.get("files") or []:
        src = (master.parent / str(rel)).resolve()
        if master.parent.resolve() not in src.parents:
            raise OtterUnsupported(f"files: {rel!r} is outside the master notebook's folder")
        dst = target / str(rel)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        elif src.is_file():
            shutil.copyfile(src, dst)
        else:
            raise OtterUnsupported(f"files: {rel!r} does not exist next to {master.name}")
    course, added = _ensure_listed(course, assignment)
    released = release_otter(course, assignment)
    return ImportResult(assignment, released.questions, notes + released.notes, added)


def import_graded(course: Course, notebook: Path, tests: Path, assignment: str) -> ImportResult:
    if not _ID.match(assignment):
        raise CourseError(f"{assignment!r} is not a valid assignment id")
    for path in (notebook, tests):
        if not path.exists():
            raise CourseError(f"{path} does not exist")
    made = read_graded_form(notebook, tests)
    if course.source_dir(assignment).is_dir() and any(course.source_dir(assignment).glob("*.ipynb")):
        raise CourseError(f"source/{assignment}/ holds a master notebook; release it instead")
    course, added = _ensure_listed(course, assignment)
    write_assignment(course, assignment, [made])
    marker = course.source_dir(assignment) / OTTER_GRADING_DIR / IMPORTED_MARKER
    marker.write_text(
        json.dumps({"from": "otter graded form", "notebook": notebook.name, "tests": tests.name}, indent=1),
        encoding="utf-8",
    )
    register(course, assignment)
    return ImportResult(assignment, {n: q.points for n, q in made.questions.items()}, made.notes, added)
