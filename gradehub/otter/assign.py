"""What otter makes of an assignment, read into one shape: :class:`OtterAssignment`.

Two ways in:

- :func:`assign_master`: an ``otter assign`` master notebook, run through otter's own assign step
  (``python -m otter assign --no-run-tests --no-pdfs``): the student notebook (public tests in its
  metadata), the autograder notebook (solutions) and ``autograder.zip`` (every test, hidden
  cases included, and ``otter_config.json``);
- :func:`read_graded_form`: otter's graded form, as ``otter grade -a`` takes it: a student
  notebook and a ``tests/`` directory of test files or an ``autograder.zip``.

What gradehub does not do is refused here, by name, with the reason (:class:`OtterUnsupported`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml
from nbformat import NotebookNode

from .build import check_question_name
from .tests import OtterTestError, Question, metadata_questions, read_autograder_zip, read_tests_dir

# otter_config.json / ASSIGNMENT CONFIG keys gradehub grades the same way without doing anything
_HARMLESS_CONFIG = {
    "name",
    "assignment_name",
    "generate",
    "export_cell",
    "check_all_cell",
    "init_cell",
    "run_tests",
    "solutions_pdf",
    "template_pdf",
    "save_environment",
    "ignore_modules",
    "files",
    "student_files",
    "environment",
    "requirements",
    "overwrite_requirements",
    "python_version",
    "pdf",
    "lang",
    "tests",
    "show_question_points",
    "points_possible",
    "zips",
    "debug",
    "autograder_dir",
    "channel_priority_strict",
    "exclude_conda_defaults",
    "variables",
    "token",
    "course_id",
    "assignment_id",
    "filtering",
    "pagebreaks",
    "show_stdout",
    "show_hidden",
    "show_all_public",
    "force_public_test_summary",
    "print_score",
    "grade_from_log",
    "serialized_variables",
    "warn_missing_pdf",
    "submission_path",
    "seed_variable",
    "zip_enabled",
    "log_level",
    "notebook",
}


class OtterUnsupported(ValueError):
    """Something in the otter material gradehub cannot grade; the message says what and why."""


@dataclass
class OtterAssignment:
    """An otter assignment as gradehub takes it."""

    name: str  # the notebook's file stem
    student: NotebookNode  # what students get (public tests in its metadata or in tests/)
    base: NotebookNode  # what the reference run executes (the solutions, where known)
    questions: dict[str, Question]
    has_solution: bool
    files: dict[str, Path] = field(default_factory=dict)  # release-relative path -> file to copy
    notes: list[str] = field(default_factory=list)


def _check_config(config: dict, origin: str) -> None:
    seed = config.get("seed")
    if (seed.get("autograder_value") is not None) if isinstance(seed, dict) else (seed is not None):
        raise OtterUnsupported(
            f"{origin}: `seed` is not supported: otter re-seeds every cell of a submission before it "
            "runs, gradehub runs the student's cells as they are (seed in the notebook instead)"
        )
    if config.get("student_files"):
        raise OtterUnsupported(
            f"{origin}: `student_files` is not supported: gradehub grades the submitted notebook only"
        )
    if config.get("plugins"):
        raise OtterUnsupported(f"{origin}: otter plugins are not supported (they run inside otter's grading)")
    if config.get("runs_on") not in (None, "default", "local"):
        raise OtterUnsupported(f"{origin}: runs_on={config['runs_on']!r} is not supported")
    if config.get("lang") not in (None, "python"):
        raise OtterUnsupported(f"{origin}: only Python assignments are supported, not {config['lang']!r}")


def master_config(master: NotebookNode) -> tuple[dict, list[dict]]:
    """The ``# ASSIGNMENT CONFIG`` and every ``# BEGIN QUESTION`` block of a master notebook."""
    config: dict = {}
    questions: list[dict] = []
    for cell in master.cells:
        if cell.cell_type != "raw":
            continue
        text = cell.source.strip()
        head, _, rest = text.partition("\n")
        try:
            if head.strip().upper() == "# ASSIGNMENT CONFIG":
                config = yaml.safe_load(rest) or {}
            elif head.strip().upper() == "# BEGIN QUESTION":
                questions.append(yaml.safe_load(rest) or {})
        except yaml.YAMLError as exc:
            raise OtterUnsupported(f"a config block of the master notebook is not valid YAML: {exc}") from None
    return (config if isinstance(config, dict) else {}), [q for q in questions if isinstance(q, dict)]


