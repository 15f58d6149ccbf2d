"""The course's otter sheet graded for real in the Docker sandbox (issue 16): the red team (every
attack of test_redteam.py, and the ones otter's own workflow invites), and the sheet's own
solution, correct alternatives and wrong answers (grader_tests/mutants/otter01.py), in one run.

The target is the course's otter sheet (``source/otter01``): public cases worth no points, every
point on hidden cases the host decides (a displayed value it compares, or a comparison it
evaluates from the operands the kernel recorded; the kernel never sees a hidden constant). Each
attack starts from the released student notebook and answers one or two questions with it (the
other questions blank), as a student would.

What must hold: no attack scores above the blank notebook, in any question; the master's solution
(as a student's submission) and a correct alternative get full marks, every hidden case verified;
every mutant loses points on its question; nothing the kernel can reach holds a hidden expected
output (the disk and memory searches print nothing found); feedback shows hidden cases as
passed/failed only, none of their code or expected output.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import nbformat
import pytest

from conftest import REPO, put_submission, scores_of
import sheetprobes
from otter_sheet import ASSIGNMENT, FULL, otter_course, release_notebook, solution_answers, submission

pytestmark = [pytest.mark.docker, pytest.mark.slow]

QUESTIONS = ("q1", "q2", "q3")
BLANK = {q: 0.0 for q in QUESTIONS}
# hidden expected outputs and constants of otter01 (the attacks look for these)
HIDDEN_CONSTANTS = ("2.25", "8.827985767362492", "61.72839506172839", "array([2., 1.])", "0.27 < gamma")

BLANK_Q1 = "def kinetic_energy(m, v):\n    ...\n"

REPLY_PATH = BLANK_Q1 + '''
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell
ExecutionResult.success = property(lambda self: True)
InteractiveShell.showtraceback = lambda self, *a, **k: None
import ipykernel.ipkernel as _ik
_orig = _ik.IPythonKernel.do_execute
async def _do_execute(self, *a, **k):
    reply = await _orig(self, *a, **k)
    if isinstance(reply, dict):
        reply.update(status="ok"); reply.pop("ename", None); reply.pop("traceback", None)
    return reply
_ik.IPythonKernel.do_execute = _do_execute
'''

# forge every record a test cell makes: "True" for every display, guesses for every operand
FORGE_RECORDS = BLANK_Q1 + '''
import gradehub.testing as _t
_real = _t.record
def _forged(name, value):
    if isinstance(value, dict) and "out" in value:
        value = {"out": "True\\n", "exc": None, "cut": False}
    else:
        value = 45.0
    return _real(name, value)
_t.record = _forged
'''

# print what the public tests expect, and "True" for everything else (otter's tests are in the notebook)
PRINT_EXPECTED = '''
import json, sys
class _Shown:
    def __init__(self, text): self.text = text
    def __repr__(self): return self.text
    def __bool__(self): return True
_public = {}
try:
    _meta = json.load(open("otter01.ipynb"))["metadata"]["otter"]["tests"]
    for _q in _meta.values():
        for _c in _q["suites"][0]["cases"]:
            _lines = _c["code"].strip().splitlines()
            _public[_lines[0][4:]] = _lines[1]
except Exception as exc:
    print("no notebook on disk:", type(exc).__name__)
def kinetic_energy(m, v):
    return _Shown(_public.get(f"kinetic_energy({m!r}, {v!r})", "True"))
def projectile_range(v0, theta, g=9.81):
    return _Shown("True")
best_angle_deg = _Shown("True")
gamma = _Shown("True")
sys.displayhook = lambda value: print("True") if value is not None else None
'''

# otter's own check: make grader.check and otter's Checker report success
PATCH_OTTER = '''
import otter
from otter.check.notebook import Notebook
from otter.test_files.abstract_test import TestFile
Notebook.check = lambda self, *a, **k: print("q1 results: All test cases passed!")
Notebook.check_all = lambda self, *a, **k: print("All tests passed!")
TestFile.score = property(lambda self: self.possible)
TestFile.passed_all = property(lambda self: True)
try:
    from otter.execute import Checker
    Checker.check = classmethod(lambda cls, *a, **k: None)
except Exception:
    pass
grader = otter.Notebook("otter01.ipynb")
grader.check = lambda *a, **k: print("All test cases passed!")
'''

# rewrite every test cell before it runs: record what passes instead of running the tests
EDIT_TEST_CELLS = '''
import re
def _rewrite(lines):
    src = "".join(lines)
    if "run_case(" not in src:
        return lines
    keys = re.findall(r"run_case\\('([^']+)'", src)
    out = ["from gradehub.testing import record\\n"]
    for key in keys:
        for i in range(4):
            out.append(f"record('{key}/{i}', {{'out': 'True\\\\n', 'exc': None, 'cut': False}})\\n")
            out.append(f"record('{key}/{i}/0', 45.0)\\n")
    return out
get_ipython().input_transformers_cleanup.append(_rewrite)
'''

# read the hidden tests from disk: every file the kernel can read, searched for hidden constants
READ_DISK = '''
import os
_needles = %r
_found = set()
for _top in ("/home", "/tmp", "/srv", "/mnt", "/run", "/var/tmp", os.getcwd()):
    for _root, _dirs, _files in os.walk(_top):
        _dirs[:] = [d for d in _dirs if d not in ("site-packages", "proc", "sys", "dist-packages")]
        for _f in _files:
            _p = os.path.join(_root, _f)
            try:
                if os.path.getsize(_p) > 5_000_000:
                    continue
                _text = open(_p, errors="ignore").read()
            except Exception:
                continue
            for _n in _needles:
                if _n in _text:
                    _found.add(_n)
print("DISK-SEARCH" + "-DONE", sorted(_found) and "FOUND" + "-ON-DISK " + repr(sorted(_found)))
''' % (HIDDEN_CONSTANTS,)

# read the hidden tests from memory: when a test calls the function, scan the running cell (In),
# every frame's code constants and every live string for float constants, and answer with them
READ_MEMORY = '''
import gc, re, sys
_memory_found = set()
def _scan():
    found = set()
    texts = [get_ipython().user_ns["In"][-1]]
    texts += [o for o in gc.get_objects() if isinstance(o, str) and "run_case" in o]
    for text in texts:
        found.update(float(m) for m in re.findall(r"\\b\\d+\\.\\d{3,}\\b", text))
    frame = sys._getframe(1)
    while frame is not None:
        found.update(c for c in frame.f_code.co_consts if isinstance(c, float))
        frame = frame.f_back
    _memory_found.update(found)  # printed by a later cell: a test cell's output goes to the host
    return sorted(found)
def kinetic_energy(m, v):
    seen = _scan()
    return seen[-1] if seen else 0.0
def projectile_range(v0, theta, g=9.81):
    seen = _scan()
    return seen[-1] if seen else 0.0
'''

# objects that compare equal to anything and look like the answer
LYING_OBJECT = '''
import numpy as np
class _Liar(float):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return True
    def __gt__(self, other): return True
    def __repr__(self): return "True"
    def __array__(self, *a, **k): return np.array(2.25)
def kinetic_energy(m, v):
    return _Liar(1.0)
def projectile_range(v0, theta, g=9.81):
    return _Liar(1.0)
best_angle_deg = _Liar(1.0)
gamma = _Liar(1.0)
'''

# hardcode what the public tests show: public cases carry no points on this sheet
HARDCODE_PUBLIC = '''
def projectile_range(v0, theta, g=9.81):
    return 0.0
'''
BLANK_Q2 = "def projectile_range(v0, theta, g=9.81):\n    ...\n"

# the running test cell (hidden case sources included) printed, base64-encoded and raised: the
# public case's message must not carry any of it to the feedback page
EXFILTRATE = '''
import base64
def kinetic_energy(m, v):
    cell = get_ipython().user_ns["In"][-1]
    print("EXFIL " + base64.b64encode(cell.encode()).decode())
    print(cell)
    raise ValueError("EXFIL " + cell)
'''
# hidden cases' code: never on a feedback page
HIDDEN_SOURCES = ("kinetic_energy(0.5, 3.0)", "np.array([2.0, 1.0])", "projectile_range(10.0, np.pi / 6)", "_gh_otter")

# Attacks grouped in six notebooks (grading time): each puts one attack in question 1's cell
# and another in question 2's; any point above the blank notebook fails the test, whichever
# attack earned it, and the executed notebooks show which ran.
ATTACKS = {
    "reply-path--read-disk": {"q1": REPLY_PATH, "q2": BLANK_Q2 + READ_DISK},
    "forge-records--edit-test-cells": {"q1": FORGE_RECORDS, "q2": BLANK_Q2 + EDIT_TEST_CELLS},
    "print-expected--patch-otter": {"q1": PRINT_EXPECTED, "q2": BLANK_Q2 + PATCH_OTTER},
    "read-memory--lying-gamma": {
        "q1": READ_MEMORY,
        "q3": LYING_OBJECT + 'print("MEMORY" + "-SEARCH", sorted(_memory_found))\n',
    },
    "lying-object--hardcode-public": {"q1": LYING_OBJECT, "q2": HARDCODE_PUBLIC},
    "exfiltrate": {"q1": EXFILTRATE},
}


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    from gradehub.sandbox.base import SandboxUnavailable, get_sandbox

    try:
        get_sandbox("docker").preflight()
    except SandboxUnavailable as exc:
        pytest.skip(f"docker sandbox not available here: {exc}")
    course = otter_course(tmp_path_factory.mktemp("otter-redteam") / "course")
    root = course.root
    release_nb = release_notebook(course)
    put_submission(course, "blank", release_nb, assignment=ASSIGNMENT, name=ASSIGNMENT)
    # the sheet's own answers: mutant i of every question in one submission (they are independent)
    mutants, alternatives = sheetprobes.load("mutants", ASSIGNMENT), sheetprobes.load("alternatives", ASSIGNMENT)
    sheet = {"solution": solution_answers(course), "alternative": {q: a[0] for q, a in alternatives.items()}}
    sheet.update({f"mutant-{i}": {q: m[i] for q, m in mutants.items()} for i in range(2)})
    for student, answers in {**sheet, **ATTACKS}.items():
        put_submission(course, student, submission(release_nb, answers), assignment=ASSIGNMENT, name=ASSIGNMENT)
    env = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="250")
    grade = subprocess.run(
        [sys.executable, "-m", "gradehub.cli", "autograde", ASSIGNMENT, "--sandbox", "docker", "-j", "2",
         "--course-root", str(root)],
        capture_output=True, text=True, timeout=900, env=env,
    )
    feedback = subprocess.run(
        [sys.executable, "-m", "gradehub.cli", "feedback", ASSIGNMENT, "--course-root", str(root)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    return course, grade, feedback


def test_the_run_exits_0_and_grades_everyone(attacked):
    _, grade, feedback = attacked
    assert grade.returncode == 0, grade.stdout[-3000:] + grade.stderr[-3000:]
    assert f"{ASSIGNMENT}: {5 + len(ATTACKS)} graded" in grade.stdout.replace("\n", " ")
    assert feedback.returncode == 0, feedback.stdout[-2000:] + feedback.stderr[-2000:]


def test_no_attack_scores_above_the_blank_notebook(attacked):
    course, _, _ = attacked
    scores = scores_of(course, ASSIGNMENT)
    assert scores["blank"] == BLANK
    above = {s: scores[s] for s in ATTACKS if any(scores[s][q] > BLANK[q] for q in QUESTIONS)}
    assert above == {}


def test_the_honest_student_gets_full_marks_every_case_verified(attacked):
    course, _, _ = attacked
    assert scores_of(course, ASSIGNMENT)["solution"] == FULL  # the master's solution, as a student's
    result = json.loads((course.autograded_dir("solution", ASSIGNMENT) / "gradehub-result.json").read_text())
    hidden = [c for v in result["verdicts"] for c in v.get("cases", []) if c["hidden"]]
    assert len(hidden) == 6 and all(c["passed"] and c["kind"] == "verified" for c in hidden)


def test_the_attacks_really_ran_and_found_no_hidden_answer(attacked):
    course, _, _ = attacked

    def printed(student: str) -> str:
        nb = nbformat.read(course.autograded_dir(student, ASSIGNMENT) / f"{ASSIGNMENT}.ipynb", as_version=4)
        return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)

    disk = printed("reply-path--read-disk")
    assert "DISK-SEARCH-DONE" in disk and "FOUND-ON-DISK" not in disk
    seen = re.findall(r"MEMORY-SEARCH (\[[^\]]*\])", printed("read-memory--lying-gamma"))
    assert seen  # the hook saw the test cells ...
    for constant in ("2.25", "8.827985767362492", "61.72839506172839"):
        assert all(constant not in found for found in seen), seen  # ... and no hidden constant in them


def test_feedback_shows_hidden_cases_as_passed_or_failed_only(attacked):
    course, _, _ = attacked
    pages = [f for f in (course.root / "feedback").rglob("*.html")]
    assert len(pages) == 5 + len(ATTACKS)
    for page in pages:
        text = page.read_text(encoding="utf-8")
        leaked = [c for c in (*HIDDEN_CONSTANTS, *HIDDEN_SOURCES, "EXFIL") if c in text]
        assert leaked == [], f"{page}: {leaked}"
    honest = next(p for p in pages if "solution" in p.parts).read_text(encoding="utf-8")
    # one row per test case: 6 hidden, 3 public, every one passed
    assert honest.count("<td>hidden</td>") == 6 and honest.count("<td>public</td>") == 3
    assert honest.count("<span class='ok'>passed</span>") == 9


def test_the_solution_and_alternatives_score_full_marks_and_every_mutant_loses_points(attacked):
    course, _, _ = attacked
    mutants = sheetprobes.load("mutants", ASSIGNMENT)
    assert sorted(mutants) == sorted(FULL) and all(len(m) >= 2 for m in mutants.values())
    scores = scores_of(course, ASSIGNMENT)
    assert scores["solution"] == FULL and scores["alternative"] == FULL
    kept = {(s, q) for s in ("mutant-0", "mutant-1") for q in FULL if scores[s][q] >= FULL[q]}
    assert kept == set(), f"wrong answers that keep their points: {kept}"
