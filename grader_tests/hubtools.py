"""Helpers for the hub tests: a temp course root, `gradehub hub` as a process, logins."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ROSTER = ("id,first_name,last_name,email,group\n"
          "alice,Alice,A,alice@x.org,A\nbob,Bob,B,bob@x.org,B\n")
TUTORS = '\n[tutors]\nA = ["tina"]\nB = ["tom"]\n'


# Debian's chromium, driven by Playwright's Python package (never `playwright install`).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-dev-shm-usage"]


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (a skip reason; CI turns a skip into a failure), or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; the browser is Debian's chromium)"
    if not os.path.exists(CHROMIUM):
        return "chromium is missing (apt-get install chromium chromium-driver)"
    return None


def hub_available() -> str | None:
    """Why the hub cannot run here, or None."""
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        return "jupyterhub is not installed (pip install -e '.[hub]')"
    if not (BIN / "configurable-http-proxy").exists() and not shutil.which("configurable-http-proxy"):
        return "configurable-http-proxy is not installed (pip install -e '.[hub]')"
    return None


def with_tutors(course_toml: str, tutors: str = TUTORS) -> str:
    """The course file with its [tutors] table (if any) replaced by ``tutors``."""
    import re
    stripped = re.sub(r"(?m)^\[tutors\][^\n]*\n(?:(?!\[)[^\n]*\n?)*", "", course_toml)
    return stripped.rstrip("\n") + "\n" + tutors


def course_secret(root: Path) -> Path:
    """Where a test course keeps its variants' secret: beside the course root, never inside it."""
    return root.parent / f"{root.name}-secret" / "course.secret"


def with_secret(course_toml: str, secret: Path) -> str:
    """The course file with [variants].secret pointing at ``secret`` (created 0600 at first use
    by :func:`ensure_secret`)."""
    import re
    text, n = re.subn(r'(?m)^secret = ".*"$', f'secret = "{secret}"', course_toml)
    return text if n else text.rstrip("\n") + f'\n[variants]\nsecret = "{secret}"\n'


def ensure_secret(root: Path) -> Path:
    """The course's secret, created (0600 in a 0700 folder) when it is missing."""
    from gradehub.course import load_course
    from gradehub.variants import create_secret, secret_path

    course = load_course(root)
    path = secret_path(course)
    return path if path.exists() else create_secret(course)


def make_course(root: Path, roster: str = ROSTER, sheets: tuple[str, ...] | None = None) -> Path:
    """A course root with the real sheets (released), a two-student roster and two tutors;
    ``sheets`` keeps only those (a hub learns fewer sheets into an empty gradebook, faster)."""
    root.mkdir(parents=True)
    (root / "course.toml").write_text(with_secret(with_tutors((REPO / "course.toml").read_text()), course_secret(root)))
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    for folder in ("source", "release"):
        if sheets is None:
            shutil.copytree(REPO / folder, root / folder)
        else:
            for sheet in sheets:
                shutil.copytree(REPO / folder / sheet, root / folder / sheet)
    (root / "roster.csv").write_text(roster)
    ensure_secret(root)      # week01 has per-student variants: fetch and autograde need the secret
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hub_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADEHUB_", "JUPYTERHUB_", "JUPYTER_"))}
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env.update(extra or {})
    return env


def servers_can_run_python() -> list[str]:
    """As root the embedded hub runs every server as an OS user of its own, which must be able to
    run this interpreter: on a test machine, give "others" traverse permission (o+x, not read)
    on the folders above it that lack it (e.g. /root holding pyenv). Returns what changed."""
    import stat
    changed = []
    if os.geteuid() != 0:
        return changed
    for target in (Path(sys.executable).resolve(), BIN.resolve()):
        for folder in reversed(target.parents):
            mode = stat.S_IMODE(os.stat(folder).st_mode)
            if not mode & stat.S_IXOTH:
                os.chmod(folder, mode | stat.S_IXOTH)
                changed.append(str(folder))
    return changed


