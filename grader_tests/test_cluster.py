"""Grading on a Dask cluster: what travels to a node, the checks before a run, and a real cluster.

The cluster tests start a Dask scheduler and two workers as separate processes on loopback (as
`dask scheduler` / `dask worker` on grading nodes), grade a small class through
`gradehub autograde --cluster`, and SIGKILL a worker while it holds a submission: every student
must be graded exactly once, with the scores of a local run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import GOOD, REPO, put_submission, scores_of, solve, student_copy
from gradehub.cluster.transfer import (
    BlobStore,
    PortableRun,
    SubmittedFile,
    pack_job,
    read_submitted,
    unpack_job,
    unpack_run,
)
from gradehub.course import CourseError, load_course, parse_cluster_address
from gradehub.gradebook import open_gradebook, read_status
from gradehub.grading import _job, autograde, default_jobs
from gradehub.protocol import JobRun, NotebookRun
from gradehub.sanitize import read_untrusted_notebook

distributed = pytest.importorskip("distributed")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


# ----------------------------------------------------------------------------- what travels


@pytest.fixture(scope="module")
def shared_course(tmp_path_factory):
    """One released toy course for the tests that only read it (each uses its own students)."""
    import conftest

    return conftest.toy_course.__wrapped__(tmp_path_factory.mktemp("shared"))


def _toy_job(course, student):
    from gradehub.grading import find_submissions

    sub = next(s for s in find_submissions(course, "toy")[0] if s.student == student)
    return _job(course, sub, ["toy"], course.state_dir / "work" / student, "local", {}, 1, False)


def test_a_job_travels_without_host_paths_and_unpacks_on_a_node(shared_course, tmp_path):
    put_submission(shared_course, "alice", solve(student_copy(shared_course), GOOD))
    put_submission(shared_course, "bob", solve(student_copy(shared_course), GOOD))
    store = BlobStore()
    portable = [pack_job(_toy_job(shared_course, s), store) for s in ("alice", "bob")]
    # source and release travel once for the class, by content
    assert len(store.contents) == 2
    assert str(shared_course.root) not in json.dumps([p.job.to_json() for p in portable])
    job = unpack_job(portable[0], store.contents, tmp_path / "node")
    nb = job.notebooks[0]
    assert Path(nb.submitted).read_bytes() == (shared_course.submitted_dir("alice", "toy") / "toy.ipynb").read_bytes()
    assert Path(nb.source).read_bytes() == (shared_course.source_dir("toy") / "toy.ipynb").read_bytes()
    assert Path(job.out_dir).is_dir() and job.key == "alice/toy"


def test_a_students_variant_travels_with_the_job(shared_course, tmp_path):
    """Per-student variants: the node's sanitizer writes the variant the coordinator derived (a
    node has no course secret), so it must arrive unchanged."""
    import dataclasses

    put_submission(shared_course, "carol", solve(student_copy(shared_course), GOOD))
    variant = {"seed": 123456789, "values": [["TRUE_TAU", 2.2], ["N_EVENTS", 950]]}
    job = _toy_job(shared_course, "carol")
    job = dataclasses.replace(job, notebooks=[dataclasses.replace(nb, variant=variant) for nb in job.notebooks])
    store = BlobStore()
    portable = pack_job(job, store)
    unpacked = unpack_job(portable, store.contents, tmp_path / "node")
    assert [nb.variant for nb in unpacked.notebooks] == [variant]


def test_a_link_in_a_submission_is_never_followed(shared_course, tmp_path):
    """A student who submits a link to another student's notebook (or the gradebook) sends nothing."""
    put_submission(shared_course, "alice", solve(student_copy(shared_course), GOOD))
    victim = shared_course.submitted_dir("alice", "toy") / "toy.ipynb"
    mallory = shared_course.submitted_dir("mallory", "toy")
    mallory.mkdir(parents=True)
    (mallory / "toy.ipynb").symlink_to(victim)
    sent = read_submitted(mallory / "toy.ipynb", 2**20)
    assert sent == SubmittedFile(irregular=True)
    portable = pack_job(_toy_job(shared_course, "mallory"), BlobStore())
    assert victim.read_bytes() not in repr(portable).encode()
    # the node recreates "not a regular file", and the sanitizer there says what it says here
    store = BlobStore()
    job = unpack_job(pack_job(_toy_job(shared_course, "mallory"), store), store.contents, tmp_path / "n")
    assert read_untrusted_notebook(Path(job.notebooks[0].submitted), 2**20) == read_untrusted_notebook(
        mallory / "toy.ipynb", 2**20
    )


