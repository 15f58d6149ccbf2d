"""Sheets converted to per-student variants (issue 17): week06 (your own oscillator) and week12
(your own signal strength and background).

For each, the first wrong answer of the sheet's data-dependent task in ``grader_tests/mutants/``
is the *right* method applied to another student's data (the public preview variant 1, while the
sheet runs on variant 0): it must lose exactly the points that depend on the student's data and
nothing else. The runs are the ones ``test_mutants.py`` makes anyway (``sheetprobes.probe`` runs
every sheet once per session), so these checks cost no extra notebook execution.
"""

import nbformat
import pytest

import sheetprobes
from gradehub.metadata import nbgrader_meta
from gradehub.variants import assignment_specs, preview_seed

# sheet -> (the task whose answers are the student's own numbers, its test cells)
DATA_TASKS = {"week06": ("measurement", ["measurement_tests"]), "week12": ("measurement", ["measurement_tests"])}


def _points(assignment: str, grade_ids: list[str]) -> float:
    source = nbformat.read(sheetprobes.COURSE.source_dir(assignment) / f"{assignment}.ipynb", as_version=4)
    metas = [nbgrader_meta(c) or {} for c in source.cells]
    return sum(float(m.get("points") or 0) for m in metas if m.get("grade_id") in grade_ids)


@pytest.mark.parametrize("assignment", sorted(DATA_TASKS))
def test_the_sheet_has_a_variant_cell_and_the_neighbour_mutant_uses_another_variant(assignment):
    specs = assignment_specs(sheetprobes.COURSE, assignment)
    assert list(specs) == [assignment]
    task, tests = DATA_TASKS[assignment]
    neighbour = sheetprobes.load("mutants", assignment)[task][0]
    other = specs[assignment].draw(preview_seed(1))
    assert str(other.seed) in neighbour and other.seed != specs[assignment].draw(preview_seed(0)).seed
    assert _points(assignment, tests) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(DATA_TASKS))
def test_a_right_answer_for_another_variant_loses_the_data_dependent_points(assignment):
    task, tests = DATA_TASKS[assignment]
    wrong, right = sheetprobes.probe(assignment)
    neighbour = next(r for r in wrong if r.task == task and r.index == 0)
    assert neighbour.caught, "another student's right numbers pass on this student's variant"
    assert neighbour.lost_points == _points(assignment, tests), neighbour.detail
    assert all(f"`{gid}`" in neighbour.detail for gid in tests)
    # ... while the same method on the student's own data keeps them (typed or computed)
    own = [r for r in right if r.task == task]
    assert own and not any(r.caught for r in own), [r.detail for r in own if r.caught]