class Hub:
    """`gradehub hub` started as a process group; stopped with SIGTERM, then SIGKILL.

    As root, servers get homes in a temp folder of their own (removed by :meth:`stop`)."""

    def __init__(self, root: Path, port: int, env: dict[str, str] | None = None):
        import tempfile
        self.root = root
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        self.log_path = root.parent / f"hub-{port}.log"
        self._log = open(self.log_path, "w")
        env = dict(env or {})
        self.homes = None
        if os.geteuid() == 0 and "GRADEHUB_HUB__SPAWNER__HOMES_ROOT" not in env:
            servers_can_run_python()
            self.homes = Path(tempfile.mkdtemp(prefix="gradehub-homes-", dir="/tmp"))
            os.chmod(self.homes, 0o711)
            env["GRADEHUB_HUB__SPAWNER__HOMES_ROOT"] = str(self.homes)
        self.proc = subprocess.Popen([str(BIN / "gradehub"), "hub", "--course-root", str(root), "--port", str(port)],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=hub_env(env),
                                     start_new_session=True)

    @property
    def state(self) -> Path:
        return self.root / ".gradehub" / "hub"

    def log(self, tail: int = 80) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-tail:])

    def wait_ready(self, timeout: float = 300) -> None:
        import requests
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gradehub hub exited with {self.proc.returncode}:\n{self.log()}")
            # the hub logs this line once every managed service (exchange, formgrader) is up
            if "JupyterHub is now running" in self.log_path.read_text(errors="replace"):
                try:
                    if requests.get(self.url + "hub/api", timeout=10).status_code == 200:
                        return
                except requests.RequestException:
                    pass
            time.sleep(1)
        raise RuntimeError(f"gradehub hub not ready after {timeout:.0f} s:\n{self.log()}")

    def passwords(self) -> dict[str, str]:
        out = json.loads((self.state / "demo-accounts.json").read_text())
        new = self.state / "new-passwords.csv"
        if new.is_file():
            for row in list(csv.DictReader(new.read_text().splitlines())):
                out[row["account"]] = row["password"]
        return out

    def descendants(self) -> list:
        import psutil
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        import psutil
        # servers and services run in sessions of their own: remember them before stopping
        leftovers = self.descendants()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)   # the hub stops its servers and services
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        for child in leftovers:
            try:
                child.terminate()
            except psutil.NoSuchProcess:
                pass
        # and whatever still runs for this course root (a hub that died early orphans them)
        for p in psutil.process_iter(["cmdline"]):
            try:
                if p.pid != os.getpid() and str(self.root) in " ".join(p.info["cmdline"] or []):
                    leftovers.append(p)
                    p.terminate()
            except psutil.Error:
                pass
        psutil.wait_procs(leftovers, timeout=10)
        for child in leftovers:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        self._log.close()
        if self.homes is not None:
            shutil.rmtree(self.homes, ignore_errors=True)


def login(hub_url: str, user: str, password: str):
    """A requests.Session logged in through the hub's login form (with its _xsrf)."""
    import requests
    s = requests.Session()
    r = s.get(hub_url + "hub/login", timeout=30)
    r.raise_for_status()
    xsrf = s.cookies.get("_xsrf")
    r = s.post(hub_url + "hub/login", data={"username": user, "password": password, "_xsrf": xsrf},
               allow_redirects=False, timeout=60)
    if r.status_code not in (302, 303):
        raise AssertionError(f"login of {user} failed: {r.status_code} {r.text[:300]}")
    return s


def api_token(session, hub_url: str, user: str) -> str:
    """A token for ``user``, created with their logged-in session (as the token page does)."""
    xsrf = session.cookies.get("_xsrf", path="/hub/") or session.cookies.get("_xsrf")
    r = session.post(hub_url + f"hub/api/users/{user}/tokens", json={"note": "test", "expires_in": 3600},
                     headers={"X-XSRFToken": xsrf, "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"},
                     timeout=30)
    assert r.status_code in (200, 201), r.text
    return r.json()["token"]


def start_server(hub_url: str, user: str, token: str, timeout: float = 300, options: dict | None = None) -> None:
    import requests
    h = {"Authorization": f"token {token}"}
    r = requests.post(hub_url + f"hub/api/users/{user}/server", headers=h, json=options or {}, timeout=60)
    assert r.status_code in (201, 202, 400), r.text   # 400: already running
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = requests.get(hub_url + f"hub/api/users/{user}", headers=h, timeout=30).json()
        server = (model.get("servers") or {}).get("")
        if server and server.get("ready"):
            return
        if not server or not server.get("pending") and not server.get("ready"):
            if not model.get("pending") and not server:
                raise AssertionError(f"server of {user} did not start: {model}")
        time.sleep(1)
    raise AssertionError(f"server of {user} not ready after {timeout:.0f} s")


def docker_client(timeout: int = 30):
    """A client of the Docker engine, or a skip naming what is missing (a failure in CI: conftest)."""
    import pytest

    try:
        import docker
        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except Exception as exc:  # noqa: BLE001 - any way of not answering means the same here
        pytest.skip(f"no Docker engine answers ({type(exc).__name__}); CI starts one with .ci/docker-setup.sh")


def need_singleuser(client, image):
    """The notebook image runs a hub server itself (images/notebook carries jupyterhub); an image
    built before it did skips here with what to do, and fails in CI, which builds it fresh."""
    import pytest

    from gradehub.hub.image import singleuser_ready
    problem = singleuser_ready(client, image)
    if problem:
        message = (f"{image} cannot run a hub server ({problem}): rebuild it with "
                   "`gradehub images build --offline`")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def servers(client, image):
    """The student servers of ``image`` (not the grader's containers, built FROM it), skipping
    any that go away while listed (DockerSpawner removes a stopped server's container)."""
    import docker.errors
    out = []
    for summary in client.api.containers(all=True, filters={"ancestor": image}):
        if summary.get("Image") != image:
            continue
        try:
            out.append(client.containers.get(summary["Id"]))
        except docker.errors.NotFound:
            pass
    return out
