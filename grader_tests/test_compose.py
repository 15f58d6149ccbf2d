"""`docker compose up`, for real: docker-compose.yml with docker-compose.offline.yml brings up
PostgreSQL and the hub image, the hub answers /hub/health, a demo account logs in, the hub's
database and the gradebook are PostgreSQL databases, and the containerised hub spawns a student
server from gradehub/notebook through DockerSpawner on the stack's own network.

The stack comes up once for the module (fixture `running`) and a second test reuses it: the short
version of the deadline load test (benchmarks/bench_deadline.py, locust, in a process of its own):
30 roster students log in through the form, fetch and submit within the same seconds, and
nothing is lost, duplicated or filed under another name, on disk and after `gradehub collect`.

Everything is the stack's own: project name, network, host ports on 127.0.0.1, volumes, and a
course folder with one sheet; `down -v` removes it all, also when a test fails. The hub image
is `gradehub/hub:test`, the tag test_hub_docker.py builds (a cache hit for whichever runs
second; GRADEHUB_TEST_HUB_TAG names another, for engineers sharing one engine); PostgreSQL is
the stand-in of docker-compose.offline.yml (built by compose if missing).

Compose: `docker compose` (v2), else `docker-compose` (v2 standalone, or Debian 12's 1.29);
GRADEHUB_COMPOSE names another command. Skips, naming what is missing, without an engine,
compose, an image or the hub wheelhouse; in CI (CI set), which installs and builds all of them
(.ci/docker-setup.sh, .ci/hub-setup.sh), each of these fails the test instead.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import time

import pytest

from hubtools import (
    REPO,
    ROSTER,
    api_token,
    docker_client,
    free_port,
    login,
    make_course,
    need_singleuser,
    start_server,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1200)]

NOTEBOOK = "gradehub/notebook:latest"
STANDIN = "gradehub/standin-bookworm:latest"
HUB_TAG = os.environ.get("GRADEHUB_TEST_HUB_TAG", "test")   # gradehub/hub:test, as in test_hub_docker.py
WHEELHOUSE = REPO / ".gradehub" / "wheels-hub"
FILES = [REPO / "docker-compose.yml", REPO / "docker-compose.offline.yml"]


def compose_command() -> list[str] | None:
    """How compose is run here, or None."""
    if os.environ.get("GRADEHUB_COMPOSE"):
        return shlex.split(os.environ["GRADEHUB_COMPOSE"])
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for argv in candidates:
        if subprocess.run([*argv, "version"], capture_output=True).returncode == 0:
            return argv
    return None


def missing(message: str):
    """Skip here; in CI (which installs and builds everything) fail instead."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the compose test: {message}")
    pytest.skip(message)


