"""The ``docker`` sandbox: every kernel in a fresh, locked-down container of the grader image.

Per kernel, one container (see :func:`container_options` for every flag):

* no network (``network_mode="none"``); the host drives the kernel over ZeroMQ IPC sockets
  in the job directory, which is the container's **only** mount (read-write, at the same
  path inside as outside, so the socket paths in the connection file match);
* memory limit with swap equal to it (no swap), CPU quota, process/thread limit, no core
  dumps, a file-size limit, a capped container log;
* read-only root filesystem, small ``noexec`` tmpfs for ``/tmp`` and the home directory;
* uid 1000 (never root), every capability dropped, ``no-new-privileges``, an init process
  (``docker-init``) as PID 1 that reaps what the kernel forks;
* GPUs only when the job asks for them (``--gpus``).

The wall-clock and memory limits are enforced from outside: the executor's watchdog calls
:meth:`DockerKernel.kill`, which kills the container through the engine, and the engine's
OOM killer stops a kernel over its memory limit (reported through ``State.OOMKilled``).

Containers carry labels (``gradehub=1``, the owner process, the job) so that
:func:`reap_stale_containers` can remove what a killed ``gradehub autograde`` left behind;
:meth:`DockerSandbox.preflight` calls it on every run.

Every blocking call into the Docker SDK goes through :func:`_docker`, which applies the API
timeout and turns SDK/transport errors into :class:`SandboxUnavailable` (or a typed "gone"
value where a vanished container is a normal result).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import docker
import docker.errors
import psutil
import requests
from docker.types import DeviceRequest, LogConfig, Mount, Ulimit

from .base import Death, KernelHandle, Sandbox, SandboxJob, SandboxUnavailable, kernel_env, register

DEFAULT_IMAGE = "gradehub/grader:latest"
IMAGE_ENV_VAR = "GRADEHUB_GRADER_IMAGE"
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"

CONTAINER_USER = "1000:100"          # jovyan:users in the jupyter docker-stacks images
CONTAINER_UID, CONTAINER_GID = 1000, 100
CONTAINER_HOME = "/home/jovyan"
TMPFS_SIZE = "64m"
DEFAULT_PATH = "/opt/conda/bin:/opt/venv/bin:/usr/local/bin:/usr/bin:/bin"
MAX_FILE_BYTES = 512 * 2**20          # RLIMIT_FSIZE, as in the local sandbox
MAX_OPEN_FILES = 4096
LOG_MAX_SIZE = "1m"                   # the kernel's raw stdout/stderr (ipykernel forwards most of it)

PING_TIMEOUT = 5.0                    # seconds: does an engine answer at all?
API_TIMEOUT = 60.0                    # seconds: any other call (create/start/remove can be slow under load)
REAP_GRACE = 120.0                    # a container older than its wall timeout + this is a stray
REAP_INTERVAL = 60.0                  # workers re-check for strays at most this often

LABEL = "gradehub"
LABEL_OWNER_PID = "gradehub.owner_pid"
LABEL_OWNER_START = "gradehub.owner_start"
LABEL_OWNER_HOST = "gradehub.owner_host"
LABEL_JOB = "gradehub.job"
LABEL_JOB_DIR = "gradehub.job_dir"
LABEL_DEADLINE = "gradehub.deadline"
IMAGE_FINGERPRINT_LABEL = "gradehub.fingerprint"   # set on the image by `gradehub images build`


# ----------------------------------------------------------------------------- image freshness


# What a grading kernel imports from gradehub inside the container: the sheets' assertions and
# the executor's guard cells. Everything else runs on the host, so a change to it (reports,
# the CLI, the hub) needs no multi-GB image rebuild.
KERNEL_SIDE_MODULES = ("__init__.py", "guard.py", "testing.py")


def gradehub_fingerprint(package_dir: Path | None = None) -> str:
    """A digest of the gradehub sources a grading kernel runs (this installation's, by default).

    The kernel imports gradehub inside the container (``gradehub.testing`` in the sheets, the
    executor's ``gradehub.guard`` cells), so the image must carry the same code as the host:
    ``gradehub images build`` stores this digest as the image label ``gradehub.fingerprint``
    and :meth:`DockerSandbox.preflight` compares. A test keeps ``KERNEL_SIDE_MODULES`` in
    step with what those modules import.
    """
    package_dir = package_dir or Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for name in KERNEL_SIDE_MODULES:
        path = package_dir / name
        digest.update(name.encode() + b"\0")
        digest.update((path.read_bytes() if path.is_file() else b"<missing>") + b"\0")
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------- the SDK wrapper

_RAISE = object()


def docker_host() -> str:
    """Where the SDK looks for the engine (``DOCKER_HOST`` or the default socket)."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def _docker(what: str, fn: Callable[..., Any], *args: Any, gone: Any = _RAISE, **kwargs: Any) -> Any:
    """Run ONE blocking Docker SDK call; the only place that calls into the SDK.

    Timeouts come from the client (``API_TIMEOUT``) or the call's own ``timeout=``.
    ``gone``: returned instead of raising when the object is missing (404) or in the wrong
    state (409: not running, removal in progress): for kill/inspect/remove, that is a result.
    Everything else becomes :class:`SandboxUnavailable` with a one-line message.
    """
    try:
        return fn(*args, **kwargs)
    except docker.errors.NotFound as exc:
        if gone is not _RAISE:
            return gone
        raise SandboxUnavailable(f"docker {what}: not found: {_explain(exc)}") from None
    except docker.errors.APIError as exc:
        if gone is not _RAISE and exc.status_code == 409:
            return gone
        raise SandboxUnavailable(f"docker {what} failed: {_explain(exc)}") from None
    except requests.exceptions.Timeout:
        raise SandboxUnavailable(f"docker {what}: the engine at {docker_host()} did not answer in time") from None
    except (requests.exceptions.RequestException, docker.errors.DockerException, OSError) as exc:
        raise SandboxUnavailable(f"docker {what}: no Docker engine answers at {docker_host()} "
                                 f"({type(exc).__name__}): start dockerd or use --sandbox local") from None


def _explain(exc: Exception) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return " ".join(str(text).split())


_clients: dict[tuple[int, str], docker.DockerClient] = {}
_clients_lock = threading.Lock()


def get_client() -> docker.DockerClient:
    """A Docker client for this process (cached; rebuilt after a fork)."""
    key = (os.getpid(), docker_host())
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            try:
                # Constructing the client negotiates the API version: the first round trip.
                client = _docker("connect", docker.from_env, timeout=PING_TIMEOUT)
            except SandboxUnavailable:
                raise SandboxUnavailable(f"no Docker engine answers at {docker_host()}: "
                                         "start dockerd or use --sandbox local") from None
            client.api.timeout = API_TIMEOUT
            _clients[key] = client
        return client


def ping_engine() -> None:
    """Return when a Docker engine answers; else :class:`SandboxUnavailable` saying where it looked."""
    _docker("ping", get_client().api.ping)


# ----------------------------------------------------------------------------- container options


def _owner_identity(pid: int) -> tuple[str, str]:
    try:
        started = f"{psutil.Process(pid).create_time():.2f}"
    except psutil.Error:
        started = ""
    return started, socket.gethostname()


def container_name(label: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_.-")[:60] or "job"
    return f"gradehub-{safe}-{uuid.uuid4().hex[:8]}"


def kernel_command(kernel_argv: list[str], host_uid: int | None = None) -> list[str]:
    """The kernel argv inside the container: the interpreter is the image's ``python3``.

    The host passes its own ``sys.executable`` (jupyter_client substitutes it); that path
    means nothing in the image. The kernel (uid 1000) creates the IPC sockets; a host user
    that is neither root nor uid 1000 can only connect when they are world-writable, so only
    then the kernel starts under ``umask 000`` (the job directory is private to the job).
    """
    argv = ["python3", *kernel_argv[1:]] if kernel_argv else ["python3"]
    host_uid = os.geteuid() if host_uid is None else host_uid
    if host_uid not in (0, CONTAINER_UID):
        return ["/bin/sh", "-c", 'umask 000 && exec "$@"', "gradehub-kernel", *argv]
    return argv


def container_options(job: SandboxJob, image: str, kernel_argv: list[str] | None = None, *,
                      env: dict[str, str] | None = None, image_path: str | None = None,
                      owner_pid: int | None = None, host_uid: int | None = None,
                      now: float | None = None, name: str | None = None) -> dict[str, Any]:
    """The keyword arguments of ``client.containers.create`` for one kernel: pure, no engine.

    ``image_path``: the image's own ``PATH`` (where its ``python3`` lives); ``owner_pid``:
    the process that drives (and must clean up) the container, default this one.
    """
    limits = job.limits
    job_dir = str(job.job_dir)
    if not os.path.isabs(job_dir):
        raise ValueError(f"the job directory must be absolute: {job_dir}")
    owner_pid = os.getpid() if owner_pid is None else owner_pid
    owner_start, owner_host = _owner_identity(owner_pid)
    now = time.time() if now is None else now

    environment = kernel_env(job, CONTAINER_HOME)
    environment["PATH"] = image_path or DEFAULT_PATH
    environment["USER"] = "jovyan"
    if not job.gpus:
        # CUDA base images set NVIDIA_VISIBLE_DEVICES=all; on a host whose default runtime is
        # nvidia that alone would hand out the GPUs. "void" = no GPU, no driver mounts.
        environment["NVIDIA_VISIBLE_DEVICES"] = "void"
    environment.update(env or {})

    tmpfs_opts = f"rw,nosuid,nodev,noexec,size={TMPFS_SIZE},uid={CONTAINER_UID},gid={CONTAINER_GID}"
    options: dict[str, Any] = {
        "image": image,
        "command": kernel_command(kernel_argv or ["python3", "-m", "ipykernel_launcher",
                                                  "-f", os.path.join(job_dir, "kernel.json")], host_uid),
        "name": name or container_name(job.label or job.job_dir.name),
        "hostname": "gradehub",
        "user": CONTAINER_USER,
        "working_dir": job_dir,
        "environment": environment,
        "labels": {
            LABEL: "1",
            LABEL_OWNER_PID: str(owner_pid),
            LABEL_OWNER_START: owner_start,
            LABEL_OWNER_HOST: owner_host,
            LABEL_JOB: job.label,
            LABEL_JOB_DIR: job_dir,
            LABEL_DEADLINE: f"{now + limits.notebook_timeout + REAP_GRACE:.0f}",
        },
        # the one and only host path the kernel sees
        "mounts": [Mount(target=job_dir, source=os.path.realpath(job_dir), type="bind", read_only=False)],
        "tmpfs": {"/tmp": f"{tmpfs_opts},mode=1777", CONTAINER_HOME: f"{tmpfs_opts},mode=0700"},
        "read_only": True,
        "network_mode": "none",
        "ipc_mode": "private",
        "mem_limit": int(limits.memory_bytes),
        "memswap_limit": int(limits.memory_bytes),
        "pids_limit": int(limits.pids),
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "init": True,
        "oom_score_adj": 1000,
        "ulimits": [Ulimit(name="core", soft=0, hard=0),
                    Ulimit(name="fsize", soft=MAX_FILE_BYTES, hard=MAX_FILE_BYTES),
                    Ulimit(name="nofile", soft=MAX_OPEN_FILES, hard=MAX_OPEN_FILES)],
        "log_config": LogConfig(type="json-file", config={"max-size": LOG_MAX_SIZE, "max-file": "1"}),
        "stdin_open": False,
        "tty": False,
    }
    if limits.cpus and limits.cpus > 0:
        options["nano_cpus"] = int(round(limits.cpus * 1e9))
    if job.gpus:
        options["device_requests"] = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    return options


# ----------------------------------------------------------------------------- strays


def _owner_alive(labels: dict[str, str]) -> bool:
    try:
        pid = int(labels.get(LABEL_OWNER_PID, ""))
    except ValueError:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        started = labels.get(LABEL_OWNER_START)
        # A recycled pid is another process: compare start times.
        return not started or abs(proc.create_time() - float(started)) < 1.0
    except (psutil.Error, ValueError):
        return False


def is_stale(labels: dict[str, str], *, host: str | None = None, now: float | None = None) -> bool:
    """True for a gradehub container nobody will clean up: owner gone, or far past its deadline.

    Containers started on another host (another pid namespace) are judged by deadline only.
    """
    now = time.time() if now is None else now
    try:
        if now > float(labels.get(LABEL_DEADLINE, "inf")):
            return True
    except ValueError:
        pass
    if labels.get(LABEL_OWNER_HOST) != (host or socket.gethostname()):
        return False
    return not _owner_alive(labels)


def reap_stale_containers(client: docker.DockerClient | None = None) -> list[str]:
    """Remove (force) containers labelled ``gradehub=1`` whose owner process is gone.

    A killed ``gradehub autograde`` takes its workers with it (parent-death signal), but their
    containers live on in the engine; this runs at the start of every run. Returns the names
    removed. The job directory of a removed container goes too.
    """
    client = client or get_client()
    listed = _docker("list containers", client.api.containers, all=True, filters={"label": f"{LABEL}=1"})
    host = socket.gethostname()
    removed = []
    for entry in listed or []:
        labels = entry.get("Labels") or {}
        if not is_stale(labels, host=host):
            continue
        _docker("remove stale container", client.api.remove_container, entry["Id"], force=True, v=True,
                gone=None)
        removed.append(((entry.get("Names") or [entry["Id"][:12]])[0]).lstrip("/"))
        job_dir = Path(labels.get(LABEL_JOB_DIR, ""))
        if (labels.get(LABEL_OWNER_HOST) == host and job_dir.is_absolute() and job_dir.name.startswith("gh-")
                and job_dir.is_dir() and not _owner_alive(labels)):
            shutil.rmtree(job_dir, ignore_errors=True)
    return removed


# ----------------------------------------------------------------------------- the kernel


def _exit_code(state: dict[str, Any]) -> int:
    """The kernel's exit status as Popen reports it: docker-init exits 128+N for signal N."""
    code = int(state.get("ExitCode") or 0)
    if 128 < code <= 128 + 64:
        return -(code - 128)
    return code


class DockerKernel(KernelHandle):
    """A kernel running as the main process of one container."""

    def __init__(self, client: docker.DockerClient, container_id: str, name: str):
        self.client = client
        self.id = container_id
        self.name = name
        self._state: dict[str, Any] | None = None   # final state, once stopped
        self._killed_for: str | None = None
        self._removed = False
        self._lock = threading.Lock()

    def _inspect(self) -> dict[str, Any] | None:
        if self._state is not None:
            return self._state
        info = _docker("inspect container", self.client.api.inspect_container, self.id, gone=None)
        if info is None:  # removed behind our back: it is not running, whatever it was
            self._state = {"Status": "removed", "Running": False, "ExitCode": 137, "OOMKilled": False}
            return self._state
        state = info.get("State") or {}
        if state.get("Status") in ("exited", "dead"):
            self._state = state
        return state

    def poll(self) -> int | None:
        state = self._inspect()
        if state is None or self._state is None:
            return None
        return _exit_code(state)

    def signal(self, signum: int) -> None:
        # To docker-init (PID 1), which forwards it to the kernel.
        try:
            _docker("signal container", self.client.api.kill, self.id, signal=int(signum), gone=None)
        except SandboxUnavailable as exc:
            print(f"gradehub: {self.name}: {exc}", file=sys.stderr)

    def kill(self, reason: str) -> None:
        with self._lock:
            try:
                if self._killed_for is None and self.poll() is None:
                    self._killed_for = reason
                if self._state is None:
                    _docker("kill container", self.client.api.kill, self.id, gone=None)
                    # Wait (briefly) until the engine has recorded the exit.
                    _docker("wait for container", self.client.api.wait, self.id, timeout=10, gone=None)
            except SandboxUnavailable as exc:
                print(f"gradehub: {self.name}: {exc}", file=sys.stderr)

    def memory_bytes(self) -> int | None:
        return None  # the engine enforces the memory limit itself (cgroup), see death()

    def death(self) -> Death:
        try:
            code = self.poll()
        except SandboxUnavailable:
            code = None
        state = self._state or {}
        return Death(exit_code=code, oom_killed=bool(state.get("OOMKilled")), killed_by_us=self._killed_for)

    def cleanup(self) -> None:
        with self._lock:
            if self._removed:
                return
            try:
                if self._state is None:
                    self._inspect()  # keep the final state for death() after removal
                _docker("remove container", self.client.api.remove_container, self.id,
                        force=True, v=True, gone=None)
                self._removed = True
            except SandboxUnavailable as exc:
                print(f"gradehub: {self.name}: {exc}", file=sys.stderr)


# ----------------------------------------------------------------------------- the sandbox


def check_image_fingerprint(image: str, info: dict[str, Any]) -> None:
    """Refuse an image whose gradehub differs from the host's (grading would import stale code).

    Images without the label (built some other way) are not checked.
    ``GRADEHUB_SKIP_IMAGE_CHECK=1`` skips the check (development only).
    """
    labels = (info.get("Config") or {}).get("Labels") or {}
    built_from = labels.get(IMAGE_FINGERPRINT_LABEL)
    if not built_from or built_from == "unknown" or os.environ.get("GRADEHUB_SKIP_IMAGE_CHECK") == "1":
        return
    here = gradehub_fingerprint()
    if built_from != here:
        raise SandboxUnavailable(f"image {image} holds other gradehub sources than this installation "
                                 f"({built_from} vs {here}): run `gradehub images build --offline`")


_image_paths: dict[tuple[int, str], str] = {}
_last_reap: dict[int, float] = {}


@register
class DockerSandbox(Sandbox):
    name = "docker"
    isolates_filesystem = True

    def __init__(self, image: str | None = None):
        self.image = image or os.environ.get(IMAGE_ENV_VAR) or DEFAULT_IMAGE

    def _image_info(self, client: docker.DockerClient) -> dict[str, Any] | None:
        return _docker("inspect image", client.api.inspect_image, self.image, gone=None)

    def preflight(self) -> None:
        ping_engine()
        client = get_client()
        info = self._image_info(client)
        if info is None:
            raise SandboxUnavailable(f"image {self.image} not found: run `gradehub images build --offline`")
        check_image_fingerprint(self.image, info)
        reap_stale_containers(client)
        _last_reap[os.getpid()] = time.monotonic()

    def _image_path(self, client: docker.DockerClient) -> str:
        key = (os.getpid(), self.image)
        if key not in _image_paths:
            info = self._image_info(client)
            if info is None:
                raise SandboxUnavailable(f"image {self.image} not found: run `gradehub images build --offline`")
            env = dict(e.split("=", 1) for e in (info.get("Config") or {}).get("Env") or [] if "=" in e)
            _image_paths[key] = env.get("PATH") or DEFAULT_PATH
        return _image_paths[key]

    def _maybe_reap(self, client: docker.DockerClient) -> None:
        pid = os.getpid()
        if time.monotonic() - _last_reap.get(pid, -REAP_INTERVAL) < REAP_INTERVAL:
            return
        _last_reap[pid] = time.monotonic()
        try:
            reap_stale_containers(client)
        except SandboxUnavailable:
            pass

    def start_kernel(self, job: SandboxJob, kernel_argv: list[str], env: dict[str, str]) -> KernelHandle:
        client = get_client()
        self._maybe_reap(client)
        # jupyter_client writes the connection file 0600 for the host user; the kernel runs as
        # uid 1000 and must read it. It holds only this kernel's own key and socket names.
        argv = list(kernel_argv)
        if "-f" in argv[:-1]:
            connection_file = Path(argv[argv.index("-f") + 1])
            if connection_file.is_file():
                os.chmod(connection_file, 0o644)
        options = container_options(job, self.image, argv, env=env, image_path=self._image_path(client))
        created = _docker("create container", client.api.create_container, **_low_level(client, options))
        container_id = created["Id"]
        kernel = DockerKernel(client, container_id, options["name"])
        try:
            _docker("start container", client.api.start, container_id)
        except BaseException:
            kernel.cleanup()
            raise
        return kernel

    def describe(self) -> dict[str, Any]:
        return {"sandbox": self.name, "image": self.image}


_HOST_CONFIG_KEYS = {
    "mounts", "tmpfs", "read_only", "network_mode", "ipc_mode", "mem_limit", "memswap_limit",
    "pids_limit", "cap_drop", "security_opt", "init", "oom_score_adj", "ulimits", "log_config",
    "nano_cpus", "device_requests",
}


def _low_level(client: docker.DockerClient, options: dict[str, Any]) -> dict[str, Any]:
    """:func:`container_options` (high-level ``containers.create`` kwargs) for ``api.create_container``.

    The low-level call saves the extra inspect that ``containers.create`` makes.
    """
    host_config = {k: v for k, v in options.items() if k in _HOST_CONFIG_KEYS}
    rest = {k: v for k, v in options.items() if k not in _HOST_CONFIG_KEYS}
    return {**rest, "host_config": client.api.create_host_config(**host_config)}
