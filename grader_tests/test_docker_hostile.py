"""Hostile submissions graded for real in the docker sandbox (CI: .ci/docker-setup.sh first).

One class, graded once with ``autograde(course, "toy", sandbox="docker", jobs=2)``: a fork
bomb, a memory bomb, an infinite loop, a sleep past the time limits with SIGINT ignored, a
network attempt, a search of the filesystem for the gradebook and the source notebooks,
writes outside the job dir, huge output, ``os._exit``, a segfault, and honest students in
between. Each attack sits in the ``add`` answer cell after a correct ``square``; where an
attack could only be *observed* (network, snooping, writing), ``add`` is correct only if
the attack succeeded, so a contained attack scores 0 there. The honest students must score
exactly what they score when graded alone.

Skips (with what is missing) when no Docker engine answers or the grader image is absent.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import GOOD, put_submission, scores_of, solve, student_copy
from gradehub.course import format_size
from gradehub.grading import autograde

pytestmark = [pytest.mark.docker, pytest.mark.slow]

FULL = {"square_tests": 2.0, "add_tests": 1.0, "explain": None}


@pytest.fixture(scope="module")
def engine():
    """The docker engine, after the same preflight `gradehub autograde` runs; else skip."""
    from gradehub.sandbox.base import SandboxUnavailable, get_sandbox
    try:
        get_sandbox("docker").preflight()
    except SandboxUnavailable as exc:
        pytest.skip(f"docker sandbox not available here: {exc}")
    from gradehub.sandbox.docker import get_engine
    return get_engine()


def _gradehub_containers(client) -> list[str]:
    return [c["Names"][0] for c in client.list_containers({"label": "gradehub=1"})]


@pytest.fixture
def listener():
    """A TCP server on all host addresses: the network student must never reach it."""
    server = socket.socket()
    server.bind(("0.0.0.0", 0))
    server.listen(8)
    server.settimeout(0.2)
    hits: list = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, addr = server.accept()
                hits.append(addr)
                conn.close()
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    addresses = {"127.0.0.1"}
    try:
        addresses |= {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    except OSError:
        pass
    yield server.getsockname()[1], sorted(addresses), hits
    stop.set()
    thread.join(2)
    server.close()


def _attack(body: str) -> str:
    """An `add` answer: correct only if `PWNED` ends up true (the attack worked)."""
    return ("PWNED = False\n" + body +
            "\ndef add(a, b):\n    return a + b if PWNED else a - b\n")


def _hostile_class(course, port, host_addrs):
    targets = [("1.1.1.1", 53), ("8.8.8.8", 443)] + [(a, port) for a in host_addrs]
    course_root = str(course.root)
    attacks = {
        # runs out the process limit; every child spins on
        "b_forkbomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
        # touches memory until the container's limit
        "d_membomb": "hoard = []\nwhile True:\n    hoard.append(b'\\x01' * (64 * 2**20))",
        # the cell is interrupted at the cell limit; `add` was defined before the loop
        "f_loop": "def add(a, b):\n    return a + b\nwhile True:\n    pass",
        # ignores the interrupt and sleeps past every limit
        "h_sleeper": "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(3600)",
        "j_network": _attack(
            "import socket\n"
            f"for target in {targets!r}:\n"
            "    try:\n"
            "        socket.create_connection(target, timeout=2).close()\n"
            "        PWNED = True\n"
            "    except OSError:\n"
            "        pass"),
        "l_snoop": _attack(
            "import os\n"
            f"PWNED = os.path.exists({course_root!r}) or os.path.exists('/var/run/docker.sock')\n"
            "for top, dirs, files in os.walk('/'):\n"
            "    if top.startswith(('/proc', '/sys', '/dev')):\n"
            "        dirs[:] = []\n"
            "        continue\n"
            "    if 'gradebook.db' in files or 'course.toml' in files or 'toy.ipynb' in files:\n"
            "        PWNED = True\n"
            "    if os.path.basename(top) == 'source' and 'toy' in dirs:\n"
            "        PWNED = True"),
        "n_writer": _attack(
            "import os, glob\n"
            "for path in ['/etc/gradehub-pwned', '/usr/gradehub-pwned', '/home/gradehub-pwned',\n"
            "             '/root/gradehub-pwned', '/opt/gradehub-pwned', '/var/gradehub-pwned',\n"
            "             os.path.join(os.path.dirname(os.getcwd()), 'gradehub-pwned-host-tmp'),\n"
            "             *[p + '/gradehub-pwned' for p in glob.glob('/usr/lib/python3*/site-packages')],\n"
            "             *[p + '/gradehub-pwned' for p in glob.glob('/opt/*/lib/python3*/site-packages')]]:\n"
            "    try:\n"
            "        with open(path, 'w') as f:\n"
            "            f.write('x')\n"
            "        PWNED = PWNED or not path.startswith('/tmp/')\n"
            "    except OSError:\n"
            "        pass"),
        # huge output through Python and straight to the file descriptor; otherwise honest
        "p_shout": "def add(a, b):\n    return a + b\nimport os\nprint('x' * 10**7)\n"
                   "for i in range(50000):\n    print(i)\nos.write(1, b'y' * 10**7)",
        "r_exit": "def add(a, b):\n    return a + b\nimport os\nos._exit(3)",
        "t_segfault": "def add(a, b):\n    return a + b\nimport ctypes\nctypes.string_at(0)",
    }
    for student, code in attacks.items():
        put_submission(course, student, solve(student_copy(course), {**GOOD, "add": code}))
    honest = {"a_good": GOOD, "c_good": GOOD, "e_wrong": {**GOOD, "add": "def add(a, b):\n    return a - b"},
              "g_good": GOOD, "k_good": GOOD, "q_good": GOOD}
    for student, answers in honest.items():
        put_submission(course, student, solve(student_copy(course), answers))
    return attacks, honest


def _roomier(course, cell_timeout=10, notebook_timeout=40):
    """The toy limits with more room: an honest student on a loaded 2-core CI machine (one
    container start, numpy, a 64 KiB output cap to fill) must not brush a time limit."""
    from gradehub.course import load_course
    toml = course.root / "course.toml"
    text = re.sub(r"(?m)^cell_timeout = .*$", f"cell_timeout = {cell_timeout}", toml.read_text())
    text = re.sub(r"(?m)^notebook_timeout = .*$", f"notebook_timeout = {notebook_timeout}", text)
    toml.write_text(text)
    return load_course(course.root)


def test_hostile_class_in_docker(engine, toy_course, tmp_path, listener):
    port, host_addrs, hits = listener
    toy_course = _roomier(toy_course)
    alone_root = tmp_path / "alone"
    shutil.copytree(toy_course.root, alone_root)            # released, nothing submitted yet
    attacks, honest = _hostile_class(toy_course, port, host_addrs)

    started = time.monotonic()
    summary = autograde(toy_course, "toy", sandbox="docker", jobs=2)
    took = time.monotonic() - started
    results = {r.student: r for r in summary.results}
    print(f"\nhostile class: {len(results)} submissions in {took:.1f} s (jobs=2)")
    for r in summary.results:
        print(f"  {r.student:12s} {r.status:12s} {r.score:g}/{r.max_score:g} {r.duration:5.1f} s  {r.message}")

    assert set(results) == set(attacks) | set(honest)
    assert not summary.platform_failed, [r.message for r in summary.results if r.platform_error]
    scores = scores_of(toy_course)
    assert not _gradehub_containers(engine), "containers left behind"
    assert not hits, f"the network student reached the host listener from {hits}"

    # contained, with a status a student can read
    def check(student, *phrases, add=0.0, square=2.0):
        r = results[student]
        assert r.status != "error" and r.message, (student, r.status, r.message)
        for phrase in phrases:
            assert phrase in r.message, (student, r.message)
        assert scores[student]["square_tests"] == square, (student, scores[student])
        assert scores[student]["add_tests"] == add, (student, scores[student])

    # The fork bomb ends in one of three ways, all contained: its copies of the kernel dirty
    # their pages until the memory limit; or the starved kernel cannot answer the interrupt;
    # or the notebook's wall limit.
    check("b_forkbomb")
    assert results["b_forkbomb"].status == "failed"
    assert any(phrase in results["b_forkbomb"].message for phrase in
               ("did not stop when interrupted", "(notebook time limit)", "out of memory")), \
        results["b_forkbomb"].message
    # (the cell named is where the kernel was when the engine's OOM killer struck)
    check("d_membomb", "out of memory in cell", f"(limit {format_size(toy_course.limits.memory_bytes)})")
    check("f_loop", "cell `add`", "cell time limit", add=1.0)
    check("h_sleeper")
    assert results["h_sleeper"].status == "failed"
    assert "did not stop when interrupted" in results["h_sleeper"].message or \
        "(notebook time limit)" in results["h_sleeper"].message, results["h_sleeper"].message
    check("j_network")               # connections failed: `add` is wrong
    check("l_snoop")                 # nothing of the course visible: `add` is wrong
    check("n_writer")                # nothing outside /tmp and HOME writable: `add` is wrong
    check("p_shout", add=1.0)
    assert any("output was cut" in n for n in results["p_shout"].notes), results["p_shout"].notes
    check("r_exit", "the kernel died in cell `add`", "exit code 3")
    check("t_segfault", "the kernel died in cell `add`", "SIGSEGV")
    for student in attacks:
        assert results[student].status == "failed" or student in ("j_network", "l_snoop", "n_writer", "p_shout")

    # the honest students: exactly as when graded alone
    from gradehub.course import load_course
    alone = load_course(alone_root)
    for student, answers in honest.items():
        put_submission(alone, student, solve(student_copy(alone), answers))
    for student in honest:
        autograde(alone, "toy", students=[student], sandbox="docker", jobs=1)
    alone_scores = scores_of(alone)
    for student in honest:
        assert scores[student] == alone_scores[student], (student, scores[student], alone_scores[student])
    assert scores["a_good"] == FULL
    assert scores["e_wrong"]["add_tests"] == 0.0
    assert not _gradehub_containers(engine)


def _wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def test_sigkilled_run_leaves_no_strays_after_the_rerun(engine, toy_course, tmp_path):
    """SIGKILL `gradehub autograde` mid-run; the next run removes its containers and finishes."""
    toy_course = _roomier(toy_course)
    from gradehub.sandbox.base import SandboxUnavailable, get_sandbox
    try:
        get_sandbox("docker").preflight()   # again: gradehub's sources may have changed since
    except SandboxUnavailable as exc:
        pytest.skip(f"docker sandbox not available here: {exc}")
    stuck = solve(student_copy(toy_course), {**GOOD, "add": "import time\ntime.sleep(3)\n"
                                                             "def add(a, b):\n    return a + b"})
    for student in ("alice", "bob", "carol"):
        put_submission(toy_course, student, stuck)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "first-run.log"
    with open(log, "wb") as out:
        run = subprocess.Popen([sys.executable, "-m", "gradehub.cli", "autograde", "toy", "--sandbox", "docker",
                                "--jobs", "2", "--course-root", str(toy_course.root)],
                               stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        assert _wait_for(lambda: _gradehub_containers(engine) or run.poll() is not None, 60) \
            and run.poll() is None, f"no container started:\n{log.read_text()[-2000:]}"
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(10)
    # the workers die with the grading process; their containers are strays now
    strays = _gradehub_containers(engine)
    rerun = subprocess.run([sys.executable, "-m", "gradehub.cli", "autograde", "toy", "--sandbox", "docker",
                            "--jobs", "2", "--course-root", str(toy_course.root)],
                           capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert not _gradehub_containers(engine), f"left behind (before the rerun: {strays})"
    scores = scores_of(toy_course)
    assert {s: scores[s] for s in ("alice", "bob", "carol")} == {s: FULL for s in ("alice", "bob", "carol")}
