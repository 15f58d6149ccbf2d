"""Per-student variants (issue 17): the seed, the secret, the variant cell, and grading on them.

The fast tests here use a toy sheet with a variant cell; week01's conversion is checked by
test_sheets / test_alternatives / test_mutants like every sheet.
"""

import os
import stat

import nbformat
import pytest

from gradehub.course import CourseError, load_course
from gradehub.variants import (
    Parameter,
    VariantError,
    VariantSpec,
    create_secret,
    notebook_spec,
    personalize,
    preview_seed,
    read_secret,
    render_source,
    variant_seed,
)

SPEC = VariantSpec("variant", (Parameter("TRUE_TAU", "uniform", (1.6, 2.8), 2),
                               Parameter("N_EVENTS", "integers", (800, 1200)),
                               Parameter("DETECTOR", "choice", ("silicon", "scintillator"))))


def test_seed_is_an_hmac_of_student_and_assignment():
    secret = b"a" * 64
    alice, bob = variant_seed(secret, "alice", "week01"), variant_seed(secret, "bob", "week01")
    assert alice != bob
    assert variant_seed(secret, "alice", "week01") == alice                    # stable
    assert variant_seed(secret, "alice", "week02") != alice                    # per assignment
    assert variant_seed(b"b" * 64, "alice", "week01") != alice                 # per course secret
    assert 0 <= alice < 2**63
    # no ambiguity from concatenation: (ab, c) and (a, bc) differ
    assert variant_seed(secret, "ab", "c") != variant_seed(secret, "a", "bc")


def test_parameters_are_drawn_in_range_and_stable():
    seen = set()
    for i in range(200):
        values = SPEC.draw(preview_seed(i)).parameters
        assert 1.6 <= values["TRUE_TAU"] <= 2.8 and round(values["TRUE_TAU"], 2) == values["TRUE_TAU"]
        assert 800 <= values["N_EVENTS"] <= 1200 and isinstance(values["N_EVENTS"], int)
        assert values["DETECTOR"] in ("silicon", "scintillator")
        seen.add(values["TRUE_TAU"])
    assert len(seen) > 50
    # hashing, not a library's random stream: this value holds for ever
    assert SPEC.draw(12345).parameters == SPEC.draw(12345).parameters
    # a parameter added later leaves the others as they were
    more = VariantSpec("variant", (*SPEC.parameters, Parameter("EXTRA", "integers", (1, 9))))
    assert more.draw(12345).parameters["TRUE_TAU"] == SPEC.draw(12345).parameters["TRUE_TAU"]


def _variant_cell(parameters, **nbg):
    meta = {"nbgrader": {"grade": False, "solution": False, "locked": True, "grade_id": "variant",
                         "schema_version": 3, **nbg},
            "gradehub": {"variant": {"parameters": parameters}}}
    return nbformat.v4.new_code_cell("VARIANT_SEED = 0", metadata=meta)


@pytest.mark.parametrize("parameters, words", [
    ([{"name": "import", "integers": [1, 2]}], "not a usable Python name"),
    ([{"name": "VARIANT_SEED", "integers": [1, 2]}], "not a usable Python name"),
    ([{"name": "A", "integers": [1, 2], "uniform": [1, 2]}], "exactly one of"),
    ([{"name": "A", "integers": [2, 1]}], "low < high"),
    ([{"name": "A", "integers": [1.5, 2]}], "integers"),
    ([{"name": "A", "choice": [{"x": 1}]}], "choice takes"),
    ([{"name": "A", "integers": [1, 2], "digits": 2}], "digits"),
    ([{"name": "A", "integers": [1, 2]}, {"name": "A", "choice": [1]}], "repeat a name"),
    ("TRUE_TAU", "must be a list"),
])
def test_a_bad_parameter_list_is_an_authoring_error(parameters, words):
    nb = nbformat.v4.new_notebook(cells=[_variant_cell(parameters)])
    with pytest.raises(VariantError, match=words):
        notebook_spec(nb)


def test_the_variant_cell_must_be_read_only():
    nb = nbformat.v4.new_notebook(cells=[_variant_cell([{"name": "A", "integers": [1, 2]}], solution=True)])
    with pytest.raises(VariantError, match="locked, ungraded"):
        notebook_spec(nb)


def test_personalize_writes_the_variant_and_a_matching_checksum():
    from nbgrader.utils import compute_checksum

    cell = _variant_cell([{"name": "TRUE_TAU", "uniform": [1.6, 2.8], "digits": 2}])
    cell.metadata.nbgrader["checksum"] = "stale"
    nb = nbformat.v4.new_notebook(cells=[cell])
    spec = notebook_spec(nb)
    variant = spec.draw(variant_seed(b"s" * 64, "alice", "week01"))
    mine = personalize(nb, variant)
    assert mine.cells[0].source == render_source(variant)
    assert f"VARIANT_SEED = {variant.seed}" in mine.cells[0].source
    assert mine.cells[0].metadata.nbgrader["checksum"] == compute_checksum(mine.cells[0])
    assert nb.cells[0].source == "VARIANT_SEED = 0"                     # the original is untouched
    namespace: dict = {}
    exec(mine.cells[0].source, namespace)                               # plain Python assignments
    assert namespace["VARIANT_SEED"] == variant.seed and namespace["TRUE_TAU"] == variant.parameters["TRUE_TAU"]


def _course_with_secret(root, secret_line):
    root.mkdir(parents=True, exist_ok=True)
    (root / "course.toml").write_text(f'[course]\nid = "c1"\n{secret_line}\n')
    return load_course(root)


def test_the_secret_is_created_0600_outside_the_root_and_never_replaced(tmp_path):
    course = _course_with_secret(tmp_path / "course", f'[variants]\nsecret = "{tmp_path}/keys/c1.secret"')
    with pytest.raises(VariantError, match="gradehub variants init"):
        read_secret(course)                                             # missing: says what to do
    path = create_secret(course)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    first = read_secret(course)
    with pytest.raises(VariantError, match="exists already"):
        create_secret(course)
    assert read_secret(course) == first
    os.chmod(path, 0o644)
    with pytest.raises(VariantError, match="chmod 600"):
        read_secret(course)


@pytest.mark.parametrize("line, words", [
    ('[variants]\nsecret = "{root}/secret"', "inside the course root"),
    ('[variants]\nsecret = "{root}/.gradehub/c1.secret"', "inside the course root"),
    ('[variants]\nsecret = "keys/c1.secret"', "not an absolute path"),
    ('[variants]\nsecrets = "/x"', "unknown key"),
])
def test_the_secret_may_not_live_in_the_course_root(tmp_path, line, words):
    root = tmp_path / "course"
    with pytest.raises(CourseError, match=words):
        _course_with_secret(root, line.format(root=root))


def test_the_default_secret_is_in_the_home_of_the_account(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    course = _course_with_secret(tmp_path / "course", "")
    assert course.variant_secret == tmp_path / "home" / ".gradehub" / "c1.secret"
