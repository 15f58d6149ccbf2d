"""Per-student variants (issue 17): the seed, the secret, the variant cell, and grading on them.

The fast tests here use a toy sheet with a variant cell; week01's conversion is checked by
test_sheets / test_alternatives / test_mutants like every sheet.
"""

import os
import json
import stat
import sys

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


# ----------------------------------------------------------------------------- a sheet with variants, graded

from conftest import REPO, put_submission  # noqa: E402
from gradehub.authoring import nbgrader_metadata as nbg  # noqa: E402

VARIANT_PARAMETERS = [{"name": "SCALE", "uniform": [1.0, 5.0], "digits": 2}, {"name": "N", "integers": [20, 40]}]


def variant_source() -> nbformat.NotebookNode:
    """A sheet with per-student data: mean_of() (1 point, the test's own inputs) and MY_MEAN (2
    points: the mean of the student's own data, typed or computed)."""
    variant = nbformat.v4.new_code_cell("", metadata={**nbg("variant", locked=True),
                                                      "gradehub": {"variant": {"parameters": VARIANT_PARAMETERS}}})
    cells = [
        nbformat.v4.new_markdown_cell("# Your own data", metadata=nbg("intro", locked=True)),
        variant,
        nbformat.v4.new_code_cell("import numpy as np\nfrom gradehub.testing import assert_close, record\n"
                                  "data = np.random.default_rng(VARIANT_SEED).normal(SCALE, 1.0, size=N)",
                                  metadata=nbg("setup", locked=True)),
        nbformat.v4.new_code_cell("def mean_of(x):\n    ### BEGIN SOLUTION\n    return float(np.mean(x))\n"
                                  "    ### END SOLUTION", metadata=nbg("mean", solution=True)),
        nbformat.v4.new_code_cell("assert_close(mean_of(np.array([1.0, 3.0])), 2.0)\n### BEGIN HIDDEN TESTS\n"
                                  "record('m', mean_of(np.array([2.0, 4.0, 9.0])))\n### BEGIN HOST CHECKS\n"
                                  "assert_close(got['m'], ref['m'], name='mean_of')\n### END HOST CHECKS\n"
                                  "### END HIDDEN TESTS", metadata=nbg("mean_tests", grade=True, locked=True, points=1)),
        nbformat.v4.new_code_cell("### BEGIN SOLUTION\nMY_MEAN = mean_of(data)\n### END SOLUTION",
                                  metadata=nbg("result", solution=True)),
        nbformat.v4.new_code_cell("### BEGIN HIDDEN TESTS\nrecord('my', MY_MEAN)\n### BEGIN HOST CHECKS\n"
                                  "assert_close(as_float(got['my'], 'MY_MEAN'), ref['my'], rtol=1e-3, name='MY_MEAN')\n"
                                  "### END HOST CHECKS\n### END HIDDEN TESTS",
                                  metadata=nbg("result_tests", grade=True, locked=True, points=2)),
        nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nThe mean estimates SCALE.\n### END SOLUTION",
                                      metadata=nbg("explain", grade=True, solution=True, points=1)),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    spec = notebook_spec(nb)
    variant.source = render_source(spec.draw(preview_seed(0)))     # the source holds the preview variant
    return nb


VARIANT_TOML = """
[course]
id = "varcourse"
roster = "roster.csv"

[limits]
cell_timeout = 10
notebook_timeout = 30
memory = "512MiB"

[[assignment]]
id = "var"
title = "Your own data"
due = "2026-10-23T23:59:00+00:00"

[variants]
secret = "{secret}"
"""


@pytest.fixture(scope="module")
def released_variant_course(tmp_path_factory):
    """The variant sheet, released once per module (nbgrader's generate takes seconds)."""
    from gradehub.release import release

    tmp_path = tmp_path_factory.mktemp("variants")
    root = tmp_path / "course"
    (root / "source" / "var").mkdir(parents=True)
    (root / "nbgrader_config.py").write_text((REPO / "nbgrader_config.py").read_text())
    (root / "course.toml").write_text(VARIANT_TOML.format(secret=tmp_path / "keys" / "var.secret"))
    (root / "roster.csv").write_text("id,first_name,last_name,email,group\n" + "".join(
        f"{s},{s.title()},X,{s}@x.org,A\n" for s in ("alice", "bob", "carol", "dave", "erin")))
    nbformat.write(variant_source(), root / "source" / "var" / "var.ipynb")
    course = load_course(root)
    create_secret(course)
    release(course, "var")
    return course