def test_odd_files_arrive_as_the_same_verdict(shared_course, tmp_path):
    """A fifo (a reader would block), an oversize file (never read whole), a directory."""
    cases = {}
    for student, make in {
        "fifo": lambda p: os.mkfifo(p),
        "huge": lambda p: p.write_bytes(b"{" + b" " * (3 * 2**20) + b"}"),
        "folder": lambda p: p.mkdir(),
    }.items():
        d = shared_course.submitted_dir(student, "toy")
        d.mkdir(parents=True)
        make(d / "toy.ipynb")
        cases[student] = d / "toy.ipynb"
    for student, path in cases.items():
        sent = read_submitted(path, 2**20)
        assert sent.content is None
        store = BlobStore()
        job = unpack_job(pack_job(_toy_job(shared_course, student), store), store.contents, tmp_path / student)
        there = Path(job.notebooks[0].submitted)
        assert read_untrusted_notebook(there, 2**20) == read_untrusted_notebook(path, 2**20), student
        assert there.is_symlink() or there.stat().st_blocks == 0  # the oversize file is sparse there


def test_a_node_answer_writes_only_the_jobs_own_notebooks(shared_course):
    put_submission(shared_course, "alice", solve(student_copy(shared_course), GOOD))
    job = _toy_job(shared_course, "alice")
    answer = PortableRun(
        JobRun("alice/toy", [NotebookRun("toy", "completed"), NotebookRun("../../../escape", "completed")]),
        {"toy.ipynb": b"{}", "toy.records.json": b"{}", "../../../escape.ipynb": b"x"},
    )
    run = unpack_run(answer, job)
    assert [nb.name for nb in run.notebooks] == ["toy"]
    assert sorted(p.name for p in Path(job.out_dir).iterdir()) == ["toy.ipynb", "toy.records.json"]
    assert not list(shared_course.root.parent.rglob("escape*"))


# ----------------------------------------------------------------------------- settings


def test_cluster_setting_is_validated(tmp_path):
    from conftest import TOY_COURSE_TOML

    toml = tmp_path / "course.toml"
    base = TOY_COURSE_TOML
    toml.write_text(base + '\n[grading]\ncluster = "tcp://grader1.example.org"\n')
    assert load_course(tmp_path).grading.cluster == "tcp://grader1.example.org:8786"
    for bad, words in (
        ('cluster = "http://grader1:8786"', "not a Dask scheduler address"),
        ('cluster = "tcp://grader1:8786\\n"', "not a Dask scheduler address"),
        ('cluster = "tcp://grader1:70000"', "not a Dask scheduler address"),
        ("cluster = 8786", "expected str"),
        ('clsuter = "tcp://a:1"', "unknown key(s) 'clsuter'"),
    ):
        toml.write_text(base + f"\n[grading]\n{bad}\n")
        with pytest.raises(CourseError, match=None) as err:
            load_course(tmp_path)
        assert "[grading]" in str(err.value) and words in str(err.value), bad
    assert parse_cluster_address("tls://[::1]:9000") == "tls://[::1]:9000"