class Stack:
    """One compose project, driven through the compose command line."""

    def __init__(self, argv: list[str], project: str, env_file, override):
        self.argv = [*argv, "--project-name", project, "--env-file", str(env_file),
                     *[a for f in [*FILES, override] for a in ("-f", str(f))]]
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("GRADEHUB_", "JUPYTERHUB_", "COMPOSE_"))}

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([*self.argv, *args], capture_output=True, text=True, env=self.env,
                              cwd=REPO, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def exec(self, service: str, *command: str) -> str:
        return self.run("exec", "-T", service, *command, timeout=120).stdout

    def logs(self, tail: int = 80) -> str:
        proc = self.run("logs", "--no-color", "--tail", str(tail), timeout=60, check=False)
        return proc.stdout + proc.stderr


def _containers(client, **filters) -> list:
    """Containers matching ``filters``, skipping any that go away while listed (DockerSpawner
    removes a stopped server's container on its own)."""
    import docker.errors
    out = []
    for summary in client.api.containers(all=True, filters=filters):
        try:
            out.append(client.containers.get(summary["Id"]))
        except docker.errors.NotFound:
            pass
    return out


@pytest.fixture(scope="module")
def client():
    return docker_client()


LOAD_STUDENTS = [f"ld{i:04d}" for i in range(1, 31)]      # the deadline load test's students
LOAD_ROSTER = ROSTER + "".join(f"{s},Load,{s.upper()},{s}@example.org,{'AB'[i % 2]}\n"
                               for i, s in enumerate(LOAD_STUDENTS))


class Running:
    """The stack the tests of this module share (up once: the load test reuses the platform test's)."""

    def __init__(self, stack, client, url, project, network, home, env_file, override, course):
        self.stack, self.client, self.url, self.project = stack, client, url, project
        self.network, self.home, self.env_file, self.override, self.course = network, home, env_file, override, course


@pytest.fixture(scope="module")
def running(client, tmp_path_factory, request):
    import docker.errors
    import requests

    argv = compose_command()
    if argv is None:
        missing("no compose: neither `docker compose` nor `docker-compose` runs "
                    "(apt-get install docker-compose; CI: .ci/docker-setup.sh)")
    for tag, how in ((STANDIN, "gradehub images build --offline"),
                     (NOTEBOOK, "gradehub images build --offline (images/notebook)")):
        try:
            client.images.get(tag)
        except docker.errors.ImageNotFound:
            missing(f"image {tag} is missing: {how}")
    need_singleuser(client, NOTEBOOK)
    from gradehub.hub.image import build_hub_image
    if not any(WHEELHOUSE.glob("jupyterhub-*.whl")):
        missing(f"the hub wheelhouse {WHEELHOUSE} is empty: run .ci/hub-setup.sh")

    tmp_path = tmp_path_factory.mktemp("compose")
    timings = {}
    t = time.monotonic()
    build_hub_image(tag=f"gradehub/hub:{HUB_TAG}", base_image=STANDIN, wheelhouse=WHEELHOUSE, log=lambda line: None)
    timings["hub image"] = time.monotonic() - t

    project = f"ghtest{secrets.token_hex(4)}"
    network = f"{project}-net"
    home = f"{project}-home-"
    port, db_port = free_port(), free_port()
    course = make_course(tmp_path / "course", roster=LOAD_ROSTER, sheets=("week01",))
    # week01 has per-student variants: in the stack the secret lives in the hub's secrets volume
    # (course.toml's default path, ~ = /root in the hub container), made once after `up` as the
    # README says; the host path make_course chose is not in the container
    toml = course / "course.toml"
    toml.write_text(re.sub(r'(?m)^secret = ".*"$', 'secret = "~/.gradehub/nat3008.secret"', toml.read_text()))
    env_file = tmp_path / "compose.env"
    env_file.write_text("\n".join([
        f"GRADEHUB_DB_PASSWORD={secrets.token_hex(12)}",
        f"JUPYTERHUB_CRYPT_KEY={secrets.token_hex(32)}",
        "GRADEHUB_BIND=127.0.0.1",
        f"GRADEHUB_PORT={port}",
        f"GRADEHUB_DB_PORT={db_port}",
        f"GRADEHUB_COURSE_DIR={course}",
        f"GRADEHUB_NETWORK={network}",
        'GRADEHUB_INSTRUCTORS=["prof"]',
        "GRADEHUB_DEMO=true",
        f"GRADEHUB_NOTEBOOK_IMAGE={NOTEBOOK}",
        "GRADEHUB_OFFER_PROFILES=no",
        f"GRADEHUB_TAG={HUB_TAG}",
    ]) + "\n")
    # what only a test wants: its own home volumes, small limits, no culler or formgrader
    override = tmp_path / "compose.test.yml"
    override.write_text(json.dumps({"services": {"hub": {"environment": {
        "GRADEHUB_HUB__SPAWNER__HOME_VOLUME": home + "{username}",
        "GRADEHUB_HUB__SPAWNER__MEM_LIMIT": "1GiB",
        "GRADEHUB_HUB__SPAWNER__START_TIMEOUT": "300",
        "GRADEHUB_HUB__SPAWNER__HTTP_TIMEOUT": "300",
        "GRADEHUB_HUB__CULLER__ENABLED": "false",
        "GRADEHUB_HUB__FORMGRADER__ENABLED": "false",
    }}}}))
    stack = Stack(argv, project, env_file, override)
    url = f"http://127.0.0.1:{port}/"
    failed_before = request.session.testsfailed
    try:
        t = time.monotonic()
        stack.run("up", "-d")
        deadline = time.monotonic() + 300
        while True:
            try:
                if requests.get(url + "hub/health", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            hub = _containers(client, label=[f"com.docker.compose.project={project}", "com.docker.compose.service=hub"])
            assert hub and hub[0].attrs["RestartCount"] == 0 and hub[0].status in ("created", "running"), \
                f"the hub container stopped ({[(c.status, c.attrs['RestartCount']) for c in hub]}):\n{stack.logs()}"
            assert time.monotonic() < deadline, f"the hub did not answer /hub/health in 300 s:\n{stack.logs()}"
            time.sleep(2)
        timings["up"] = time.monotonic() - t
        stack.exec("hub", "gradehub", "variants", "init", "--course-root", "/srv/course")
        print("compose timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
        yield Running(stack, client, url, project, network, home, env_file, override, course)
    finally:
        if request.session.testsfailed != failed_before:
            print(stack.logs(120))
        t = time.monotonic()
        try:
            for c in _containers(client, network=network):
                if c.labels.get("com.docker.compose.project") != project:
                    c.remove(force=True)                           # spawned servers
        except docker.errors.APIError as exc:
            print(f"removing the spawned servers: {exc}")
        stack.run("down", "-v", "--remove-orphans", "--timeout", "10", timeout=300, check=False)
        for v in client.volumes.list():
            if v.name.startswith(home):
                try:
                    v.remove(force=True)
                except docker.errors.APIError as exc:
                    print(f"removing {v.name}: {exc}")
        left = [c.name for c in _containers(client, label=f"com.docker.compose.project={project}")]
        left += [v.name for v in client.volumes.list(filters={"label": f"com.docker.compose.project={project}"})]
        left += [n.name for n in client.networks.list() if n.name == network]
        print(f"compose down took {time.monotonic() - t:.0f} s")
        if request.session.testsfailed == failed_before:
            assert not left, f"left behind: {left}"


def test_compose_up_brings_up_the_platform(running):
    import requests

    stack, client, url, network, home = running.stack, running.client, running.url, running.network, running.home
    project = running.project
    timings = {}
    # only the published ports, on loopback
    ports = {c.name: c.attrs["HostConfig"]["PortBindings"]
             for c in _containers(client, label=f"com.docker.compose.project={project}")}
    assert len(ports) == 2, ports
    assert all(b["HostIp"] == "127.0.0.1" for bindings in ports.values() for bs in bindings.values() for b in bs)

    # a demo account logs in through the form (with its _xsrf)
    passwords = json.loads(stack.exec("hub", "cat", "/srv/hub-state/demo-accounts.json"))
    session = login(url, "demo-student", passwords["demo-student"])
    assert session.get(url + "hub/home", timeout=30).status_code == 200

    # the hub's database and the gradebook are PostgreSQL databases in the db service
    databases = stack.exec("db", "psql", "-U", "gradehub", "-d", "postgres", "-Atc",
                           "SELECT datname FROM pg_database").split()
    assert {"jupyterhub", "gradebook"} <= set(databases), databases
    users = stack.exec("db", "psql", "-U", "gradehub", "-d", "jupyterhub", "-Atc", "SELECT name FROM users").split()
    assert {"demo-student", "demo-instructor", "alice", "bob", "prof"} <= set(users), users
    sheets = stack.exec("db", "psql", "-U", "gradehub", "-d", "gradebook", "-Atc",
                        "SELECT name FROM assignment").split()
    assert sheets == ["week01"], sheets
    students = stack.exec("db", "psql", "-U", "gradehub", "-d", "gradebook", "-Atc", "SELECT id FROM student").split()
    assert {"alice", "bob", "demo-student"} <= set(students), students

    # the hub spawns the student's server from the notebook image on the stack's network
    t = time.monotonic()
    token = api_token(session, url, "demo-student")
    start_server(url, "demo-student", token, timeout=400)
    timings["spawn"] = time.monotonic() - t
    [server] = _containers(client, network=network, ancestor=NOTEBOOK)
    assert server.attrs["Config"]["Image"] == NOTEBOOK
    assert server.attrs["HostConfig"]["Memory"] == 2**30
    assert list(server.attrs["NetworkSettings"]["Networks"]) == [network]
    assert not server.attrs["HostConfig"]["PortBindings"]          # reached only through the hub
    mounts = {m["Destination"]: m for m in server.attrs["Mounts"]}
    assert mounts["/home/jovyan"]["Type"] == "volume" and mounts["/home/jovyan"]["Name"].startswith(home)
    assert not any("/var/run/docker.sock" in (m.get("Source") or "") for m in server.attrs["Mounts"])
    h = {"Authorization": f"token {token}"}
    assert requests.get(url + "user/demo-student/api/status", headers=h, timeout=60).status_code == 200
    # its nbgrader lists the sheet through the exchange service (hub:10101 on the network)
    listing = requests.get(url + "user/demo-student/assignments", params={"course_id": "nat3008"},
                           headers=h, timeout=120).json()
    assert listing["success"], listing
    assert [a["assignment_id"] for a in listing["value"]] == ["week01"], listing
    r = requests.delete(url + "hub/api/users/demo-student/server", headers=h, timeout=120)
    assert r.status_code in (202, 204), r.text
    print("compose timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))


def test_deadline_load_on_the_compose_stack(running, tmp_path):
    """The short version of benchmarks/bench_deadline.py (locust, its own process) on this stack:
    30 students log in through the form, fetch, submit 50 KiB-2 MiB notebooks (some twice) within
    the same seconds; then nothing lost, duplicated or filed under another name, on disk and after
    `gradehub collect`, every server timestamp within the run. Timings are printed, not asserted."""
    import subprocess
    import sys

    out = tmp_path / "deadline.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_deadline.py"), "--target", "compose",
         "--attach", running.project, "--env-file", str(running.env_file), "--override", str(running.override),
         "--course-dir", str(running.course), "--students", str(len(LOAD_STUDENTS)), "--spawn-rate", "10",
         "--think", "10", "--refreshes", "1", "--resubmit", "0.3", "--timeout", "240", "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    print(proc.stdout[-4000:], proc.stderr[-3000:])
    result = json.loads(out.read_text())
    assert result["students"] == len(LOAD_STUDENTS)
    assert result["locust"]["users_finished"] == len(LOAD_STUDENTS)
    inbound, collected = result["inbound"], result["collected"]
    assert inbound["acknowledged"] >= len(LOAD_STUDENTS) and result["refused_count"] == 0, result["refused"]
    assert inbound["lost"] == 0 and inbound["duplicated"] == 0 and inbound["problem_count"] == 0, inbound
    assert inbound["folders"] == inbound["acknowledged"]
    assert collected["collected"] == len(LOAD_STUDENTS) and collected["problem_count"] == 0, collected
    assert result["listing_mismatches"] == 0 and result["locust"]["total"]["failures"] == 0, result["locust"]["errors"]
    assert proc.returncode == 0
