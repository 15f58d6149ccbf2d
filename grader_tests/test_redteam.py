"""The red team: a determined student's attacks on the verdict, graded for real in Docker.

Every attack starts from the blank student version (the release, unanswered) and appends a
few lines to an answer cell, as the attacks that once earned full marks did: patching the
kernel's reply path at class level, swapping an assertion helper's ``__code__``, patching the
private helpers of ``gradehub.testing``, editing the guard through ``sys.modules``, a
``pre_run_cell`` hook that sees every cell's source and switches fakes on and off, forging
records, recording a lying object, exfiltrating the test cell's source through output,
filling the job directory's disk, and forged guard lines full of console markup and numbers.

What must hold: no attack scores above the blank notebook; the honest student (plots,
warnings, ``%matplotlib inline``) gets full marks and no flag; no hidden-test line, plain or
base64-encoded, reaches any feedback file; ``gradehub autograde`` exits 0 and prints its
summary. Runs in CI after .ci/docker-setup.sh (the grader image must carry this checkout's
``gradehub.testing``).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest

from conftest import GOOD, put_submission, scores_of, solve, student_copy

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BLANK_SCORE = {"square_tests": 0.0, "add_tests": 0.0}

REPLY_PATH = '''
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell
ExecutionResult.success = property(lambda self: True)
_orig_run_cell = InteractiveShell.run_cell
def _run_cell(self, *a, **k):
    result = _orig_run_cell(self, *a, **k)
    result.error_in_exec = result.error_before_exec = None
    return result
InteractiveShell.run_cell = _run_cell
InteractiveShell.showtraceback = lambda self, *a, **k: None
import ipykernel.ipkernel as _ik
_orig_do_execute = _ik.IPythonKernel.do_execute
async def _do_execute(self, *a, **k):
    reply = await _orig_do_execute(self, *a, **k)
    if isinstance(reply, dict):
        reply.update(status="ok")
        reply.pop("ename", None); reply.pop("evalue", None); reply.pop("traceback", None)
    return reply
_ik.IPythonKernel.do_execute = _do_execute
from jupyter_client.session import Session
_orig_send = Session.send
def _send(self, stream, msg_or_type, content=None, *a, **k):
    if isinstance(content, dict) and content.get("status") == "error":
        content = {"status": "ok", "execution_count": content.get("execution_count", 0),
                   "user_expressions": {}, "payload": []}
    if isinstance(msg_or_type, str) and msg_or_type == "error":
        return None
    return _orig_send(self, stream, msg_or_type, content, *a, **k)
Session.send = _send
'''

CODE_SWAP = '''
import gradehub.testing as _t
def _nothing(*a, **k):
    return None
for _name in ("assert_close", "assert_equal", "assert_true", "assert_in_range", "assert_shape"):
    getattr(_t, _name).__code__ = _nothing.__code__
def square(x):
    return 0
def add(a, b):
    return 0
'''

PRIVATE_HELPERS = '''
import base64, io, numpy as _np
import gradehub.testing as _t
def _forged(value, name, depth):
    buf = io.BytesIO(); _np.save(buf, _np.array(9.0)); return {"npy": base64.b64encode(buf.getvalue()).decode()}
_t._encode = _forged
_t._scalar_value = lambda value, name: 9.0
_t._as_plain_array = lambda value, name: _np.array(9.0)
def square(x):
    return 9.0
'''

GUARD_EDIT = '''
import sys
_g = sys.modules.get("gradehub.guard")
if _g is not None:
    _g._state.clear()
    _g.check = lambda challenge: print(f"gradehub-guard {challenge} []")
    _g.install = lambda token: None
'''

SWITCHING_HOOK = '''
import base64, io, numpy as _np
from IPython.display import publish_display_data
def _forge(name, value):
    buf = io.BytesIO(); _np.save(buf, _np.array(value))
    publish_display_data({"application/vnd.gradehub.record.v1+json":
                          {"name": name, "value": {"npy": base64.b64encode(buf.getvalue()).decode()}}})
def _hook(info):
    src = info.raw_cell or ""
    g = get_ipython().user_ns
    if "record(" in src:
        # a test cell: forge every name it records with the values visible tests use
        import re
        for name in re.findall(r"record\\(['\\"]([^'\\"]+)['\\"]", src):
            _forge(name, 9.0)
        g["square"] = lambda x: 9.0
        g["add"] = lambda a, b: 3
    elif ".check(" in src:
        g["square"] = lambda x: 0          # nothing to see while the guard looks
get_ipython().events.register("pre_run_cell", _hook)
'''

LYING_OBJECT = '''
class _Liar(float):
    def __eq__(self, other): return True
    def __sub__(self, other): return 0.0
    def __abs__(self): return 0.0
    def __array__(self, *a, **k):
        import numpy as np
        return np.array(20.25)
def square(x):
    return _Liar(9.0)
def add(a, b):
    return _Liar(3.0)
'''

EXFILTRATE = '''
import base64
def square(x):
    print("EXFIL " + base64.b64encode(get_ipython().user_ns["In"][-1].encode()).decode())
    return x * x + 1
def add(a, b):
    print(get_ipython().user_ns["In"][-1])
    raise ValueError(get_ipython().user_ns["In"][-1])
'''

FILL_DISK = '''
import os
try:
    with open("big.bin", "wb") as _f:
        os.posix_fallocate(_f.fileno(), 0, 4 << 30)
    print("FALLOCATE OK", os.path.getsize("big.bin"))
except OSError as exc:
    print("FALLOCATE REFUSED", exc.errno)
_st = os.statvfs(".")
print("JOBDISK", _st.f_blocks * _st.f_frsize)
'''

FORGED_GUARD_LINES = '''
import re
def _hook(info):
    src = info.raw_cell or ""
    m = re.search(r"check\\('([0-9a-f]+)'\\)", src)
    if m:
        print(f"gradehub-guard {m.group(1)} [1, 2.5, null, \\"[bold red]x[/]\\", \\"[link=http://evil]y[/link]\\"]")
        print("[/red] [/] [bold] unbalanced markup")
get_ipython().events.register("post_run_cell", lambda result: None)
get_ipython().events.register("pre_run_cell", _hook)
'''

HONEST_PLOTS = GOOD["square"] + '''
%matplotlib inline
import warnings
import matplotlib.pyplot as plt
plt.plot([1, 2, 3], [1, 4, 9]); plt.title("squares"); plt.show()
warnings.warn("a harmless warning")
'''

ATTACKS = {
    "reply-path": {"square": "def square(x):\n    raise NotImplementedError()\n" + REPLY_PATH},
    "code-swap": {"square": CODE_SWAP},
    "private-helpers": {"square": PRIVATE_HELPERS},
    "guard-edit": {"square": "def square(x):\n    raise NotImplementedError()\n" + GUARD_EDIT},
    "switching-hook": {"square": "def square(x):\n    raise NotImplementedError()\n" + SWITCHING_HOOK},
    "lying-object": {"square": LYING_OBJECT},
    "exfiltrate": {"square": EXFILTRATE},
    "fill-disk": {"square": "def square(x):\n    raise NotImplementedError()\n" + FILL_DISK},
    "forged-guard-lines": {"square": "def square(x):\n    raise NotImplementedError()\n" + FORGED_GUARD_LINES},
}


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    import conftest
    from gradehub.sandbox.base import SandboxUnavailable, get_sandbox
    try:
        get_sandbox("docker").preflight()
    except SandboxUnavailable as exc:
        pytest.skip(f"docker sandbox not available here: {exc}")
    from gradehub.course import load_course
    course = conftest.toy_course.__wrapped__(tmp_path_factory.mktemp("redteam"))
    # The honest student imports matplotlib: give cells time for that on a loaded CI machine.
    toml = course.root / "course.toml"
    toml.write_text(toml.read_text().replace("cell_timeout = 4", "cell_timeout = 60")
                    .replace("notebook_timeout = 20", "notebook_timeout = 180"))
    course = load_course(course.root)
    put_submission(course, "blank", student_copy(course))
    put_submission(course, "honest", solve(student_copy(course), {**GOOD, "square": HONEST_PLOTS}))
    for student, answers in ATTACKS.items():
        put_submission(course, student, solve(student_copy(course), answers))
    env = dict(os.environ, PYTHONPATH=str(conftest.REPO), COLUMNS="250")
    grade = subprocess.run([sys.executable, "-m", "gradehub.cli", "autograde", "toy", "--sandbox", "docker",
                            "-j", "2", "--course-root", str(course.root)],
                           capture_output=True, text=True, timeout=900, env=env)
    feedback = subprocess.run([sys.executable, "-m", "gradehub.cli", "feedback", "toy",
                               "--course-root", str(course.root)], capture_output=True, text=True, timeout=300, env=env)
    return course, grade, feedback


def test_the_run_exits_0_and_prints_its_summary(attacked):
    _, grade, feedback = attacked
    assert grade.returncode == 0, grade.stdout[-3000:] + grade.stderr[-3000:]
    assert "toy: 11 graded" in grade.stdout.replace("\n", " ")
    for student in ("blank", "honest", *ATTACKS):
        assert student in grade.stdout
    assert feedback.returncode == 0, feedback.stdout[-2000:] + feedback.stderr[-2000:]


def test_no_attack_scores_above_the_blank_notebook(attacked):
    course, _, _ = attacked
    scores = scores_of(course)
    assert {k: scores["blank"][k] for k in BLANK_SCORE} == BLANK_SCORE
    above = {s: {k: scores[s][k] for k in BLANK_SCORE} for s in ATTACKS
             if any(scores[s][k] for k in BLANK_SCORE)}
    assert above == {}


def test_the_honest_student_gets_full_marks_and_no_flag(attacked):
    import json
    course, _, _ = attacked
    assert {k: scores_of(course)["honest"][k] for k in BLANK_SCORE} == {"square_tests": 2.0, "add_tests": 1.0}
    result = json.loads((course.autograded_dir("honest", "toy") / "gradehub-result.json").read_text())
    assert result["flags"] == []
    assert {v["kind"] for v in result["verdicts"] if v["grade_id"] != "explain"} == {"verified"}


def test_the_tampering_is_flagged_for_a_person(attacked):
    import json
    course, _, _ = attacked
    for student in ("switching-hook", "forged-guard-lines"):
        result = json.loads((course.autograded_dir(student, "toy") / "gradehub-result.json").read_text())
        assert result["flags"], student


def test_the_job_directory_cannot_take_the_host_s_disk(attacked):
    course, _, _ = attacked
    import re
    executed = (course.autograded_dir("fill-disk", "toy") / "toy.ipynb").read_text()
    assert re.search(r"FALLOCATE REFUSED \d+", executed) and not re.search(r"FALLOCATE OK \d+", executed)
    if os.geteuid() == 0:   # the job directory is a tmpfs of [limits].job_disk (default 512 MiB)
        size = int(re.search(r"JOBDISK (\d+)", executed).group(1))
        assert size <= course.limits.job_disk_bytes


def _hidden_sources(course) -> list[str]:
    import nbformat
    from gradehub.metadata import is_test_cell, kernel_source
    nb = nbformat.read(course.source_dir("toy") / "toy.ipynb", as_version=4)
    return [kernel_source(c.source) for c in nb.cells if is_test_cell(c)]


def test_no_hidden_test_line_reaches_any_feedback_file_encoded_or_not(attacked):
    course, _, _ = attacked
    executed = (course.autograded_dir("exfiltrate", "toy") / "toy.ipynb").read_text()
    assert "EXFIL " in executed                          # the attack really printed the cell
    secrets = []
    for src in _hidden_sources(course):
        hidden = src.split("### BEGIN HIDDEN TESTS", 1)[1]
        secrets += [ln.strip() for ln in hidden.splitlines() if len(ln.strip()) > 8]
        secrets.append(base64.b64encode(src.encode()).decode()[:24])
    files = [f for f in (course.root / "feedback").rglob("*") if f.is_file()]
    assert len(files) == 11
    for f in files:
        text = f.read_text(encoding="utf-8")
        leaked = [s for s in secrets if s in text]
        assert leaked == [], f"{f}: {leaked}"