def test_default_jobs_is_one_more_than_cores_on_an_idle_machine():
    assert [default_jobs(c) for c in (1, 2, 4, 16)] == [2, 3, 5, 17]
    assert [default_jobs(c, load=0.9) for c in (1, 2, 16)] == [2, 3, 17]
    # other work already fills the gaps a container start leaves: no extra job
    assert [default_jobs(c, load=l) for c, l in ((1, 1.0), (2, 4.0), (16, 30.0))] == [1, 2, 16]
    assert default_jobs(0) == 2  # os.cpu_count() may say nothing


def test_an_unreachable_scheduler_is_a_one_line_error(shared_course, capsys):
    """From --cluster, and from [grading] cluster in course.toml when the command names none."""
    import dask

    from gradehub.cli import main

    toml = shared_course.root / "course.toml"
    before = toml.read_text()
    toml.write_text(before + '\n[grading]\ncluster = "tcp://127.0.0.1:7"\n')
    try:
        for flag, address in ((["--cluster", "tcp://127.0.0.1:9"], "tcp://127.0.0.1:9"), ([], "tcp://127.0.0.1:7")):
            with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
                code = main(["autograde", "toy", "--course-root", str(shared_course.root), *flag, "--sandbox", "local"])
            said = " ".join(capsys.readouterr().err.split())
            assert code == 2, said
            assert f"cannot reach the Dask scheduler at {address}" in said
            assert "Traceback" not in said
    finally:
        toml.write_text(before)


# ----------------------------------------------------------------------------- a real cluster


