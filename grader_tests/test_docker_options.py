"""The docker sandbox without an engine: every container flag, the GPU request, the reaper's
rules and the one-line errors when there is no engine or no image.

Nothing here talks to Docker (a fake client stands in where one is needed), so this runs
everywhere; grader_tests/test_docker_hostile.py runs the same code against a real engine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import docker
import docker.errors
import psutil
import pytest
from docker.types import DeviceRequest

from gradehub import dockerapi
from gradehub.course import Limits
from gradehub.sandbox import docker as dsb
from gradehub.sandbox.base import SandboxJob, SandboxUnavailable, get_sandbox

JOB_DIR = Path("/tmp/gh-abc123")
ARGV = ["/srv/venv/bin/python3.11", "-m", "ipykernel_launcher", "-f", str(JOB_DIR / "kernel.json")]
GiB = 2**30


def _job(gpus=False, **limits):
    lim = Limits(**{"memory_bytes": 3 * GiB, "cpus": 1.5, "pids": 128, "notebook_timeout": 300.0, **limits})
    return SandboxJob(job_dir=JOB_DIR, limits=lim, threads=2, gpus=gpus, label="week01-s001")


@pytest.fixture
def opts(monkeypatch):
    monkeypatch.setenv("GRADEHUB_SECRET_OF_THE_HOST", "do-not-leak")
    return dsb.container_options(_job(), "gradehub/grader:test", ARGV, host_uid=0,
                                 image_path="/opt/venv/bin:/usr/bin:/bin", now=1_000_000.0)


def test_no_network_and_limits(opts):
    assert opts["network_mode"] == "none"
    assert opts["mem_limit"] == 3 * GiB
    assert opts["memswap_limit"] == opts["mem_limit"]          # no swap on top of the limit
    assert opts["nano_cpus"] == 1_500_000_000
    assert opts["pids_limit"] == 128
    ulimits = {u.name: (u.soft, u.hard) for u in opts["ulimits"]}
    assert ulimits["core"] == (0, 0)
    assert ulimits["fsize"][0] == ulimits["fsize"][1] > 0
    assert opts["log_config"].type == "json-file" and opts["log_config"].config["max-size"]


def test_locked_down_process(opts):
    assert opts["user"] == "1000:100"
    assert opts["cap_drop"] == ["ALL"]
    assert opts["security_opt"] == ["no-new-privileges"]
    assert opts["init"] is True
    assert opts["read_only"] is True
    for key in ("privileged", "cap_add", "devices", "volumes", "pid_mode", "userns_mode", "device_requests"):
        assert key not in opts


def test_tmpfs_for_tmp_and_home(opts):
    assert set(opts["tmpfs"]) == {"/tmp", dsb.CONTAINER_HOME}
    for mount_opts in opts["tmpfs"].values():
        fields = mount_opts.split(",")
        assert "size=64m" in fields and "uid=1000" in fields
        assert {"nosuid", "nodev", "noexec"} <= set(fields)


def test_the_job_dir_is_the_only_mount_at_the_same_path(opts):
    assert len(opts["mounts"]) == 1
    mount = opts["mounts"][0]
    assert mount["Type"] == "bind"
    assert mount["Source"] == os.path.realpath(JOB_DIR)
    assert mount["Target"] == str(JOB_DIR)                    # IPC socket paths match inside
    assert mount["ReadOnly"] is False
    assert opts["working_dir"] == str(JOB_DIR)


def test_environment_is_the_kernel_env_only(opts):
    env = opts["environment"]
    assert env["HOME"] == dsb.CONTAINER_HOME and env["HOME"] in opts["tmpfs"]
    assert env["GRADEHUB_GRADING"] == "1"
    assert env["OMP_NUM_THREADS"] == "2"
    assert env["PATH"] == "/opt/venv/bin:/usr/bin:/bin"       # the image's own PATH
    assert env["NVIDIA_VISIBLE_DEVICES"] == "void"
    assert "GRADEHUB_SECRET_OF_THE_HOST" not in env
    assert not any("do-not-leak" in v for v in env.values())


def test_kernel_command_uses_the_image_python(opts):
    assert opts["command"] == ["python3", *ARGV[1:]]
    assert opts["image"] == "gradehub/grader:test"


def test_kernel_command_for_a_host_user_other_than_root_or_1000():
    argv = dsb.kernel_command(ARGV, host_uid=4242)
    assert argv[:3] == ["/bin/sh", "-c", 'umask 000 && exec "$@"']
    assert argv[4:] == ["python3", *ARGV[1:]]
    assert dsb.kernel_command(ARGV, host_uid=1000) == ["python3", *ARGV[1:]]


def test_labels(opts):
    labels = opts["labels"]
    assert labels["gradehub"] == "1"
    assert labels["gradehub.owner_pid"] == str(os.getpid())
    assert labels["gradehub.job"] == "week01-s001"
    assert labels["gradehub.job_dir"] == str(JOB_DIR)
    assert float(labels["gradehub.deadline"]) == 1_000_000.0 + 300 + dsb.REAP_GRACE
    assert opts["name"].startswith("gradehub-week01-s001-")


def test_gpu_request_only_with_gpus():
    with_gpu = dsb.container_options(_job(gpus=True), "img", ARGV, host_uid=0)
    assert with_gpu["device_requests"] == [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    assert "NVIDIA_VISIBLE_DEVICES" not in with_gpu["environment"]
    without = dsb.container_options(_job(gpus=False), "img", ARGV, host_uid=0)
    assert "device_requests" not in without


def test_odd_labels_make_valid_container_names():
    job = SandboxJob(job_dir=JOB_DIR, limits=Limits(), label="week01-Zoë O'Brien/..")
    name = dsb.container_options(job, "img", ARGV, host_uid=0)["name"]
    assert name.startswith("gradehub-week01-Zo_O_Brien-")
    assert all(c.isalnum() or c in "_.-" for c in name)


def test_host_config_the_engine_receives():
    """The low-level create call gets all of it (checked on the API payload, no engine)."""
    kwargs = dockerapi.container_create_kwargs(dsb.container_options(_job(gpus=True), "img", ARGV, host_uid=0),
                                               api_version="1.41")
    hc = kwargs["host_config"]
    assert hc["NetworkMode"] == "none"
    assert hc["Memory"] == hc["MemorySwap"] == 3 * GiB
    assert hc["NanoCpus"] == 1_500_000_000 and hc["PidsLimit"] == 128
    assert hc["ReadonlyRootfs"] is True and hc["Init"] is True
    assert hc["CapDrop"] == ["ALL"] and hc["SecurityOpt"] == ["no-new-privileges"]
    assert [m["Target"] for m in hc["Mounts"]] == [str(JOB_DIR)]
    assert set(hc["Tmpfs"]) == {"/tmp", dsb.CONTAINER_HOME}
    assert hc["DeviceRequests"][0]["Count"] == -1
    assert "Binds" not in hc and not hc.get("Privileged")
    assert kwargs["user"] == "1000:100" and kwargs["working_dir"] == str(JOB_DIR)


# ----------------------------------------------------------------------------- preflight


def test_preflight_without_an_engine(monkeypatch, tmp_path):
    socket_path = tmp_path / "no-docker-here.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
    with pytest.raises(SandboxUnavailable) as info:
        get_sandbox("docker").preflight()
    message = str(info.value)
    assert message == (f"no Docker engine answers at unix://{socket_path}: "
                       "start dockerd or use --sandbox local")
    assert "\n" not in message


def test_autograde_cli_without_an_engine_is_a_clear_error(monkeypatch, tmp_path, toy_course, capsys):
    from gradehub.cli import main
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    code = main(["autograde", "toy", "--sandbox", "docker", "--course-root", str(toy_course.root)])
    err = capsys.readouterr().err
    assert code == 2
    assert "no Docker engine answers at" in err and "Traceback" not in err


class _FakeAPI:
    """Just enough of docker.APIClient for preflight, the reaper and a kernel handle."""

    def __init__(self, images=(), containers=(), state=None):
        self.images = set(images)
        self.listed = list(containers)
        self.removed: list[str] = []
        self.state = state or {}
        self.killed: list[tuple[str, int | None]] = []

    def ping(self):
        return True

    def inspect_image(self, name):
        if name not in self.images:
            raise docker.errors.ImageNotFound(f"No such image: {name}")
        return {"Id": "sha256:" + "0" * 64, "Config": {"Env": ["PATH=/opt/venv/bin:/usr/bin"]}}

    def containers(self, all=False, filters=None):  # noqa: A002 - SDK signature
        assert filters == {"label": "gradehub=1"}
        return self.listed

    def remove_container(self, cid, force=False, v=False):
        assert force
        self.removed.append(cid)

    def inspect_container(self, cid):
        if cid in self.removed:
            raise docker.errors.NotFound("gone")
        return {"State": self.state}

    def kill(self, cid, signal=None):
        self.killed.append((cid, signal))

    def wait(self, cid, timeout=None):
        return {"StatusCode": 137}


def _FakeClient(api):  # noqa: N802 - reads like the client it stands in for
    """An engine over a fake SDK client (the wrapper's own error handling stays in the path)."""
    return dockerapi.Engine(SimpleNamespace(api=api))


def test_preflight_names_the_missing_image(monkeypatch):
    monkeypatch.setattr(dsb, "get_engine", lambda: _FakeClient(_FakeAPI(images=[])))
    monkeypatch.delenv("GRADEHUB_GRADER_IMAGE", raising=False)
    with pytest.raises(SandboxUnavailable) as info:
        get_sandbox("docker").preflight()
    assert str(info.value) == "image gradehub/grader:latest not found: run `gradehub images build --offline`"


def test_image_from_env_and_option(monkeypatch):
    monkeypatch.setenv("GRADEHUB_GRADER_IMAGE", "registry.example/grader:2026")
    assert get_sandbox("docker").image == "registry.example/grader:2026"
    assert get_sandbox("docker", image="mine:1").image == "mine:1"
    monkeypatch.setattr(dsb, "get_engine", lambda: _FakeClient(_FakeAPI(images=["mine:1"])))
    get_sandbox("docker", image="mine:1").preflight()  # the image is there: no error


# ----------------------------------------------------------------------------- strays


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _labels(pid, host=None, deadline=None, start=None):
    me = psutil.Process(pid) if psutil.pid_exists(pid) else None
    return {"gradehub": "1", "gradehub.owner_pid": str(pid),
            "gradehub.owner_start": start if start is not None else (f"{me.create_time():.2f}" if me else "1.00"),
            "gradehub.owner_host": host or dsb.socket.gethostname(),
            "gradehub.deadline": str(deadline if deadline is not None else time.time() + 3600)}


def test_stale_rules():
    assert not dsb.is_stale(_labels(os.getpid()))
    assert dsb.is_stale(_labels(_dead_pid()))
    assert dsb.is_stale(_labels(os.getpid(), start="12.00"))                       # recycled pid
    assert not dsb.is_stale(_labels(_dead_pid(), host="some-other-host"))          # not ours to judge
    assert dsb.is_stale(_labels(os.getpid(), deadline=time.time() - 1))           # far past its time


def test_reaper_removes_only_strays(monkeypatch, tmp_path):
    job_dir = tmp_path / "gh-stray"
    job_dir.mkdir()
    stray = {"Id": "a" * 64, "Names": ["/gradehub-stray"], "Labels": {**_labels(_dead_pid()),
                                                                       "gradehub.job_dir": str(job_dir)}}
    live = {"Id": "b" * 64, "Names": ["/gradehub-live"], "Labels": _labels(os.getpid())}
    api = _FakeAPI(containers=[stray, live])
    assert dsb.reap_stale_containers(_FakeClient(api)) == ["gradehub-stray"]
    assert api.removed == ["a" * 64]
    assert not job_dir.exists()


def test_preflight_reaps(monkeypatch):
    stray = {"Id": "c" * 64, "Names": ["/gradehub-old"], "Labels": _labels(_dead_pid())}
    api = _FakeAPI(images=["gradehub/grader:latest"], containers=[stray])
    monkeypatch.setattr(dsb, "get_engine", lambda: _FakeClient(api))
    monkeypatch.delenv("GRADEHUB_GRADER_IMAGE", raising=False)
    get_sandbox("docker").preflight()
    assert api.removed == ["c" * 64]


# ----------------------------------------------------------------------------- the kernel handle


@pytest.mark.parametrize("code, expected", [(0, 0), (3, 3), (137, -9), (139, -11), (1, 1)])
def test_exit_codes_as_popen_reports_them(code, expected):
    assert dsb._exit_code({"ExitCode": code}) == expected


def test_oom_kill_is_reported():
    api = _FakeAPI(state={"Status": "exited", "Running": False, "ExitCode": 137, "OOMKilled": True})
    kernel = dsb.DockerKernel(_FakeClient(api), "d" * 64, "gradehub-x")
    assert kernel.memory_bytes() is None
    assert kernel.poll() == -9
    death = kernel.death()
    assert death.oom_killed and death.exit_code == -9 and death.killed_by_us is None
    kernel.cleanup()
    kernel.cleanup()                                   # idempotent
    assert api.removed == ["d" * 64]
    assert kernel.death().oom_killed                   # still known after removal


def test_kill_from_outside_records_why():
    api = _FakeAPI(state={"Status": "running", "Running": True, "ExitCode": 0, "OOMKilled": False})
    kernel = dsb.DockerKernel(_FakeClient(api), "e" * 64, "gradehub-y")
    assert kernel.poll() is None
    kernel.signal(2)
    kernel.kill("timeout")
    assert api.killed == [("e" * 64, 2), ("e" * 64, None)]
    api.state = {"Status": "exited", "Running": False, "ExitCode": 137, "OOMKilled": False}
    assert kernel.death().killed_by_us == "timeout"


def test_engine_errors_become_sandbox_unavailable():
    class Failing(_FakeAPI):
        def start(self, cid):
            raise docker.errors.APIError("500 Server Error", explanation="driver failed\nprogramming")

        def remove_container(self, cid, force=False, v=False):
            raise docker.errors.NotFound("x")

    engine = _FakeClient(Failing())
    with pytest.raises(dockerapi.EngineError, match="docker start container failed: driver failed programming"):
        engine.start("f" * 64)
    error = dsb.sandbox_error(dockerapi.EngineError("docker start container failed: driver failed programming"))
    assert isinstance(error, SandboxUnavailable) and str(error) == "docker start container failed: driver failed programming"
    assert engine.remove_container("f" * 64) is False                 # gone already: a result, not an error
    unavailable = dsb.sandbox_error(dockerapi.EngineUnavailable("docker ping: no Docker engine answers at unix:///x"))
    assert str(unavailable) == "docker ping: no Docker engine answers at unix:///x: start dockerd or use --sandbox local"


# ----------------------------------------------------------------------------- images


def test_images_build_without_an_engine(monkeypatch, tmp_path):
    from gradehub.images import ImagesError, build_images
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    with pytest.raises(ImagesError, match="no Docker engine answers at .*: install docker.io and start dockerd"):
        build_images(offline=True)


def test_images_build_without_debootstrap(monkeypatch):
    from gradehub import images
    monkeypatch.setattr(images.shutil, "which", lambda name: None)
    with pytest.raises(images.ImagesError, match="debootstrap is not installed"):
        images.build_standin_base(object())


def test_image_files_are_pinned():
    root = Path(__file__).resolve().parent.parent / "images"
    reqs = [l.strip() for l in (root / "notebook" / "requirements.txt").read_text().splitlines()
            if l.strip() and not l.startswith("#")]
    names = {r.split("==")[0].lower() for r in reqs}
    assert {"jupyterlab", "nbgrader", "torch", "numpy", "scipy", "matplotlib", "pandas", "ipykernel"} <= names
    assert all("==" in r for r in reqs)
    assert "nbgrader==0.9.6" in reqs and any(r.startswith("jupyterlab==4.") for r in reqs)
    # the hub starts students' servers with jupyterhub-singleuser: the hub's own version
    hub = (root.parent / "hub" / "requirements.txt").read_text().splitlines()
    [jupyterhub] = [r for r in hub if r.startswith("jupyterhub==")]
    assert jupyterhub in reqs
    notebook = (root / "notebook" / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=quay.io/jupyter/" in notebook and "FROM ${BASE_IMAGE}" in notebook
    grader = (root / "grader" / "Dockerfile").read_text()
    assert "ARG NOTEBOOK_IMAGE=gradehub/notebook:latest" in grader and "FROM ${NOTEBOOK_IMAGE}" in grader


# ----------------------------------------------------------------------------- image freshness


def test_fingerprint_follows_the_sources(tmp_path):
    pkg = tmp_path / "gradehub"
    (pkg / "sandbox").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "testing.py").write_text("A = 1\n")
    (pkg / "guard.py").write_text("B = 1\n")
    first = dsb.gradehub_fingerprint(pkg)
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "testing.cpython-311.py").write_text("junk")
    (pkg / "reports.py").write_text("host-side only")
    assert dsb.gradehub_fingerprint(pkg) == first          # host-side code needs no image rebuild
    (pkg / "testing.py").write_text("A = 2\n")
    assert dsb.gradehub_fingerprint(pkg) != first
    assert dsb.gradehub_fingerprint() == dsb.gradehub_fingerprint(Path(dsb.__file__).parent.parent)


