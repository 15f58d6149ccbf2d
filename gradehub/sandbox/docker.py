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

Every call into the engine goes through :class:`gradehub.dockerapi.Engine` (the only module
that calls the Docker SDK); its typed errors become :class:`SandboxUnavailable` here, and a
container that vanished is a result (``None``/``False``), not an error.
"""

from __future__ import annotations

import contextlib
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
from typing import Any
from collections.abc import Iterator

import psutil

from ..dockerapi import (
    API_TIMEOUT,
    PING_TIMEOUT,
    DeviceRequest,
    DockerError,
    Engine,
    EngineTimeout,
    EngineUnavailable,
    LogConfig,
    Mount,
    Ulimit,
    connect,
    docker_host,
)
from .base import Death, KernelHandle, Sandbox, SandboxJob, SandboxUnavailable, kernel_env, register

DEFAULT_IMAGE = "gradehub/grader:latest"
IMAGE_ENV_VAR = "GRADEHUB_GRADER_IMAGE"

CONTAINER_USER = "1000:100"  # jovyan:users in the jupyter docker-stacks images
CONTAINER_UID, CONTAINER_GID = 1000, 100
CONTAINER_HOME = "/home/jovyan"
TMPFS_SIZE = "64m"
DEFAULT_PATH = "/opt/conda/bin:/opt/venv/bin:/usr/local/bin:/usr/bin:/bin"
MAX_FILE_BYTES = 512 * 2**20  # RLIMIT_FSIZE, as in the local sandbox
MAX_OPEN_FILES = 4096
LOG_MAX_SIZE = "1m"  # the kernel's raw stdout/stderr (ipykernel forwards most of it)

REAP_GRACE = 120.0  # a container older than its wall timeout + this is a stray
REAP_INTERVAL = 60.0  # workers re-check for strays at most this often

LABEL = "gradehub"
LABEL_OWNER_PID = "gradehub.owner_pid"
LABEL_OWNER_START = "gradehub.owner_start"
LABEL_OWNER_HOST = "gradehub.owner_host"
LABEL_JOB = "gradehub.job"
LABEL_JOB_DIR = "gradehub.job_dir"
LABEL_DEADLINE = "gradehub.deadline"
IMAGE_FINGERPRINT_LABEL = "gradehub.fingerprint"  # set on the image by `gradehub images build`


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


# ----------------------------------------------------------------------------- the engine

NO_ENGINE_HINT = "start dockerd or use --sandbox local"


def sandbox_error(exc: DockerError) -> SandboxUnavailable:
    """A Docker error as the sandbox reports it (one line; without an engine, what to do)."""
    if isinstance(exc, EngineUnavailable) and not isinstance(exc, EngineTimeout):
        return SandboxUnavailable(f"{exc}: {NO_ENGINE_HINT}")
    return SandboxUnavailable(str(exc))


@contextlib.contextmanager
def _engine_errors() -> Iterator[None]:
    try:
        yield
    except DockerError as exc:
        raise sandbox_error(exc) from None


_engines: dict[tuple[int, str], Engine] = {}
_engines_lock = threading.Lock()


def get_engine() -> Engine:
    """The Docker engine for this process (cached; reconnected after a fork)."""
    key = (os.getpid(), docker_host())
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            try:
                engine = connect(timeout=PING_TIMEOUT, api_timeout=API_TIMEOUT)
            except EngineUnavailable as exc:
                raise SandboxUnavailable(f"{exc}: {NO_ENGINE_HINT}") from None
            _engines[key] = engine
        return engine


def ping_engine() -> None:
    """Return when a Docker engine answers; else :class:`SandboxUnavailable` saying where it looked."""
    with _engine_errors():
        get_engine().ping()


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


def container_options(
    job: SandboxJob,
    image: str,
    kernel_argv: list[str] | None = None,
    *,
    env: dict[str, str] | None = None,
    image_path: str | None = None,
    owner_pid: int | None = None,
    host_uid: int | None = None,
    now: float | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """The options of :meth:`Engine.create_container` for one kernel: pure, no engine.

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
        "command": kernel_command(
            kernel_argv or ["python3", "-m", "ipykernel_launcher", "-f", os.path.join(job_dir, "kernel.json")], host_uid
        ),
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
        # /tmp: the container's own tmpfs, not the host's
        "tmpfs": {"/tmp": f"{tmpfs_opts},mode=1777", CONTAINER_HOME: f"{tmpfs_opts},mode=0700"},  # noqa: S108
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
        "ulimits": [
            Ulimit(name="core", soft=0, hard=0),
            Ulimit(name="fsize", soft=MAX_FILE_BYTES, hard=MAX_FILE_BYTES),
            Ulimit(name="nofile", soft=MAX_OPEN_FILES, hard=MAX_OPEN_FILES),
        ],
        "log_config": LogConfig(type="json-file", config={"max-size": LOG_MAX_SIZE, "max-file": "1"}),
        "stdin_open": False,
        "tty": False,
    }
    if limits.cpus and limits.cpus > 0:
        options["nano_cpus"] = round(limits.cpus * 1e9)
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


