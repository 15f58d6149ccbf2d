"""Deadline night, simulated with locust: many students log in, fetch the sheet and submit
within the same minutes; then checks that no submission was lost, duplicated or filed under
another student's name.

Each simulated student (a locust ``HttpUser``, in this process, on gevent) does what the
JupyterLab panel and its server do, against the hub (its public URL) and the exchange service:

1. ``GET /hub/login`` and ``POST /hub/login`` with the form's ``_xsrf``: a real login (the
   password check, the hub's cookie);
2. ``POST /hub/api/users/<name>/tokens`` with that cookie and the ``X-XSRFToken`` header (what
   the hub's token page does): **the token the exchange accepts**. A student's own API token
   carries the student's scopes, among them ``access:services!service=gradehub-exchange``, which
   is exactly what the server's ``$JUPYTERHUB_API_TOKEN`` carries; the exchange asks the hub
   whose it is (``HubAuth``) like for a server's token. No single-user server is started;
3. at the exchange's own port, as the servers call it (``--exchange proxy``: through the hub's
   proxy, ``/services/gradehub-exchange/``, which holds whole request bodies in memory): list
   the sheets, fetch week01;
4. think (a random pause), then submit a notebook of 50 KiB to 2 MiB (week01's cells, the
   student's answers, plots as incompressible PNG outputs), as the course's client does: an
   uncompressed tar with an upload id (``--wire json``: the legacy JSON body, which is also
   what the code before the fixes of issue 18 accepts);
5. refresh the Assignments panel a few times (``GET /api/submissions``) and check that its own
   submissions are listed; some students submit a second time.

Every notebook carries its student's name and a nonce in its metadata. After the run:

* **on disk** (the exchange's ``inbound/``): every acknowledged submission is there exactly once,
  under its student's name, with the acknowledged server timestamp; nothing is there that the
  client was not told was stored (a failed submit stores nothing); every timestamp lies in the
  test's window;
* ``gradehub collect week01``, then ``submitted/<student>/week01``: each student's newest
  acknowledged submission (nonce and timestamp), nobody else's, and the gradebook knows every
  collected student. (``collect`` writes no submission rows into the gradebook: those come with
  ``gradehub autograde``, which this benchmark does not run.)

Targets:

* ``--target embedded``: ``gradehub hub`` on this machine (SQLite, the exchange as a managed
  service). ``--code-root DIR`` runs another checkout's ``gradehub`` (the code before a fix):
  its ``PYTHONPATH`` is set for the hub and its services.
* ``--target compose``: ``docker-compose.yml`` + ``docker-compose.offline.yml`` (hub, PostgreSQL
  stand-in, exchange) with its own project, network, ports and volumes, ``down -v`` afterwards;
  ``--hub-image`` names the hub image (``--build-hub-image`` builds it from ``--code-root`` first).
  ``--attach PROJECT --env-file F --override O --course-dir D`` uses a stack that is already up
  (the compose test's) and leaves it up.

It prints requests/s, p50/p95/p99 per step, errors, the peak memory of the exchange and hub
processes, the load average, and the checks; ``--json FILE`` writes all of it. Exit status 1 when
a check fails (or ``--max-submit-p95`` is exceeded). Run (figures in ``benchmarks/results/``)::

    .venv/bin/python benchmarks/bench_deadline.py --target compose --students 300 --json benchmarks/results/deadline_compose_300.json
    .venv/bin/python benchmarks/bench_deadline.py --target embedded --students 120 --spawn-rate 120 --think 0

Locust is used as a library (``locust.env.Environment`` and its local runner). It patches the
standard library for gevent when imported, so this runs as a process of its own (the CI test
starts it as one).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import base64  # noqa: E402
import csv  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import secrets  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from gevent.queue import Queue  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "week01"
EXCHANGE = "services/gradehub-exchange"
COMPOSE_FILES = [REPO / "docker-compose.yml", REPO / "docker-compose.offline.yml"]
STEPS = ["1 login form", "2 login", "3 token", "4 list sheets", "5 fetch sheet", "6 submit", "7 panel refresh"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- the course


def student_ids(n: int) -> list[str]:
    return [f"ld{i:04d}" for i in range(1, n + 1)]


def roster_csv(students: list[str], extra: str = "") -> str:
    rows = ["id,first_name,last_name,email,group"]
    rows += [f"{s},Load,{s.upper()},{s}@example.org,{'AB'[i % 2]}" for i, s in enumerate(students)]
    return "\n".join(rows) + "\n" + extra


def make_course(root: Path, students: list[str]) -> Path:
    """A course root with week01 (source and release) and the simulated students on the roster."""
    root.mkdir(parents=True)
    shutil.copy(REPO / "course.toml", root / "course.toml")
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    for folder in ("source", "release"):
        shutil.copytree(REPO / folder / ASSIGNMENT, root / folder / ASSIGNMENT)
    (root / "roster.csv").write_text(roster_csv(students))
    return root


def prefill_inbound(inbound: Path, count: int, seed: int = 7) -> None:
    """``count`` earlier submissions of other students (a semester's worth of folders)."""
    rng = random.Random(seed)
    inbound.mkdir(parents=True, exist_ok=True)
    nb = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    for i in range(count):
        stamp = f"2026-{9 + i % 3:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{rng.randrange(60):02d}.{i:06d} UTC"
        d = inbound / f"old{i % 620:04d}+week{1 + i % 12:02d}+{stamp}+{secrets.token_urlsafe(9)}"
        d.mkdir()
        (d / f"week{1 + i % 12:02d}.ipynb").write_text(nb)
        (d / "timestamp.txt").write_text(stamp)


# --------------------------------------------------------------------------- notebooks


_RELEASED: dict | None = None


def make_notebook(student: str, nonce: str, size: int, rng: random.Random) -> bytes:
    """week01's released notebook with answers and plot outputs, about ``size`` bytes, marked."""
    global _RELEASED
    if _RELEASED is None:
        _RELEASED = json.loads((REPO / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
    nb = json.loads(json.dumps(_RELEASED))
    nb["metadata"]["gradehub_bench"] = {"student": student, "nonce": nonce}
    base = len(json.dumps(nb))
    missing = max(0, size - base - 2000)
    plots = max(1, missing // (300 * 1024) + 1)
    for i in range(plots):
        raw = rng.randbytes(max(16, missing // plots * 3 // 4))
        nb["cells"].append({
            "cell_type": "code", "execution_count": i + 1, "id": f"bench-plot-{i}", "metadata": {},
            "source": [f"# {student}: plot {i}\n", "plt.hist(samples, bins=50); plt.show()\n"],
            "outputs": [{"output_type": "display_data", "metadata": {},
                         "data": {"image/png": base64.b64encode(raw).decode(), "text/plain": ["<Figure>"]}}],
        })
    return json.dumps(nb, indent=1).encode()


def tar_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


# --------------------------------------------------------------------------- the run's record


@dataclass
class Record:
    acked: dict[tuple[str, str], str] = field(default_factory=dict)       # (student, nonce) -> timestamp
    order: dict[str, list[str]] = field(default_factory=dict)             # student -> nonces acked, in order
    refused: list[tuple[str, str, int, str]] = field(default_factory=list)  # student, nonce, status, message
    listing_mismatch: list[str] = field(default_factory=list)
    flows_done: int = 0
    flows_failed: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- locust


def run_locust(hub_url: str, exchange_url: str, accounts: Queue, n: int, args, record: Record) -> dict:
    from locust import HttpUser, events, task
    from locust.env import Environment

    size_rng = random.Random(args.seed)

    class Student(HttpUser):
        host = hub_url.rstrip("/")
        network_timeout = 60.0
        connection_timeout = 60.0

        def on_start(self):
            self.name_, self.password = accounts.get_nowait() if not accounts.empty() else ("", "")
            self.rng = random.Random(f"{args.seed}-{self.name_}")
            self.token = ""
            self.done = not self.name_

        def ex(self, path: str) -> str:
            return exchange_url.rstrip("/") + path

        def auth(self) -> dict:
            return {"Authorization": f"token {self.token}"}

        def login(self) -> bool:
            c = self.client
            c.get("/hub/login", name=STEPS[0], timeout=60)
            xsrf = c.cookies.get("_xsrf")
            with c.post("/hub/login", data={"username": self.name_, "password": self.password, "_xsrf": xsrf},
                        allow_redirects=False, name=STEPS[1], timeout=60, catch_response=True) as r:
                if r.status_code not in (302, 303):
                    r.failure(f"login answered {r.status_code}")
                    return False
            xsrf = c.cookies.get("_xsrf", path="/hub/") or c.cookies.get("_xsrf")
            with c.post(f"/hub/api/users/{self.name_}/tokens", json={"note": "deadline benchmark", "expires_in": 7200},
                        headers={"X-XSRFToken": xsrf or "", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"},
                        name=STEPS[2], timeout=60, catch_response=True) as r:
                if r.status_code not in (200, 201):
                    r.failure(f"token answered {r.status_code}")
                    return False
                self.token = r.json()["token"]
            return True

        def submit(self) -> None:
            nonce = secrets.token_hex(8)
            size = int(args.size_min * (args.size_max / args.size_min) ** size_rng.random())
            nb = make_notebook(self.name_, nonce, size, self.rng)
            url = self.ex(f"/api/assignments/{ASSIGNMENT}/submissions")
            if args.wire == "tar":
                body = tar_of({f"{ASSIGNMENT}.ipynb": nb})
                headers = {**self.auth(), "Content-Type": "application/x-tar",
                           "X-Gradehub-Upload-Id": secrets.token_urlsafe(24)}
            else:
                body = json.dumps({"files": {f"{ASSIGNMENT}.ipynb": base64.b64encode(nb).decode()}}).encode()
                headers = {**self.auth(), "Content-Type": "application/json"}
            with self.client.post(url, data=body, headers=headers, name=STEPS[5], timeout=60,
                                  catch_response=True) as r:
                if r.status_code == 201:
                    stamp = r.json()["timestamp"]
                    record.acked[(self.name_, nonce)] = stamp
                    record.order.setdefault(self.name_, []).append(nonce)
                else:
                    status = r.status_code or 0
                    record.refused.append((self.name_, nonce, status, (r.text or str(r.error))[:200]))
                    r.failure(f"submit answered {status}")

        def refresh(self) -> None:
            with self.client.get(self.ex(f"/api/submissions?assignment_id={ASSIGNMENT}"), headers=self.auth(),
                                 name=STEPS[6], timeout=60, catch_response=True) as r:
                if r.status_code != 200:
                    r.failure(f"listing answered {r.status_code}")
                    return
                listed = {s["timestamp"] for s in r.json()["submissions"]}
                mine = {t for (s, _n), t in list(record.acked.items()) if s == self.name_}
                if not mine <= listed:
                    record.listing_mismatch.append(self.name_)
                    r.failure("an acknowledged submission is missing from the panel")

        @task
        def deadline(self):
            if self.done:          # one flow per student; then idle until the run ends (a stopped
                gevent.sleep(3600)  # user would be replaced by the runner, without an account)
                return
            self.done = True
            try:
                if not self.login():
                    record.flows_failed.append(self.name_)
                    return
                self.client.get(self.ex("/api/assignments"), headers=self.auth(), name=STEPS[3], timeout=60)
                self.client.get(self.ex(f"/api/assignments/{ASSIGNMENT}"), headers=self.auth(), name=STEPS[4],
                                timeout=60)
                gevent.sleep(self.rng.uniform(0, args.think))
                self.submit()
                for _ in range(args.refreshes):
                    gevent.sleep(self.rng.uniform(1, 5))
                    self.refresh()
                if self.rng.random() < args.resubmit:
                    gevent.sleep(self.rng.uniform(1, max(1.0, args.think / 2)))
                    self.submit()
                    self.refresh()
            finally:
                record.flows_done += 1

    env = Environment(user_classes=[Student], events=events, host=hub_url.rstrip("/"))
    runner = env.create_local_runner()
    started = time.monotonic()
    runner.start(n, spawn_rate=args.spawn_rate)
    while record.flows_done < n and time.monotonic() - started < args.timeout:
        gevent.sleep(0.5)
    runner.quit()
    elapsed = time.monotonic() - started
    steps = {}
    for (name, _method), e in sorted(env.stats.entries.items()):
        steps[name] = {
            "requests": e.num_requests, "failures": e.num_failures,
            "rps": round(e.num_requests / elapsed, 2) if elapsed else 0.0,
            "p50_s": e.get_response_time_percentile(0.50) / 1000 if e.num_requests else None,
            "p95_s": e.get_response_time_percentile(0.95) / 1000 if e.num_requests else None,
            "p99_s": e.get_response_time_percentile(0.99) / 1000 if e.num_requests else None,
            "max_s": (e.max_response_time or 0) / 1000,
        }
    errors = [{"step": err.name, "error": str(err.error)[:200], "count": err.occurrences}
              for err in env.stats.errors.values()]
    total = env.stats.total
    return {"elapsed_s": round(elapsed, 1), "steps": steps, "errors": errors,
            "total": {"requests": total.num_requests, "failures": total.num_failures,
                      "rps": round(total.num_requests / elapsed, 2) if elapsed else 0.0},
            "users_finished": record.flows_done}


# --------------------------------------------------------------------------- watching memory and load


class Watcher:
    """Peak RSS of the exchange and hub processes (under ``root_pid``), and the load average."""

    def __init__(self, root_pid: int | None, course_marker: str):
        self.root_pid = root_pid
        self.marker = course_marker
        self.peak: dict[str, int] = {}
        self.load_max = 0.0
        self._stop = False
        self._g = gevent.spawn(self._loop)

    def _procs(self):
        import psutil
        if self.root_pid:
            try:
                root = psutil.Process(self.root_pid)
                return [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return []
        return []

    def _loop(self):
        import psutil
        while not self._stop:
            self.load_max = max(self.load_max, os.getloadavg()[0])
            for p in self._procs():
                try:
                    cmd = " ".join(p.cmdline())
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                kind = ("exchange" if "gradehub.hub.exchange.service" in cmd else
                        "hub" if "gradehub hub" in cmd or "jupyterhub" in cmd.split(" ")[0] else
                        "proxy" if "configurable-http-proxy" in cmd else None)
                if kind:
                    self.peak[kind] = max(self.peak.get(kind, 0), rss)
            gevent.sleep(0.5)

    def stop(self) -> dict:
        self._stop = True
        self._g.join(timeout=5)
        return {"peak_rss_mib": {k: round(v / 2**20, 1) for k, v in sorted(self.peak.items())},
                "load_avg_max_1min": round(self.load_max, 2)}


# --------------------------------------------------------------------------- targets


class Embedded:
    def __init__(self, root: Path, code_root: Path | None):
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADEHUB_", "JUPYTERHUB_", "JUPYTER_"))}
        bin_dir = Path(sys.executable).parent
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        if code_root:
            env["PYTHONPATH"] = str(code_root)
        self.env = env
        self.code_root = code_root
        self.log_path = root.parent / "hub.log"
        self.proc = subprocess.Popen([str(bin_dir / "gradehub"), "hub", "--course-root", str(root),
                                      "--port", str(self.port)], stdout=open(self.log_path, "w"),
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self, timeout: float = 600) -> None:
        import requests
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gradehub hub exited:\n{self.log_path.read_text()[-3000:]}")
            if "JupyterHub is now running" in self.log_path.read_text(errors="replace"):
                try:
                    if requests.get(self.url + "hub/api", timeout=10).status_code == 200:
                        return
                except requests.RequestException:
                    pass
            gevent.sleep(1)
        raise RuntimeError("the hub did not come up")

    def exchange_direct(self) -> str | None:
        import re
        m = re.search(r"gradehub exchange for \S+ at (http://\S+)", self.log_path.read_text(errors="replace"))
        return m.group(1).rstrip("/") + "/" if m else None

    def passwords(self) -> dict[str, str]:
        text = (self.root / ".gradehub" / "hub" / "new-passwords.csv").read_text()
        return {row["account"]: row["password"] for row in csv.DictReader(text.splitlines())}

    def scan_inbound(self) -> list[dict]:
        return scan_inbound(self.root / "exchange" / "nat3008" / "inbound")

    def collect(self) -> str:
        proc = subprocess.run([str(Path(sys.executable).parent / "gradehub"), "collect", ASSIGNMENT,
                               "--course-root", str(self.root)], capture_output=True, text=True, env=self.env,
                              timeout=1800)
        return proc.stdout + proc.stderr

    def gradebook_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    def stop(self) -> None:
        import signal
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def compose_command() -> list[str]:
    if os.environ.get("GRADEHUB_COMPOSE"):
        return shlex.split(os.environ["GRADEHUB_COMPOSE"])
    for argv in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(argv[0]) and subprocess.run([*argv, "version"], capture_output=True).returncode == 0:
            return argv
    raise SystemExit("no compose command (docker compose or docker-compose)")


class Compose:
    """The compose stack: our own (up here, down -v at the end) or an attached one."""

    def __init__(self, args, course: Path | None, students: list[str]):
        self.own = not args.attach
        self.project = args.attach or f"ghload{secrets.token_hex(4)}"
        self.work = Path(tempfile.mkdtemp(prefix="gradehub-load-compose-"))
        if self.own:
            assert course is not None
            self.course = course
            self.port, self.db_port = free_port(), free_port()
            self.db_password = secrets.token_hex(12)
            self.network = f"{self.project}-net"
            self.env_file = self.work / "compose.env"
            self.env_file.write_text("\n".join([
                f"GRADEHUB_DB_PASSWORD={self.db_password}", f"JUPYTERHUB_CRYPT_KEY={secrets.token_hex(32)}",
                "GRADEHUB_BIND=127.0.0.1", f"GRADEHUB_PORT={self.port}", f"GRADEHUB_DB_PORT={self.db_port}",
                f"GRADEHUB_COURSE_DIR={course}", f"GRADEHUB_NETWORK={self.network}", "GRADEHUB_INSTRUCTORS=[\"prof\"]",
                "GRADEHUB_DEMO=false", "GRADEHUB_OFFER_PROFILES=no", f"GRADEHUB_TAG={args.hub_image.split(':')[-1]}",
            ]) + "\n")
            self.override = self.work / "compose.load.yml"
            self.override.write_text(json.dumps({"services": {"hub": {"environment": {
                "GRADEHUB_HUB__CULLER__ENABLED": "false", "GRADEHUB_HUB__FORMGRADER__ENABLED": "false"}}}}))
        else:
            self.env_file, self.override = Path(args.env_file), Path(args.override)
            self.course = Path(args.course_dir)
            env = dict(line.split("=", 1) for line in self.env_file.read_text().splitlines() if "=" in line)
            self.port, self.db_port = int(env["GRADEHUB_PORT"]), int(env["GRADEHUB_DB_PORT"])
            self.db_password = env["GRADEHUB_DB_PASSWORD"]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.argv = [*compose_command(), "--project-name", self.project, "--env-file", str(self.env_file),
                     *[a for f in [*COMPOSE_FILES, self.override] for a in ("-f", str(f))]]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADEHUB_", "JUPYTERHUB_", "COMPOSE_"))}

    def run(self, *args: str, timeout: float = 900, check: bool = True, stdin: str | None = None):
        proc = subprocess.run([*self.argv, *args], capture_output=True, text=True, env=self.env, cwd=REPO,
                              timeout=timeout, input=stdin)
        if check and proc.returncode != 0:
            raise RuntimeError(f"compose {' '.join(args)}: {proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        return proc

    def up(self) -> None:
        if self.own:
            self.run("up", "-d")

    @property
    def pid(self) -> int | None:
        proc = self.run("ps", "-q", "hub", check=False)
        cid = proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""
        if not cid:
            return None
        out = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", cid], capture_output=True, text=True)
        return int(out.stdout.strip() or 0) or None

    def wait(self, timeout: float = 600) -> None:
        import requests
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "hub/health", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            gevent.sleep(2)
        raise RuntimeError(f"the stack did not answer /hub/health:\n{self.run('logs', '--tail', '60', check=False).stdout}")

    def exchange_direct(self) -> str | None:
        """Port 10101 of the hub container on the stack's network (what the servers call)."""
        proc = self.run("ps", "-q", "hub", check=False)
        cid = proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""
        out = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                              cid], capture_output=True, text=True)
        ips = out.stdout.split()
        return f"http://{ips[0]}:10101/" if ips else None

    def passwords(self) -> dict[str, str]:
        text = self.run("exec", "-T", "hub", "cat", "/srv/hub-state/new-passwords.csv").stdout
        return {row["account"]: row["password"] for row in csv.DictReader(text.splitlines())}

    def scan_inbound(self) -> list[dict]:
        src = SCAN_SOURCE + "\nimport json, sys\nprint(json.dumps(scan_inbound(Path('/srv/exchange/nat3008/inbound'))))\n"
        out = self.run("exec", "-T", "hub", "python3", "-", stdin=src, timeout=600).stdout
        return json.loads(out.strip().splitlines()[-1])

    def collect(self) -> str:
        proc = self.run("exec", "-T", "hub", "gradehub", "collect", ASSIGNMENT, timeout=1800, check=False)
        return proc.stdout + proc.stderr

    def gradebook_url(self) -> str:
        return f"postgresql+psycopg2://gradehub:{self.db_password}@127.0.0.1:{self.db_port}/gradebook"

    def stop(self) -> None:
        if self.own:
            self.run("down", "-v", "--remove-orphans", "--timeout", "10", timeout=300, check=False)
        shutil.rmtree(self.work, ignore_errors=True)


SCAN_SOURCE = '''
import json, os
from pathlib import Path

def scan_inbound(inbound):
    """Every submission folder: student, assignment, timestamp.txt, the notebooks' bench marks."""
    out = []
    for d in sorted(Path(inbound).iterdir()):
        parts = d.name.split("+")
        if not d.is_dir() or len(parts) < 3 or not parts[0].startswith("ld"):
            continue
        stamp = (d / "timestamp.txt").read_text().strip() if (d / "timestamp.txt").is_file() else None
        marks = []
        for nb in sorted(d.glob("*.ipynb")):
            try:
                marks.append(json.loads(nb.read_bytes())["metadata"].get("gradehub_bench"))
            except (ValueError, KeyError):
                marks.append(None)
        out.append({"folder": d.name, "student": parts[0], "assignment": parts[1], "name_stamp": parts[2],
                     "timestamp": stamp, "marks": marks})
    return out
'''
_scan_namespace: dict = {}
exec(SCAN_SOURCE, _scan_namespace)  # noqa: S102 - our own source, also sent into the hub container
scan_inbound = _scan_namespace["scan_inbound"]


def reachable(url: str) -> bool:
    import requests
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


# --------------------------------------------------------------------------- checks


def parse_stamp(text: str) -> float:
    import datetime as dt
    return dt.datetime.strptime(text.replace(" UTC", ""), "%Y-%m-%d %H:%M:%S.%f").replace(
        tzinfo=dt.timezone.utc).timestamp()


def check_inbound(folders: list[dict], record: Record, window: tuple[float, float]) -> dict:
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for f in folders:
        if f["assignment"] != ASSIGNMENT:
            continue
        marks = [m for m in f["marks"] if m]
        if len(marks) != 1:
            problems.append(f"{f['folder']}: {len(marks)} marked notebooks")
            continue
        who, nonce = marks[0]["student"], marks[0]["nonce"]
        if who != f["student"]:
            problems.append(f"{f['folder']}: {who}'s notebook filed under {f['student']}")
        key = (who, nonce)
        seen[key] = seen.get(key, 0) + 1
        if key not in record.acked:
            problems.append(f"{f['folder']}: stored, but {who} was not told it was (nonce {nonce})")
        elif record.acked[key] != f["timestamp"]:
            problems.append(f"{f['folder']}: timestamp {f['timestamp']} is not the acknowledged {record.acked[key]}")
        if f["timestamp"] != f["name_stamp"]:
            problems.append(f"{f['folder']}: timestamp.txt {f['timestamp']} differs from the folder's name")
        t = parse_stamp(f["timestamp"])
        if not window[0] - 1 <= t <= window[1] + 1:
            problems.append(f"{f['folder']}: timestamp {f['timestamp']} outside the test's window")
    lost = sorted(k for k in record.acked if k not in seen)
    duplicated = sorted(k for k, n in seen.items() if n > 1)
    return {"folders": sum(1 for f in folders if f["assignment"] == ASSIGNMENT), "acknowledged": len(record.acked),
            "lost": len(lost), "duplicated": len(duplicated), "problems": problems[:50],
            "problem_count": len(problems), "lost_examples": [list(k) for k in lost[:10]]}


def check_collected(course_dir: Path, record: Record, gradebook_url: str) -> dict:
    problems = []
    expected = {s: nonces[-1] for s, nonces in record.order.items()}
    submitted = course_dir / "submitted"
    found = {}
    for d in sorted(submitted.glob(f"*/{ASSIGNMENT}")) if submitted.is_dir() else []:
        student = d.parent.name
        if not student.startswith("ld"):
            continue
        try:
            mark = json.loads((d / f"{ASSIGNMENT}.ipynb").read_bytes())["metadata"].get("gradehub_bench") or {}
        except (OSError, ValueError, KeyError):
            mark = {}
        found[student] = mark
        stamp = (d / "timestamp.txt").read_text().strip() if (d / "timestamp.txt").is_file() else None
        if mark.get("student") != student:
            problems.append(f"submitted/{student}: holds {mark.get('student')}'s notebook")
        if student not in expected:
            problems.append(f"submitted/{student}: collected, but no submission of theirs was acknowledged")
        elif mark.get("nonce") != expected[student]:
            problems.append(f"submitted/{student}: not the newest acknowledged submission")
        elif stamp != record.acked[(student, expected[student])]:
            problems.append(f"submitted/{student}: timestamp {stamp} is not the acknowledged one")
    missing = sorted(set(expected) - set(found))
    problems += [f"submitted/{s}: missing" for s in missing]
    from sqlalchemy import create_engine, text
    engine = create_engine(gradebook_url)
    with engine.connect() as conn:
        known = {r[0] for r in conn.execute(text("SELECT id FROM student"))}
    engine.dispose()
    not_in_gradebook = sorted(set(found) - known)
    problems += [f"gradebook: {s} was collected but is not a gradebook student" for s in not_in_gradebook]
    return {"collected": len(found), "expected": len(expected), "missing": len(missing),
            "problem_count": len(problems), "problems": problems[:50]}


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", choices=("embedded", "compose"), default="compose")
    p.add_argument("--students", type=int, default=300)
    p.add_argument("--spawn-rate", type=float, default=None, help="students starting per second (default: all in 150 s)")
    p.add_argument("--think", type=float, default=60.0, help="longest pause between fetching and submitting (s)")
    p.add_argument("--refreshes", type=int, default=2, help="panel refreshes after each submit")
    p.add_argument("--resubmit", type=float, default=0.25, help="share of students who submit twice")
    p.add_argument("--size-min", type=int, default=50 * 1024)
    p.add_argument("--size-max", type=int, default=2 * 2**20)
    p.add_argument("--wire", choices=("tar", "json"), default="tar")
    p.add_argument("--exchange", choices=("direct", "proxy"), default="direct",
                   help="reach the exchange as the servers do (its own port; default) or through the hub's proxy")
    p.add_argument("--prefill", type=int, default=0, help="earlier submission folders in inbound (embedded only)")
    p.add_argument("--timeout", type=float, default=900.0, help="longest run of the locust part (s)")
    p.add_argument("--seed", type=int, default=18)
    p.add_argument("--code-root", type=Path, default=None, help="the checkout whose gradehub runs the hub")
    p.add_argument("--hub-image", default="gradehub/hub:latest")
    p.add_argument("--build-hub-image", action="store_true")
    p.add_argument("--attach", default=None, help="compose: the project name of a running stack")
    p.add_argument("--env-file", default=None)
    p.add_argument("--override", default=None)
    p.add_argument("--course-dir", default=None)
    p.add_argument("--max-submit-p95", type=float, default=None, help="fail when a submit's p95 is above (s)")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--keep", action="store_true", help="keep the course folder")
    args = p.parse_args(argv)
    args.spawn_rate = args.spawn_rate or max(1.0, args.students / 150)

    work = Path(tempfile.mkdtemp(prefix="gradehub-load-"))
    if args.attach:
        course = Path(args.course_dir)
        students = [r["id"] for r in csv.DictReader((course / "roster.csv").read_text().splitlines())
                    if r["id"].startswith("ld")][: args.students]
    else:
        students = student_ids(args.students)
        course = make_course(work / "course", students)
        if args.target == "compose":
            os.chmod(work, 0o755)
    result: dict = {"target": args.target, "students": len(students), "wire": args.wire,
                    "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                    "load_avg_before": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
    target: Embedded | Compose
    t = time.monotonic()
    if args.target == "embedded":
        if args.prefill:
            prefill_inbound(course / "exchange" / "nat3008" / "inbound", args.prefill)
        target = Embedded(course, args.code_root)
    else:
        if args.build_hub_image:
            from gradehub.hub.image import build_hub_image
            log(f"building {args.hub_image} from {args.code_root or REPO}")
            build_hub_image(tag=args.hub_image, root=args.code_root or REPO, log=lambda line: None)
        target = Compose(args, course, students)
        target.up()
    ok = False
    try:
        target.wait()
        result["start_s"] = round(time.monotonic() - t, 1)
        log(f"{args.target} up in {result['start_s']} s at {target.url}")
        passwords = target.passwords()
        accounts: Queue = Queue()
        for s in students:
            accounts.put((s, passwords[s]))
        record = Record()
        watcher = Watcher(target.pid, str(course))
        log(f"{len(students)} students, {args.spawn_rate:g}/s, think up to {args.think:g} s, wire {args.wire}, "
            f"load {os.getloadavg()[0]:.2f}")
        window_start = time.time()
        exchange_url = target.url + EXCHANGE
        if args.exchange == "direct":
            direct = target.exchange_direct()
            if direct and reachable(direct + "api/health"):
                exchange_url = direct
            else:
                log(f"the exchange is not reachable directly ({direct}): through the hub's proxy")
        result["exchange_url"] = exchange_url
        log(f"exchange at {exchange_url}")
        result["locust"] = run_locust(target.url, exchange_url, accounts, len(students), args, record)
        window_end = time.time()
        result["resources"] = watcher.stop()
        result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
        result["refused"] = [list(r) for r in record.refused[:20]]
        result["refused_count"] = len(record.refused)
        result["listing_mismatches"] = len(record.listing_mismatch)
        result["flows_failed"] = len(record.flows_failed)
        log("checking inbound")
        result["inbound"] = check_inbound(target.scan_inbound(), record, (window_start, window_end))
        t = time.monotonic()
        collect_out = target.collect()
        result["collect_s"] = round(time.monotonic() - t, 1)
        result["collected"] = check_collected(course, record, target.gradebook_url())
        if result["collected"]["collected"] == 0 and record.acked:
            result["collect_output"] = collect_out[-2000:]
        print_report(result)
        submit = result["locust"]["steps"].get(STEPS[5], {})
        ok = (result["inbound"]["lost"] == 0 and result["inbound"]["duplicated"] == 0
              and result["inbound"]["problem_count"] == 0 and result["collected"]["problem_count"] == 0
              and result["listing_mismatches"] == 0 and len(record.acked) > 0
              and (args.max_submit_p95 is None or (submit.get("p95_s") or 0) <= args.max_submit_p95))
        result["ok"] = ok
    finally:
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=1) + "\n")
        target.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


def print_report(r: dict) -> None:
    lc = r["locust"]
    print(f"\n{r['target']}: {r['students']} students in {lc['elapsed_s']} s, {lc['total']['requests']} requests "
          f"({lc['total']['rps']}/s), {lc['total']['failures']} failed; load {r['load_avg_before'][0]} before, "
          f"max {r['resources']['load_avg_max_1min']} during ({r['cpus']} CPUs)")
    print(f"{'step':<18}{'requests':>9}{'failed':>8}{'req/s':>8}{'p50 s':>8}{'p95 s':>8}{'p99 s':>8}{'max s':>8}")
    for name, s in lc["steps"].items():
        fmt = lambda v: f"{v:8.3f}" if v is not None else f"{'-':>8}"  # noqa: E731
        print(f"{name:<18}{s['requests']:>9}{s['failures']:>8}{s['rps']:>8}{fmt(s['p50_s'])}{fmt(s['p95_s'])}"
              f"{fmt(s['p99_s'])}{fmt(s['max_s'])}")
    for e in lc["errors"][:10]:
        print(f"  error x{e['count']} in {e['step']}: {e['error']}")
    print(f"peak RSS (MiB): {r['resources']['peak_rss_mib']}")
    i, c = r["inbound"], r["collected"]
    print(f"inbound: {i['acknowledged']} acknowledged, {i['folders']} stored, lost {i['lost']}, duplicated "
          f"{i['duplicated']}, other problems {i['problem_count']}; refused {r['refused_count']}")
    print(f"collect ({r['collect_s']} s): {c['collected']} of {c['expected']} students, problems {c['problem_count']}")
    for line in (i["problems"] + c["problems"])[:20]:
        print(f"  {line}")


if __name__ == "__main__":
    sys.exit(main())
