"""The course's otter sheet (source/otter01) in a scratch course root, and submissions of it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat

from conftest import REPO

ASSIGNMENT = "otter01"
FULL = {"q1": 2.0, "q2": 3.0, "q3": 2.0}
_CHECK = re.compile(r'grader\.check\("(q\d)"\)')


def otter_course(root: Path, cell_timeout: int = 60):
    """A course root holding only otter01, its committed release registered in the gradebook."""
    from gradehub.course import load_course
    from gradehub.otter.release import register

    root.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "source" / ASSIGNMENT, root / "source" / ASSIGNMENT)
    shutil.copytree(REPO / "release" / ASSIGNMENT, root / "release" / ASSIGNMENT)
    (root / "course.toml").write_text(
        '[course]\nid = "nat3008"\ntitle = "Otter sheet"\nroster = "roster.csv"\n'
        f'[limits]\ncell_timeout = {cell_timeout}\nnotebook_timeout = 240\nmemory = "1GiB"\n'
        f'[[assignment]]\nid = "{ASSIGNMENT}"\ntitle = "Otter"\ndue = "2026-10-23T23:59:00+00:00"\nformat = "otter"\n'
    )
    (root / "roster.csv").write_text("id,first_name,last_name,email,group\n")
    course = load_course(root)
    register(course, ASSIGNMENT)  # as `gradehub release` registers it
    return course


def answer_cells(nb) -> dict[str, nbformat.NotebookNode]:
    """question -> its answer cell: the code cell before its graded check (or test) cell."""
    found = {}
    for index, cell in enumerate(nb.cells):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("grade") and gid:
            found[gid] = nb.cells[index - 1]
    return found


def release_notebook(course) -> nbformat.NotebookNode:
    return nbformat.read(course.release_dir(ASSIGNMENT) / f"{ASSIGNMENT}.ipynb", as_version=4)


def solution_answers(course) -> dict[str, str]:
    """The master's solutions, from the grading notebook (otter's autograder notebook)."""
    grading = nbformat.read(course.grading_source_dir(ASSIGNMENT) / f"{ASSIGNMENT}.ipynb", as_version=4)
    return {q: cell.source for q, cell in answer_cells(grading).items()}


def submission(release_nb, answers: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(release_nb)))
    cells = answer_cells(nb)
    for question, source in answers.items():
        cells[question].source = source
    return nb