def reap_stale_containers(engine: Engine | None = None) -> list[str]:
    """Remove (force) containers labelled ``gradehub=1`` whose owner process is gone.

    A killed ``gradehub autograde`` takes its workers with it (parent-death signal), but their
    containers live on in the engine; this runs at the start of every run. Returns the names
    removed. The job directory of a removed container goes too.
    """
    engine = engine or get_engine()
    with _engine_errors():
        listed = engine.list_containers({"label": f"{LABEL}=1"})
    host = socket.gethostname()
    removed = []
    for entry in listed:
        labels = entry.get("Labels") or {}
        if not is_stale(labels, host=host):
            continue
        with _engine_errors():
            engine.remove_container(entry["Id"], what="remove stale container")
        removed.append(((entry.get("Names") or [entry["Id"][:12]])[0]).lstrip("/"))
        job_dir = Path(labels.get(LABEL_JOB_DIR, ""))
        if (
            labels.get(LABEL_OWNER_HOST) == host
            and job_dir.is_absolute()
            and job_dir.name.startswith("gh-")
            and job_dir.is_dir()
            and not _owner_alive(labels)
        ):
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

    def __init__(self, engine: Engine, container_id: str, name: str):
        self.engine = engine
        self.id = container_id
        self.name = name
        self._state: dict[str, Any] | None = None  # final state, once stopped
        self._killed_for: str | None = None
        self._removed = False
        self._lock = threading.Lock()

    def _inspect(self) -> dict[str, Any] | None:
        if self._state is not None:
            return self._state
        with _engine_errors():
            info = self.engine.inspect_container(self.id)
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
            self.engine.kill(self.id, signal=int(signum))
        except DockerError as exc:
            print(f"gradehub: {self.name}: {sandbox_error(exc)}", file=sys.stderr)

    def kill(self, reason: str) -> None:
        with self._lock:
            try:
                if self._killed_for is None and self.poll() is None:
                    self._killed_for = reason
                if self._state is None:
                    self.engine.kill(self.id)
                    # Wait (briefly) until the engine has recorded the exit.
                    self.engine.wait(self.id, timeout=10)
            except SandboxUnavailable as exc:
                print(f"gradehub: {self.name}: {exc}", file=sys.stderr)
            except DockerError as exc:
                print(f"gradehub: {self.name}: {sandbox_error(exc)}", file=sys.stderr)

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
                self.engine.remove_container(self.id)
                self._removed = True
            except SandboxUnavailable as exc:
                print(f"gradehub: {self.name}: {exc}", file=sys.stderr)
            except DockerError as exc:
                print(f"gradehub: {self.name}: {sandbox_error(exc)}", file=sys.stderr)


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
        raise SandboxUnavailable(
            f"image {image} holds other gradehub sources than this installation "
            f"({built_from} vs {here}): run `gradehub images build --offline`"
        )


_image_paths: dict[tuple[int, str], str] = {}
_last_reap: dict[int, float] = {}


@register
class DockerSandbox(Sandbox):
    name = "docker"
    isolates_filesystem = True

    def __init__(self, image: str | None = None):
        self.image = image or os.environ.get(IMAGE_ENV_VAR) or DEFAULT_IMAGE

    def _image_info(self, engine: Engine) -> dict[str, Any] | None:
        with _engine_errors():
            return engine.inspect_image(self.image)

    def preflight(self) -> None:
        ping_engine()
        engine = get_engine()
        info = self._image_info(engine)
        if info is None:
            raise SandboxUnavailable(f"image {self.image} not found: run `gradehub images build --offline`")
        check_image_fingerprint(self.image, info)
        reap_stale_containers(engine)
        _last_reap[os.getpid()] = time.monotonic()

    def _image_path(self, engine: Engine) -> str:
        key = (os.getpid(), self.image)
        if key not in _image_paths:
            info = self._image_info(engine)
            if info is None:
                raise SandboxUnavailable(f"image {self.image} not found: run `gradehub images build --offline`")
            env = dict(e.split("=", 1) for e in (info.get("Config") or {}).get("Env") or [] if "=" in e)
            _image_paths[key] = env.get("PATH") or DEFAULT_PATH
        return _image_paths[key]

    def _maybe_reap(self, engine: Engine) -> None:
        pid = os.getpid()
        if time.monotonic() - _last_reap.get(pid, -REAP_INTERVAL) < REAP_INTERVAL:
            return
        _last_reap[pid] = time.monotonic()
        try:
            reap_stale_containers(engine)
        except SandboxUnavailable:
            pass

    def start_kernel(self, job: SandboxJob, kernel_argv: list[str], env: dict[str, str]) -> KernelHandle:
        engine = get_engine()
        self._maybe_reap(engine)
        # jupyter_client writes the connection file 0600 for the host user; the kernel runs as
        # uid 1000 and must read it. It holds only this kernel's own key and socket names.
        argv = list(kernel_argv)
        if "-f" in argv[:-1]:
            connection_file = Path(argv[argv.index("-f") + 1])
            if connection_file.is_file():
                os.chmod(connection_file, 0o644)
        options = container_options(job, self.image, argv, env=env, image_path=self._image_path(engine))
        with _engine_errors():
            container_id = engine.create_container(options)
        kernel = DockerKernel(engine, container_id, options["name"])
        try:
            with _engine_errors():
                engine.start(container_id)
        except BaseException:
            kernel.cleanup()
            raise
        return kernel

    def describe(self) -> dict[str, Any]:
        return {"sandbox": self.name, "image": self.image}