@pytest.fixture
def variant_course(released_variant_course, tmp_path):
    """A fresh copy of the released course (its own gradebook and state), with its own secret."""
    import shutil

    root = tmp_path / "course"
    shutil.copytree(released_variant_course.root, root)
    text = (root / "course.toml").read_text()
    (root / "course.toml").write_text(text.replace(str(released_variant_course.variant_secret),
                                                  str(tmp_path / "keys" / "var.secret")))
    course = load_course(root)
    create_secret(course)
    return course


def _fetched(course, student, tmp_path):
    from gradehub.exchange import fetch
    return nbformat.read(fetch(course, student, "var", tmp_path / "fetched" / student) / "var.ipynb", as_version=4)


def _cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _own_mean(nb) -> float:
    """What the student's own run of the variant and setup cells gives (trusted code, run here)."""
    namespace: dict = {}
    exec(_cell(nb, "variant").source + "\n" + _cell(nb, "setup").source, namespace)
    return float(namespace["data"].mean())


def test_two_students_fetch_different_data(variant_course, tmp_path):
    alice, bob = _fetched(variant_course, "alice", tmp_path), _fetched(variant_course, "bob", tmp_path)
    assert _cell(alice, "variant").source != _cell(bob, "variant").source
    assert _own_mean(alice) != _own_mean(bob)
    # the rest of the notebook is the common release
    release = nbformat.read(variant_course.release_dir("var") / "var.ipynb", as_version=4)
    others = lambda nb: [c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "variant"]  # noqa: E731
    assert others(alice) == others(bob) == others(release)
    # nbgrader's Validate in JupyterLab does not call the locked cell edited
    from nbgrader.utils import compute_checksum
    assert _cell(alice, "variant").metadata.nbgrader["checksum"] == compute_checksum(_cell(alice, "variant"))


def test_copied_numbers_and_notebooks_lose_the_data_dependent_points(variant_course, tmp_path):
    from gradehub.grading import autograde
    from gradehub.report import build_frames
    from gradehub.variants import student_variants

    course = variant_course
    alice = _fetched(course, "alice", tmp_path)
    _cell(alice, "mean").source = "def mean_of(x):\n    return float(np.mean(x))"
    _cell(alice, "result").source = f"MY_MEAN = {_own_mean(alice):.6g}   # typed from my run"
    put_submission(course, "alice", alice, assignment="var", name="var")
    # bob hands in alice's notebook as it is
    put_submission(course, "bob", alice, assignment="var", name="var")
    # carol edits her variant cell into alice's and types alice's number
    carol = _fetched(course, "carol", tmp_path)
    _cell(carol, "mean").source = _cell(alice, "mean").source
    _cell(carol, "variant").source = _cell(alice, "variant").source
    _cell(carol, "result").source = _cell(alice, "result").source
    put_submission(course, "carol", carol, assignment="var", name="var")
    # dave computes his result in the notebook: right on whatever data he has
    dave = _fetched(course, "dave", tmp_path)
    _cell(dave, "mean").source = _cell(alice, "mean").source
    _cell(dave, "result").source = "MY_MEAN = mean_of(data)"
    put_submission(course, "dave", dave, assignment="var", name="var")
    # erin keeps her cell but switches to alice's data in a cell of her own, and claims to be the
    # variant cell in its metadata
    erin = _fetched(course, "erin", tmp_path)
    _cell(erin, "mean").source = _cell(alice, "mean").source
    _cell(erin, "result").source = "MY_MEAN = mean_of(data)"
    fake = nbformat.v4.new_code_cell(_cell(alice, "variant").source + "\n" + _cell(alice, "setup").source,
                                     metadata={"gradehub": {"variant": {"parameters": []}}})
    erin.cells.insert(erin.cells.index(_cell(erin, "setup")) + 1, fake)
    put_submission(course, "erin", erin, assignment="var", name="var")

    summary = autograde(course, "var", jobs=2, sandbox="local")
    by = {r.student: r for r in summary.results}
    points = {s: {v.grade_id: v.points for v in r.verdicts if v.kind != "manual"} for s, r in by.items()}
    assert points["alice"] == {"mean_tests": 1.0, "result_tests": 2.0}
    assert points["bob"] == {"mean_tests": 1.0, "result_tests": 0.0}       # alice's notebook on bob's data
    assert points["carol"] == {"mean_tests": 1.0, "result_tests": 0.0}     # graded on her real variant
    assert points["dave"] == {"mean_tests": 1.0, "result_tests": 2.0}
    assert points["erin"] == {"mean_tests": 1.0, "result_tests": 0.0}      # alice's data are not hers
    assert any("restored cell 'variant' (edited)" in n for n in by["carol"].notes)
    assert not any("variant" in n for n in by["alice"].notes + by["dave"].notes)
    # what ran is carol's own variant, whatever her copy said
    carols = student_variants(course, "carol", "var")["var"]
    executed = nbformat.read(course.autograded_dir("carol", "var") / "var.ipynb", as_version=4)
    assert f"VARIANT_SEED = {carols.seed}\n" in _cell(executed, "variant").source
    # one reference per variant, each cached on its own
    assert len(list((course.state_dir / "reference" / "var" / "variants").iterdir())) == 5
    # staff see each student's parameters: the result file and the report
    result = json.loads((course.autograded_dir("carol", "var") / "gradehub-result.json").read_text())
    assert result["variant"] == {"var": carols.to_json()}
    subs = build_frames(course).submissions.set_index("student")
    params = carols.parameters
    assert subs.loc["carol", "variant"] == f"SCALE={params['SCALE']!r}, N={params['N']!r} (seed {carols.seed})"
    # ... the feedback page (the student's own data) and the tutors' grading pages
    from gradehub.feedback import generate_feedback
    from gradehub.tutoring.api import Grading
    [page] = generate_feedback(course, "var", students=["carol"]).written
    assert f"SCALE={params['SCALE']!r}, N={params['N']!r} (seed {carols.seed})" in page.read_text()
    grading = Grading(course.root, instructors=["prof"])
    view = grading.student_answers(grading.actor({"name": "prof"}), "var", "carol")
    assert view["variant"] == subs.loc["carol", "variant"]
    assert [a["variant"] for a in view["answers"]] == [view["variant"]]
    from gradehub.tutoring.service import _NO_ME
    from gradehub.tutoring.templates import environment
    page = environment().get_template("student.html").render(
        me=_NO_ME, base="/", xsrf="", logout_url="/logout", here="/", title="var carol", s=view, prev=None, next=None)
    assert f"Their data (per-student variant, as graded): {view['variant']}" in page.replace("&#39;", "'")
    # a second run on the same variants takes their references from the cache
    again = autograde(course, "var", jobs=2, sandbox="local", force=True, students=["alice", "bob"])
    assert again.reference_cached and [r.score for r in again.results] == [3.0, 1.0]


