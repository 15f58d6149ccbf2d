"""Conformance: nbgrader's own example course scores the same under gradehub as under nbgrader.

The course ships inside the nbgrader package (docs/source/user_guide: source/ps1 with the
submissions of bitdiddle and hacker). nbgrader grades it with its sequential, unsandboxed
``nbgrader autograde``; gradehub grades the same files through its pipeline.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbgrader
import pytest

from conftest import REPO
from gradehub.course import load_course
from gradehub.grading import autograde
from gradehub.release import release

pytestmark = pytest.mark.slow
USER_GUIDE = Path(nbgrader.__file__).parent / "docs" / "source" / "user_guide"
STUDENTS = ("bitdiddle", "hacker")


def _course_root(root: Path) -> Path:
    (root / "source").mkdir(parents=True)
    shutil.copytree(USER_GUIDE / "source" / "ps1", root / "source" / "ps1")
    for student in STUDENTS:
        shutil.copytree(USER_GUIDE / "submitted" / student / "ps1", root / "submitted" / student / "ps1")
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "course.toml").write_text(
        '[course]\nid = "nat3008"\n\n[limits]\ncell_timeout = 60\nnotebook_timeout = 120\n\n'
        '[[assignment]]\nid = "ps1"\ntitle = "nbgrader example"\n')
    return root


def _scores(db: Path) -> dict:
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{db}", course_id="nat3008") as gb:
        return {(s.student.id, nb.name, g.name): g.auto_score
                for s in gb.assignment_submissions("ps1") for nb in s.notebooks for g in nb.grades}


@pytest.fixture(scope="module")
def nbgrader_scores(tmp_path_factory):
    root = _course_root(tmp_path_factory.mktemp("nbgrader"))
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    for args in (["generate_assignment", "ps1", "--force"],
                 ["db", "student", "add", "bitdiddle"], ["db", "student", "add", "hacker"],
                 ["autograde", "ps1", "--force"]):
        proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
    return _scores(root / "gradebook.db")


def test_gradehub_scores_like_nbgrader(tmp_path, nbgrader_scores):
    course = load_course(_course_root(tmp_path / "gradehub"))
    release(course, "ps1")
    summary = autograde(course, "ps1", jobs=2, sandbox="local")
    assert not summary.platform_failed and len(summary.results) == 2
    # nbgrader's tests are asserts in the kernel: every point they give is reported as unverified
    for result in summary.results:
        auto = [v for v in result.verdicts if v.kind != "manual"]
        assert auto and {v.kind for v in auto} == {"unverified"}
        assert result.unverified_points == sum(v.points or 0 for v in auto)
        if result.unverified_points:
            assert any("unverified" in n for n in result.notes)
    ours = _scores(course.root / "gradebook.db")
    assert set(ours) == set(nbgrader_scores)
    assert ours == nbgrader_scores
    # the example has both full and partial scores, so agreement is not trivial
    assert len({v for v in ours.values() if v is not None}) > 1
