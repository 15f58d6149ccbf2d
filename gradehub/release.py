"""source/ → release/ through nbgrader's generate step, plus a staleness check for CI."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .course import Course, CourseError, load_nbgrader_config
from .gradebook import ensure_tools_on_path, open_gradebook, sync_assignment_dates
from .variants import VariantError, notebook_spec, personalize, preview_seed


class ReleaseError(Exception):
    """nbgrader could not generate the release; the message carries its log."""


def _api(root: Path, db: str | None = None):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = load_nbgrader_config(root)
    if db is not None:
        config.CourseDirectory.db_url = db
    coursedir = CourseDirectory(config=config)
    api = NbGraderAPI(coursedir=coursedir, config=config)
    api.log.setLevel(logging.WARNING)
    return api


def generate(course: Course, assignment: str, root: Path | None = None, db: str | None = None) -> None:
    """Run nbgrader's generate_assignment for ``assignment`` in ``root`` (the course root)."""
    ensure_tools_on_path()
    course.assignment(assignment)
    root = root or course.root
    if not (root / "source" / assignment).is_dir():
        raise CourseError(f"source/{assignment}/ does not exist")
    result = _api(root, db).generate_assignment(assignment, force=True, create=True)
    if not result.get("success"):
        log = (result.get("log") or "") + (result.get("error") or "")
        raise ReleaseError(f"nbgrader could not generate {assignment}:\n{log.strip()}")
    _write_preview_variants(root / "release" / assignment)


def _write_preview_variants(folder: Path) -> None:
    """The release's variant cells hold the public preview variant: the common release, which
    every fetch overwrites with the student's own variant (gradehub.variants)."""
    import nbformat

    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        try:
            spec = notebook_spec(nb)
        except VariantError as exc:
            raise ReleaseError(f"{path.name}: {exc}") from None
        if spec is not None:
            nbformat.write(personalize(nb, spec.draw(preview_seed(0))), path)


def release(course: Course, assignment: str) -> Path:
    """Generate ``release/<assignment>`` and sync the gradebook (cells, points, due date)."""
    generate(course, assignment)
    with open_gradebook(course) as gb:
        sync_assignment_dates(gb, course)
    return course.release_dir(assignment)


@dataclass
class StaleReport:
    assignment: str
    differences: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return bool(self.differences)


def _canonical(path: Path) -> bytes:
    if path.suffix == ".ipynb":
        try:
            return json.dumps(json.loads(path.read_text(encoding="utf-8")), sort_keys=True).encode()
        except (ValueError, UnicodeDecodeError):
            pass
    return path.read_bytes()


def _files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    return {
        str(p.relative_to(directory)): p
        for p in directory.rglob("*")
        if p.is_file() and ".ipynb_checkpoints" not in p.parts
    }


def check_release(course: Course, assignment: str) -> StaleReport:
    """Compare the committed ``release/<assignment>`` with a fresh generation in a temp root."""
    report = StaleReport(assignment)
    with tempfile.TemporaryDirectory(prefix="gradehub-release-") as tmp:
        tmp_root = Path(tmp)
        shutil.copy2(course.root / "nbgrader_config.py", tmp_root / "nbgrader_config.py")
        shutil.copytree(course.source_dir(assignment), tmp_root / "source" / assignment)
        generate(course, assignment, root=tmp_root, db=f"sqlite:///{tmp_root / 'gradebook.db'}")
        report.differences += release_differences(
            tmp_root / "release" / assignment, course.release_dir(assignment), f"release/{assignment}"
        )
    return report


def release_differences(fresh_dir: Path, committed_dir: Path, label: str) -> list[str]:
    """What differs between a fresh release folder and the committed one (notebooks compared as
    JSON, key order aside), each a line naming ``label/<file>``."""
    fresh, committed = _files(fresh_dir), _files(committed_dir)
    differences = []
    for name in sorted(set(fresh) | set(committed)):
        if name not in committed:
            differences.append(f"{label}/{name} is missing")
        elif name not in fresh:
            differences.append(f"{label}/{name} should not be there")
        elif _canonical(fresh[name]) != _canonical(committed[name]):
            differences.append(f"{label}/{name} differs from a fresh release")
    return differences