def test_grading_and_fetch_without_the_secret_say_what_to_do(variant_course, tmp_path):
    from gradehub.exchange import fetch
    from gradehub.grading import GradingError, autograde
    from gradehub.variants import secret_path

    put_submission(variant_course, "alice", _fetched(variant_course, "alice", tmp_path), assignment="var", name="var")
    secret_path(variant_course).unlink()
    with pytest.raises(GradingError, match="gradehub variants init"):
        autograde(variant_course, "var", sandbox="local")
    with pytest.raises(CourseError, match="gradehub variants init"):
        fetch(variant_course, "bob", "var", tmp_path / "again")
    assert not (tmp_path / "again" / "var").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another OS user (CI runs as root)")
def test_the_secret_is_unreadable_for_other_os_users(tmp_path):
    """Students' servers run as OS users of their own (gh-<name>), grading containers as uid 1000:
    the secret's file and folder modes keep every other user out, even in a folder they can enter."""
    import subprocess

    home = tmp_path / "hubhome"
    home.mkdir()
    for p in (tmp_path, home):
        os.chmod(p, 0o755)        # the home and everything above it can be entered by anyone
    course = _course_with_secret(tmp_path / "course", f'[variants]\nsecret = "{home}/.gradehub/c1.secret"')
    path = create_secret(course)
    for who in ("65534", "1000"):
        probe = subprocess.run(["setpriv", f"--reuid={who}", f"--regid={who}", "--clear-groups", sys.executable,
                                "-c", f"open({str(path)!r}).read()"], capture_output=True, text=True, timeout=60)
        assert probe.returncode != 0 and "PermissionError" in probe.stderr, probe.stderr


PROBE = '''import os, pathlib
SECRET = {path!r}
print("EXISTS", os.path.exists(SECRET), os.path.exists(os.path.dirname(SECRET)))
try:
    print("READ", open(SECRET).read())
except OSError as exc:
    print("OPEN", type(exc).__name__)
print("ENV", dict(os.environ))
for p in sorted(pathlib.Path(".").rglob("*")):
    if p.is_file():
        print("FILE", p, p.read_bytes()[:200000])
MY_MEAN = mean_of(data)
'''


