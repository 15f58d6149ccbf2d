"""The command line: documented, thin, and every bad input is a message, not a traceback."""

import os
import re
import subprocess
import sys

import pytest

from conftest import GOOD, REPO, put_submission, solve, student_copy
from gradehub.cli import build_parser, main


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(sub.choices)


def test_every_command_is_in_the_readme():
    readme = (REPO / "README.md").read_text()
    missing = [c for c in _commands() if not re.search(rf"`gradehub {c}\b", readme)]
    assert missing == []


def test_readme_names_the_two_commands():
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()


def _gradehub(*args, cwd=REPO, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "gradehub.cli", *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.mark.parametrize("args, words", [
    (["release", "week99"], "unknown assignment 'week99'"),
    (["report", "--course-root", "/nonexistent"], "is not a gradehub course root"),
])
def test_errors_are_one_line_with_exit_code_2(args, words):
    proc = _gradehub(*args)
    assert proc.returncode == 2
    assert words in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("url, words", [
    ("nonsense", "is not a database URL"),
    ("mysql://u:secret@127.0.0.1/gb", "needs the database driver"),            # no MySQL driver installed
    ("postgresql+psycopg2://u:secret@127.0.0.1:1/gb", "cannot use the gradebook database"),  # nothing listens
])
def test_a_bad_gradebook_url_is_one_line_without_the_password(toy_course, url, words):
    proc = _gradehub("report", "--course-root", str(toy_course.root), "--output", str(toy_course.root / "r"),
                     env={"GRADEHUB_GRADEBOOK_URL": url})
    assert proc.returncode == 2, proc.stderr
    said = " ".join(proc.stderr.split())
    assert words in said and "Traceback" not in said and "secret" not in said


def test_typo_in_course_file_is_reported(toy_course):
    path = toy_course.root / "course.toml"
    path.write_text(path.read_text().replace("cell_timeout", "cel_timeout"))
    proc = _gradehub("autograde", "toy", "--course-root", str(toy_course.root), "--sandbox", "local")
    assert proc.returncode == 2 and "unknown key(s) 'cel_timeout'" in proc.stderr


def test_docker_sandbox_without_engine_is_a_clear_error(toy_course):
    proc = _gradehub("autograde", "toy", "--course-root", str(toy_course.root), "--sandbox", "docker",
                     env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert proc.returncode == 2
    assert "docker" in proc.stderr.lower() and "Traceback" not in proc.stderr


def test_default_sandbox_says_why_it_falls_back_to_local(toy_course):
    proc = _gradehub("autograde", "toy", "--course-root", str(toy_course.root),
                     env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert proc.returncode == 0, proc.stderr
    said = " ".join((proc.stdout + proc.stderr).split())
    assert "sandbox: local" in said
    assert re.search(r"not using docker: .*(engine|docker)", said, re.I), said


def test_an_engine_without_the_grader_image_stops_grading_instead_of_falling_back(toy_course, monkeypatch, capsys):
    """Real grading never drops to the unsandboxed backend just because the image is missing."""
    from gradehub.sandbox import docker as docker_sandbox
    from gradehub.sandbox.base import SandboxUnavailable

    def no_image(self):
        raise SandboxUnavailable("image gradehub/grader:latest not found: run `gradehub images build --offline`")
    monkeypatch.setattr(docker_sandbox, "ping_engine", lambda: None)           # an engine answers
    monkeypatch.setattr(docker_sandbox.DockerSandbox, "preflight", no_image)
    assert main(["autograde", "toy", "--course-root", str(toy_course.root)]) == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "gradehub images build" in said and "sandbox: local" not in said


def test_local_autograde_help_says_it_does_not_isolate():
    help_text = build_parser()._subparsers._group_actions[0].choices["autograde"].format_help()
    assert "does NOT isolate the filesystem" in " ".join(help_text.split())


@pytest.mark.slow
def test_autograde_and_report_through_the_cli(toy_course, tmp_path):
    put_submission(toy_course, "alice", solve(student_copy(toy_course), GOOD))
    put_submission(toy_course, "bob", "{broken")
    root = str(toy_course.root)
    proc = _gradehub("autograde", "toy", "--course-root", root, "--sandbox", "local", "-j", "2")
    assert proc.returncode == 0, proc.stderr
    assert "alice" in proc.stdout and "invalid" in proc.stdout and "not valid JSON" in proc.stdout
    assert main(["report", "--course-root", root, "--output", str(tmp_path)]) == 0
    csv = (tmp_path / "grades.csv").read_text()
    assert "alice" in csv and (tmp_path / "grades.xlsx").stat().st_size > 0


@pytest.mark.slow
def test_the_readmes_first_command_runs_the_whole_pipeline(tmp_path):
    """`make demo` is `gradehub demo`: a synthetic class released, submitted, collected, graded
    (Docker when an engine answers, as in CI) and reported, with every kind of student in it."""
    root = tmp_path / "demo"
    # week01 has per-student variants: a reference run per student doubles the kernel runs
    # (262 s in Docker at load 5-7 on the 2-core development machine)
    proc = _gradehub("demo", "--course-root", str(root), "--students", "30", timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("grades.csv", "grades.xlsx", "report.html"):
        assert (root / "reports" / name).stat().st_size > 0
    said = " ".join(proc.stdout.split())
    counts = {m[0]: int(m[1]) for m in re.findall(r"│ ([a-z][a-z ]*?) +│ +(\d+) │", proc.stdout)}
    for status in ("graded", "failed", "invalid", "missing", "needs manual grading"):
        assert counts.get(status, 0) >= 1, counts
    assert sum(counts.values()) == 30
    assert re.search(r"class mean \d+\.\d\d of 19 points", said)
    # week01 has per-student variants: the copiers handed in a neighbour's notebook and lost Part 7
    assert re.search(r"copied submissions: ([1-9]\d*) of \1 lost the points of their own measurement", said), said[-2000:]