def is_otter_master(nb: Any) -> bool:
    """True for an otter master notebook (otter's v1 format: raw config / question cells)."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "raw":
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else str(src)
            if src.strip().upper().startswith(("# ASSIGNMENT CONFIG", "# BEGIN QUESTION")):
                return True
    return False


def check_master(master: NotebookNode, origin: str) -> list[str]:
    """Refuse what gradehub does not grade; the notes for what it grades differently."""
    if not is_otter_master(master):
        raise OtterUnsupported(
            f"{origin} is not an otter master notebook (no raw `# ASSIGNMENT CONFIG` or "
            "`# BEGIN QUESTION` cell; otter's old v0 format is not supported)"
        )
    config, questions = master_config(master)
    _check_config(config, origin)
    if isinstance(config.get("tests"), dict) and config["tests"].get("ok_format") is False:
        notes = ["tests are otter exception tests: they run in the student's kernel and are reported unverified"]
    else:
        notes = []
    for q in questions:
        name = str(q.get("name", ""))
        try:
            check_question_name(name)
        except ValueError as exc:
            raise OtterUnsupported(f"{origin}: {exc}") from None
        if q.get("manual"):
            raise OtterUnsupported(
                f"{origin}: question {name!r} is manually graded (`manual: true`); gradehub grades otter's "
                "autograded questions only: write free-response questions as nbgrader cells in another sheet"
            )
    return notes


def _otter(*args: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "otter", *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise OtterUnsupported("otter assign failed:\n" + "\n".join(tail))


def assign_master(master_path: Path) -> OtterAssignment:
    """Run otter's assign step on a master notebook (in a scratch copy of its folder)."""
    master = nbformat.read(master_path, as_version=4)
    notes = check_master(master, master_path.name)
    scratch = Path(tempfile.mkdtemp(prefix="gradehub-otter-"))
    try:
        work = scratch / "src"
        shutil.copytree(
            master_path.parent, work, ignore=shutil.ignore_patterns("autograder", ".ipynb_checkpoints", "dist")
        )
        _otter("assign", "--no-run-tests", "--no-pdfs", master_path.name, str(scratch / "dist"), cwd=work)
        dist = scratch / "dist"
        student = nbformat.read(dist / "student" / master_path.name, as_version=4)
        base = nbformat.read(dist / "autograder" / master_path.name, as_version=4)
        zips = sorted((dist / "autograder").glob("*.zip"))
        if not zips:
            raise OtterUnsupported("otter assign made no autograder zip (set `generate: true` or leave it out)")
        questions, config = read_autograder_zip(zips[-1], scratch / "zip")
        _check_config(config, "otter_config.json")
        keep = scratch / "keep"
        files = {}
        for path in sorted((dist / "student").rglob("*")):
            rel = path.relative_to(dist / "student")
            if path.is_file() and path.name != master_path.name and ".ipynb_checkpoints" not in rel.parts:
                (keep / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, keep / rel)
                files[str(rel)] = keep / rel
        for name in questions:
            check_question_name(name)
        return OtterAssignment(master_path.stem, student, base, questions, True, files, notes)
    except OtterTestError as exc:
        raise OtterUnsupported(str(exc)) from None


def read_graded_form(notebook_path: Path, tests_path: Path) -> OtterAssignment:
    """otter's graded form: a student notebook and a ``tests/`` directory or ``autograder.zip``."""
    student = nbformat.read(notebook_path, as_version=4)
    scratch = Path(tempfile.mkdtemp(prefix="gradehub-otter-"))
    try:
        if tests_path.is_dir():
            questions = read_tests_dir(tests_path)
            config: dict = {}
            cfg = tests_path.parent / "otter_config.json"
            if cfg.is_file():
                config = json.loads(cfg.read_text(encoding="utf-8"))
        elif tests_path.suffix == ".zip":
            questions, config = read_autograder_zip(tests_path, scratch / "zip")
        else:
            raise OtterUnsupported(f"{tests_path}: expected a tests/ directory or an autograder .zip")
        _check_config(config, "otter_config.json")
    except OtterTestError as exc:
        raise OtterUnsupported(str(exc)) from None
    for name in questions:
        try:
            check_question_name(name)
        except ValueError as exc:
            raise OtterUnsupported(str(exc)) from None
    public_in_metadata = metadata_questions(student)
    notes = ["no solution: the reference run cannot check the tests (graded form has none)"]
    files: dict[str, Path] = {}
    if not public_in_metadata:
        tests_dir = scratch / "public-tests"
        tests_dir.mkdir(parents=True)
        for name, question in questions.items():
            if question.in_kernel is None:
                (tests_dir / f"{name}.py").write_text(question.public_test_file(), encoding="utf-8")
                files[f"tests/{name}.py"] = tests_dir / f"{name}.py"
    return OtterAssignment(notebook_path.stem, student, student, questions, False, files, notes)