def test_the_secret_never_reaches_a_grading_container(variant_course, tmp_path):
    """A student's code in the docker sandbox looks for the secret: at its path, in the
    environment, in every file of its job directory. None of it holds the secret."""
    from gradehub.grading import autograde
    from gradehub.sandbox.base import SandboxUnavailable, get_sandbox
    from gradehub.variants import secret_path

    try:
        get_sandbox("docker").preflight()
    except SandboxUnavailable as exc:
        pytest.skip(f"docker sandbox not available here: {exc}")
    course = variant_course
    secret = secret_path(course).read_text().strip()
    nb = _fetched(course, "alice", tmp_path)
    _cell(nb, "mean").source = "def mean_of(x):\n    return float(np.mean(x))"
    _cell(nb, "result").source = PROBE.format(path=str(secret_path(course)))
    put_submission(course, "alice", nb, assignment="var", name="var")
    summary = autograde(course, "var", jobs=1, sandbox="docker")
    [result] = summary.results
    assert result.score == 3.0, result          # the probe ran to the end, and the sheet still grades
    executed = (course.autograded_dir("alice", "var") / "var.ipynb").read_text()
    assert "EXISTS False False" in executed and "OPEN FileNotFoundError" in executed
    assert "ENV {" in executed and "FILE " in executed                # it did look (the kernel connection file)
    assert secret not in executed and secret[:16] not in executed


def test_the_exchange_hands_each_student_their_own_variant(variant_course, tmp_path):
    from gradehub.hub.exchange.store import ExchangeRejected, ExchangeStore
    from gradehub.variants import secret_path, student_variants

    store = ExchangeStore(tmp_path / "exchange", "varcourse", course_root=variant_course.root)
    store.ensure()
    got = {s: nbformat.reads(store.release_files("var", s)["var.ipynb"].decode(), as_version=4) for s in ("alice", "bob")}
    for student, nb in got.items():
        mine = student_variants(variant_course, student, "var")["var"]
        assert _cell(nb, "variant").source == render_source(mine)
    assert _own_mean(got["alice"]) != _own_mean(got["bob"])
    # without the secret nobody gets a copy, and the student's message names no path
    secret_path(variant_course).unlink()
    with pytest.raises(ExchangeRejected) as refused:
        store.release_files("var", "alice")
    assert refused.value.status == 503 and "/" not in str(refused.value)


def test_the_cli_says_what_to_do_without_the_secret(variant_course, tmp_path):
    from gradehub.cli import main
    from gradehub.variants import secret_path

    secret_path(variant_course).unlink()
    root = str(variant_course.root)
    import subprocess
    proc = subprocess.run([sys.executable, "-m", "gradehub.cli", "fetch", "var", "alice", "--course-root", root,
                           "--to", str(tmp_path)], capture_output=True, text=True, timeout=120)
    said = " ".join(proc.stderr.split())
    assert proc.returncode == 2 and "Traceback" not in said
    assert "gradehub variants init" in said and "[variants].secret" in said     # the key's name, not eaten as markup
    assert main(["variants", "init", "--course-root", root]) == 0
    assert main(["variants", "init", "--course-root", root]) == 2          # never replaces a secret
    assert main(["fetch", "var", "alice", "--course-root", root, "--to", str(tmp_path)]) == 0
    assert main(["variants", "show", "var", "--course-root", root]) == 0


def test_validate_runs_the_reference_on_five_variants_and_finds_the_ones_that_break(variant_course):
    """A sheet whose solution breaks for part of the parameter range: validate names each variant
    where it does, and the release is still checked (on the release's own variant)."""
    from gradehub.authoring import VALIDATE_VARIANTS, validate

    path = variant_course.source_dir("var") / "var.ipynb"
    nb = nbformat.read(path, as_version=4)
    _cell(nb, "result").source = ("### BEGIN SOLUTION\nassert SCALE < 3.0, 'breaks for a large SCALE'\n"
                                  "MY_MEAN = mean_of(data)\n### END SOLUTION")
    nbformat.write(nb, path)
    spec = notebook_spec(nb)
    breaking = [i for i in range(VALIDATE_VARIANTS) if spec.draw(preview_seed(i)).parameters["SCALE"] >= 3.0]
    assert VALIDATE_VARIANTS >= 5 and 0 < len(breaking) < VALIDATE_VARIANTS   # the preview seeds hit both sides
    report = validate(variant_course, "var")
    raised = [p for p in report.problems if "reference solution raises AssertionError" in p.message]
    assert sorted(p.notebook for p in raised) == sorted(
        f"var.ipynb (variant {spec.draw(preview_seed(i)).describe()})" for i in breaking)
    assert sum("reference solution ran in" in line for line in report.info) == VALIDATE_VARIANTS
    assert any("student version" in line for line in report.info)


def test_validate_asks_for_the_preview_variant_in_the_source(variant_course):
    from gradehub.authoring import validate

    path = variant_course.source_dir("var") / "var.ipynb"
    nb = nbformat.read(path, as_version=4)
    _cell(nb, "variant").source = "VARIANT_SEED = 1\nSCALE = 2.0\nN = 30\n"
    nbformat.write(nb, path)
    report = validate(variant_course, "var", execute=False)
    [problem] = report.problems
    assert "holds the preview variant" in problem.message
    assert render_source(notebook_spec(nb).draw(preview_seed(0))) in problem.message