def test_kernel_side_modules_import_nothing_else_from_gradehub():
    """The fingerprint covers what the kernel imports; a new gradehub import there must join it."""
    import ast
    import re
    pkg = Path(dsb.__file__).parent.parent
    imported = set()
    for name in dsb.KERNEL_SIDE_MODULES:
        for node in ast.walk(ast.parse((pkg / name).read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("gradehub")):
                imported.add(node.module or "")
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names if a.name.startswith("gradehub"))
    covered = {"gradehub." + n.removesuffix(".py") for n in dsb.KERNEL_SIDE_MODULES} | {"gradehub"}
    assert {m if m.startswith("gradehub") else "gradehub." + m for m in imported} <= covered
    sheets = " ".join(p.read_text() for p in (pkg.parent / "source").glob("*/*.ipynb"))
    assert set(re.findall(r"(?:from|import) (gradehub[\w.]*)", sheets)) <= covered


def test_preflight_refuses_an_image_with_other_gradehub_sources(monkeypatch):
    monkeypatch.delenv("GRADEHUB_SKIP_IMAGE_CHECK", raising=False)
    here = dsb.gradehub_fingerprint()
    dsb.check_image_fingerprint("img", {"Config": {"Labels": {"gradehub.fingerprint": here}}})
    dsb.check_image_fingerprint("img", {"Config": {"Labels": None}})          # not built by us: no check
    with pytest.raises(SandboxUnavailable) as info:
        dsb.check_image_fingerprint("gradehub/grader:latest",
                                    {"Config": {"Labels": {"gradehub.fingerprint": "0123456789abcdef"}}})
    assert "run `gradehub images build --offline`" in str(info.value)
    monkeypatch.setenv("GRADEHUB_SKIP_IMAGE_CHECK", "1")
    dsb.check_image_fingerprint("img", {"Config": {"Labels": {"gradehub.fingerprint": "0123456789abcdef"}}})
