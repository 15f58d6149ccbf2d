"""Wrong answers and correct alternatives of a sheet, run in ONE kernel per sheet and shared.

``test_mutants.py`` (wrong answers must lose points) and ``test_alternatives.py`` (correct
alternatives must keep full marks) ask about the same sheets; running both sets together
halves the sheet executions of the suite.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util

from conftest import REPO
from gradehub.authoring import MutantResult, check_mutants
from gradehub.course import load_course

MUTANT_DIR = REPO / "grader_tests" / "mutants"
ALTERNATIVE_DIR = REPO / "grader_tests" / "alternatives"
COURSE = load_course(REPO)


def load(kind: str, assignment: str) -> dict[str, list[str]]:
    """``MUTANTS`` or ``ALTERNATIVES`` of ``grader_tests/<kind>/<assignment>.py`` ({} when absent)."""
    folder = MUTANT_DIR if kind == "mutants" else ALTERNATIVE_DIR
    path = folder / f"{assignment}.py"
    if not path.exists():
        return {}
    spec = importlib.util.spec_from_file_location(f"{kind}_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MUTANTS if kind == "mutants" else module.ALTERNATIVES


@functools.lru_cache(maxsize=None)
def probe(assignment: str) -> tuple[list[MutantResult], list[MutantResult]]:
    """(results of the wrong answers, results of the correct alternatives) of one sheet."""
    mutants, alternatives = load("mutants", assignment), load("alternatives", assignment)
    merged = {task: mutants.get(task, []) + alternatives.get(task, []) for task in {*mutants, *alternatives}}
    wrong, right = [], []
    for r in check_mutants(COURSE, assignment, merged):
        n_wrong = len(mutants.get(r.task, []))
        if r.index < n_wrong:
            wrong.append(r)
        else:
            right.append(dataclasses.replace(r, index=r.index - n_wrong))
    return wrong, right
