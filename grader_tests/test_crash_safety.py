"""`gradehub autograde` killed with SIGKILL at three moments, then run again.

Each time the resumed run must leave the course as an uninterrupted run does: every student
graded exactly once (one gradebook submission, one status row, one autograded folder, and the
three of the same grading), the same scores and statuses, no leftover processes of the killed run.

1. during the reference run (nothing graded yet, the reference cache not written);
2. mid-batch (some students graded, one executing);
3. during the gradebook writes: after a resubmission's row is committed, before its autograded
   folder is swapped in (the folder there is still the old submission's).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest

from conftest import GOOD, REPO, put_submission, scores_of, solve, student_copy
from gradehub.course import load_course
from gradehub.gradebook import open_gradebook, read_status
from gradehub.grading import autograde

pytestmark = pytest.mark.slow

SLOW = "import time\ntime.sleep(1.5)\ndef add(a, b):\n    return a * b"
CLASS = {  # graded in this order at -j 1
    "c1": {},
    "c2": {"add": SLOW},
    "c3": {"square": "def square(x):\n    return 2 * x"},
}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def _start(course, argv=None):
    argv = argv or [sys.executable, "-m", "gradehub.cli", "autograde", "toy", "--course-root", str(course.root),
                    "--sandbox", "local", "-j", "1"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())


def _kill_when(proc, ready, what: str, limit: float = 120) -> None:
    """SIGKILL ``proc`` as soon as ``ready()``; then its worker and kernel must go too."""
    deadline = time.monotonic() + limit
    while not ready():
        assert proc.poll() is None, f"the run ended before {what}: {proc.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.02)
    children = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"left running after the kill ({what}): {[p.cmdline() for p in alive]}"


def _state(course) -> dict:
    """What a finished run leaves, per student: scores, status, and that its three records agree."""
    with open_gradebook(course) as gb:
        status = read_status(gb, "toy")
        submissions = [s.student.id for s in gb.assignment_submissions("toy")]
    assert sorted(submissions) == sorted(k[1] for k in status), "a submission without a status row or back"
    assert len(set(submissions)) == len(submissions)
    scores = scores_of(course)
    out = {}
    for (_, student), row in status.items():
        result = json.loads((course.autograded_dir(student, "toy") / "gradehub-result.json").read_text())
        # the folder is the grading the gradebook holds, of the submission on disk
        assert (result["graded_at"], result["submitted_at"]) == (row.graded_at, row.submitted_at), student
        assert result["score"] == sum(v or 0 for v in scores[student].values()), student
        out[student] = (row.status, row.message, scores[student])
    assert not list((course.state_dir / "tmp").glob("*")), "staging folders left behind"
    return out


@pytest.fixture(scope="module")
def classes(tmp_path_factory):
    """A class, and the state an uninterrupted run leaves (graded in a copy)."""
    import conftest

    course = conftest.toy_course.__wrapped__(tmp_path_factory.mktemp("crash"))
    for student, answers in CLASS.items():
        put_submission(course, student, solve(solve(student_copy(course), GOOD), answers))
    clean = course.root.parent / "uninterrupted"
    shutil.copytree(course.root, clean)
    autograde(load_course(clean), "toy", jobs=1, sandbox="local")
    return course, load_course(clean), _state(load_course(clean))


def _fresh(classes, name, reference=False):
    course, clean, _ = classes
    target = course.root.parent / name
    shutil.copytree(course.root, target)
    if reference:  # the reference run's cache, as after an earlier run of the sheet
        shutil.copytree(clean.state_dir / "reference", target / ".gradehub" / "reference")
    return load_course(target)


def test_killed_during_the_reference_run(classes):
    course = _fresh(classes, "kill-reference")
    proc = _start(course)
    _kill_when(proc, lambda: (course.state_dir / "work" / "reference").is_dir(), "the reference run")
    assert not (course.state_dir / "reference" / "toy" / "key").exists()
    assert not course.autograded_dir().exists() or not any(course.autograded_dir().iterdir())
    autograde(course, "toy", jobs=1, sandbox="local")
    assert _state(course) == classes[2]


def test_killed_mid_batch(classes):
    course = _fresh(classes, "kill-batch", reference=True)
    proc = _start(course)
    graded = lambda: sorted(p.parent.name for p in course.autograded_dir().glob("*/toy"))  # noqa: E731
    _kill_when(proc, lambda: len(graded()) >= 1, "a student graded")
    before = graded()
    assert 1 <= len(before) < len(CLASS)
    resumed = autograde(course, "toy", jobs=1, sandbox="local")
    # the resumed run grades only who was not done, and nobody twice
    assert sorted(r.student for r in resumed.results) == sorted(set(CLASS) - set(before))
    assert resumed.up_to_date == len(before)
    assert _state(course) == classes[2]


def test_killed_between_the_gradebook_commit_and_the_folder_swap(classes):
    """A resubmission's new row is committed, the folder is still the old submission's: the
    resumed run must regrade it (before the fix it took the old folder as this grading's)."""
    course = _fresh(classes, "kill-write", reference=True)
    shutil.copytree(classes[1].root / "autograded", course.root / "autograded")
    shutil.copyfile(classes[1].root / "gradebook.db", course.root / "gradebook.db")
    assert _state(course) == classes[2]
    later = dt.datetime(2026, 10, 23, 21, 0, tzinfo=dt.UTC)
    put_submission(course, "c3", solve(student_copy(course), GOOD), when=later)  # c3 fixes square
    driver = (
        "import os, signal, sys\n"
        "import gradehub.grading as grading\n"
        "from gradehub.cli import main\n"
        "real = grading.write_submission\n"
        "def write_then_die(*args, **kwargs):\n"
        "    real(*args, **kwargs)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "grading.write_submission = write_then_die\n"
        f"sys.exit(main(['autograde', 'toy', '--course-root', {str(course.root)!r}, '--sandbox', 'local', '-j', '1']))\n"
    )
    proc = _start(course, [sys.executable, "-c", driver])
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    with open_gradebook(course) as gb:
        row = read_status(gb, "toy")[("toy", "c3")]
    old = json.loads((course.autograded_dir("c3", "toy") / "gradehub-result.json").read_text())
    assert row.submitted_at != old["submitted_at"]  # the moment the test means: row new, folder old
    resumed = autograde(course, "toy", jobs=1, sandbox="local")
    assert [r.student for r in resumed.results] == ["c3"]
    state = _state(course)
    assert state["c3"] == classes[2]["c1"]  # now as good as c1
    assert {s: v for s, v in state.items() if s != "c3"} == {s: v for s, v in classes[2].items() if s != "c3"}


def test_which_submissions_count_as_graded(tmp_path):
    """The rule the resumed runs above rely on, as a pure reading of a row and a folder."""
    from conftest import TOY_COURSE_TOML
    from gradehub.gradebook import StatusRow
    from gradehub.grading import Submission, needs_grading

    (tmp_path / "course.toml").write_text(TOY_COURSE_TOML)
    course = load_course(tmp_path)
    when = dt.datetime(2026, 10, 23, 20, 0)
    sub = Submission("c1", "toy", tmp_path / "submitted" / "c1" / "toy", when)
    row = StatusRow("toy", "c1", "graded", "", [], [], "local", 1.0, when.isoformat(), "2026-10-24T10:00:00+00:00")
    folder = course.autograded_dir("c1", "toy")
    folder.mkdir(parents=True)

    def result(**fields):
        (folder / "gradehub-result.json").write_text(json.dumps(fields))
        return needs_grading(course, sub, {("toy", "c1"): row}, force=False)

    assert result(submitted_at=row.submitted_at, graded_at=row.graded_at) is False
    assert result(submitted_at=row.submitted_at, graded_at="2026-10-24T09:59:59+00:00") is True  # an older grading
    assert result(submitted_at="2026-10-22T20:00:00", graded_at=row.graded_at) is True  # an older submission
    assert result(submitted_at=row.submitted_at) is False  # written before gradings were stamped
    (folder / "gradehub-result.json").write_text("[1, 2")
    assert needs_grading(course, sub, {("toy", "c1"): row}, force=False) is True
    assert needs_grading(course, sub, {}, force=False) is True
    (folder / "gradehub-result.json").unlink()
    assert needs_grading(course, sub, {("toy", "c1"): row}, force=False) is True