class Cluster:
    """A scheduler and two workers, separate processes on loopback (as on grading nodes)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen] = {}
        sched_file = tmp / "scheduler.json"
        self._start("scheduler", [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", "0", "--no-dashboard", "--scheduler-file", str(sched_file)])
        deadline = time.monotonic() + 60
        while not sched_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.address = json.loads(sched_file.read_text())["address"]
        for name in ("node1", "node2"):
            self._start(name, [sys.executable, "-m", "distributed.cli.dask_worker", self.address, "--name", name,
                               "--nthreads", "1", "--no-nanny", "--no-dashboard"])
        self.client = distributed.Client(self.address, timeout=30, set_as_default=False)
        self.client.wait_for_workers(2, timeout=60)

    def _start(self, name: str, argv: list[str]) -> None:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - kept open for the process
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=log, env=_env(), start_new_session=True)

    def worker_pids(self) -> dict[str, int]:
        return self.client.run(os.getpid)

    def stop(self) -> None:
        self.client.close()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.tmp.glob("*.log"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("dask"))
    yield c
    c.stop()


SLOW = "import time\ntime.sleep(2.5)\ndef add(a, b):\n    return a + b"  # an honest, slow student (cell limit 4 s)


def _class(course) -> dict[str, dict]:
    variants = {
        "s1": {},
        "s3": {"add": SLOW},
        "s4": {"add": SLOW, "square": "def square(x):\n    return x ** 3"},
        "s5": {"add": "import os\nos._exit(3)"},
    }
    for student, answers in variants.items():
        put_submission(course, student, solve(solve(student_copy(course), GOOD), answers))
    return variants


def _autograde_cli(course, *extra, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "gradehub.cli", "autograde", "toy", "--course-root", str(course.root), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), **kw,
    )


def _graded_once(course, students):
    """Every student has one status row, one gradebook submission and one autograded folder that agree."""
    with open_gradebook(course) as gb:
        status = read_status(gb, "toy")
        subs = [s.student.id for s in gb.assignment_submissions("toy")]
    assert sorted(subs) == sorted(students)
    assert sorted(k[1] for k in status) == sorted(students)
    for student in students:
        result = json.loads((course.autograded_dir(student, "toy") / "gradehub-result.json").read_text())
        assert result["graded_at"] == status[("toy", student)].graded_at, student


@pytest.mark.slow
def test_a_class_graded_on_two_nodes_with_one_killed_mid_job(cluster, toy_course, tmp_path):
    variants = _class(toy_course)
    local = toy_course.root.parent / "local-course"
    shutil.copytree(toy_course.root, local)
    autograde(load_course(local), "toy", jobs=2, sandbox="local")

    pids = cluster.worker_pids()
    run = _autograde_cli(toy_course, "--cluster", cluster.address, "--sandbox", "local")
    killed = None
    deadline = time.monotonic() + 90
    while killed is None and run.poll() is None and time.monotonic() < deadline:
        for worker, keys in cluster.client.processing().items():
            if any(str(k).startswith("grade-toy-s3") or str(k).startswith("grade-toy-s4") for k in keys):
                os.kill(pids[worker], signal.SIGKILL)  # it holds a slow student's job, and runs one now
                killed = (worker, keys)
                break
        time.sleep(0.05)
    out, err = run.communicate(timeout=240)
    assert killed, "no worker held a slow submission while the class was graded\n" + cluster.logs()
    assert run.returncode == 0, err + cluster.logs()
    # progress and summary as in a local run: four graded, the summary table on stdout
    assert "4/4" in err and "toy: 4 graded, 0 already up to date, sandbox local" in out
    assert "on the Dask cluster" in out
    _graded_once(toy_course, list(variants))
    assert scores_of(toy_course) == scores_of(load_course(local)), out
    mine = {s: json.loads((toy_course.autograded_dir(s, "toy") / "gradehub-result.json").read_text()) for s in variants}
    theirs = {s: json.loads((load_course(local).autograded_dir(s, "toy") / "gradehub-result.json").read_text())
              for s in variants}
    for s in variants:
        assert (mine[s]["status"], mine[s]["score"], mine[s]["message"]) == (
            theirs[s]["status"], theirs[s]["score"], theirs[s]["message"]), s
    assert mine["s5"]["status"] == "failed"  # os._exit: the kernel died, not the node
    # the surviving node took the killed node's job; the cluster is still usable
    assert len(cluster.client.scheduler_info()["workers"]) == 1


@pytest.mark.slow
@pytest.mark.docker
def test_the_docker_sandbox_on_a_node(cluster, toy_course):
    """The Docker path: a node starts the grader container itself, with its own engine."""
    from gradehub.cluster.runner import ClusterUnavailable, DaskRunner
    from gradehub.sandbox.base import SandboxUnavailable, get_sandbox

    try:
        get_sandbox("docker").preflight()
    except SandboxUnavailable as exc:
        pytest.skip(f"no Docker sandbox here: {exc}")
    put_submission(toy_course, "d1", solve(student_copy(toy_course), GOOD))
    port = int(cluster.address.rsplit(":", 1)[1])
    probe = (  # scores full marks only if the scheduler is out of reach from the kernel
        "import socket\nreached = []\n"
        f"for host in ('127.0.0.1', '172.17.0.1'):\n"
        "    try:\n"
        f"        socket.create_connection((host, {port}), 2).close(); reached.append(host)\n"
        "    except OSError:\n        pass\n"
        "def square(x):\n    return 0 if reached else x * x"
    )
    put_submission(toy_course, "d2", solve(student_copy(toy_course), {**GOOD, "square": probe}))
    # a node without the image is refused before anything is graded, by its address
    with pytest.raises(ClusterUnavailable, match=r"grading node tcp://127\.0\.0\.1:\d+: image gradehub/none:0"):
        DaskRunner(cluster.address).preflight("docker", {"image": "gradehub/none:0"})
    run = _autograde_cli(toy_course, "--cluster", cluster.address, "--sandbox", "docker")
    out, err = run.communicate(timeout=240)
    assert run.returncode == 0, err + cluster.logs()
    _graded_once(toy_course, ["d1", "d2"])
    scores = scores_of(toy_course)
    assert scores["d1"] == {"square_tests": 2.0, "add_tests": 1.0, "explain": None}
    assert scores["d2"] == scores["d1"]  # no network in the container: the scheduler is out of reach
    result = json.loads((toy_course.autograded_dir("d1", "toy") / "gradehub-result.json").read_text())
    assert result["sandbox"] == "docker"
    assert all(nb["outcome"] == "completed" for nb in result["notebooks"])

