"""The one module that calls the Docker SDK: a client wrapper with typed errors.

Everything in gradehub that talks to a Docker engine (the ``docker`` sandbox, ``gradehub
images build``, the hub image) goes through :class:`Engine`; no other module imports
``docker`` (a test checks this). Like dockerspawner's ``docker()`` helper, every blocking call
goes through one function (:func:`_call`) that applies the client's API timeout and turns SDK
and transport errors into the typed, one-line errors below, so callers decide what an error
means for them (the sandbox: :class:`~gradehub.sandbox.base.SandboxUnavailable`; the image
builds: ``ImagesError``) and never see a traceback of the SDK.

Calls on objects that may have vanished (inspect, kill, wait, remove) return ``None`` or
``False`` instead of raising when the engine answers 404 (gone) or 409 (not running, removal
in progress): for a kernel's container that is a result, not an error.
"""

from __future__ import annotations

import os
from typing import Any
from collections.abc import Callable, Iterator

import docker
import docker.errors
import requests
from docker.types import DeviceRequest, HostConfig, LogConfig, Mount, Ulimit

__all__ = [
    "API_TIMEOUT",
    "DEFAULT_DOCKER_HOST",
    "PING_TIMEOUT",
    "ContainerFailed",
    "DeviceRequest",
    "DockerError",
    "Engine",
    "EngineError",
    "EngineTimeout",
    "EngineUnavailable",
    "LogConfig",
    "Mount",
    "NotFound",
    "Ulimit",
    "as_engine",
    "connect",
    "container_create_kwargs",
    "docker_host",
]

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
PING_TIMEOUT = 5.0  # seconds: does an engine answer at all?
API_TIMEOUT = 60.0  # seconds: any other call (create/start/remove can be slow under load)


# ----------------------------------------------------------------------------- errors


class DockerError(Exception):
    """A call into the Docker engine failed; the message is one line saying which and why."""


class EngineUnavailable(DockerError):
    """No Docker engine answers (no socket, refused, the SDK's transport failed)."""


class EngineTimeout(EngineUnavailable):
    """The engine did not answer within the timeout."""


class NotFound(DockerError):
    """The container, image or volume does not exist."""


class EngineError(DockerError):
    """The engine answered with an error (``status_code``: its HTTP status)."""

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class ContainerFailed(DockerError):
    """:meth:`Engine.run`: the container exited with a non-zero status."""

    def __init__(self, message: str, exit_status: int, stderr: bytes):
        super().__init__(message)
        self.exit_status = exit_status
        self.stderr = stderr


def docker_host() -> str:
    """Where the SDK looks for the engine (``DOCKER_HOST`` or the default socket)."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def _explain(exc: Exception) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return " ".join(str(text).split())


def _translate(what: str, exc: BaseException) -> DockerError | None:
    """The typed error for an exception raised by the SDK, or None when it is none of its own."""
    if isinstance(exc, docker.errors.ContainerError):
        stderr = exc.stderr if isinstance(exc.stderr, bytes) else str(exc.stderr or "").encode()
        return ContainerFailed(
            f"docker {what}: the container exited with status {exc.exit_status}", int(exc.exit_status or 0), stderr
        )
    if isinstance(exc, docker.errors.NotFound):
        return NotFound(f"docker {what}: not found: {_explain(exc)}")
    if isinstance(exc, docker.errors.APIError):
        return EngineError(f"docker {what} failed: {_explain(exc)}", exc.status_code)
    if isinstance(exc, requests.exceptions.Timeout):
        return EngineTimeout(f"docker {what}: the engine at {docker_host()} did not answer in time")
    if isinstance(exc, (requests.exceptions.RequestException, docker.errors.DockerException, OSError)):
        return EngineUnavailable(f"docker {what}: no Docker engine answers at {docker_host()} ({type(exc).__name__})")
    return None


def _call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ONE blocking SDK call: the only place that calls into the SDK.

    Timeouts come from the client (``API_TIMEOUT`` unless the engine was made with another) or
    the call's own ``timeout=``. SDK and transport errors become :class:`DockerError`\\ s.
    """
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # translated below, or re-raised untouched
        typed = _translate(what, exc)
        if typed is None:
            raise
        raise typed from None


def _unless_gone(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[bool, Any]:
    """``(True, result)``, or ``(False, None)`` when the object is gone (404) or not running (409)."""
    try:
        return True, _call(what, fn, *args, **kwargs)
    except NotFound:
        return False, None
    except EngineError as exc:
        if exc.status_code == 409:
            return False, None
        raise


# ----------------------------------------------------------------------------- container options

# ``containers.create`` keyword arguments that the low-level call takes in its host config.
HOST_CONFIG_KEYS = frozenset(
    {
        "mounts",
        "tmpfs",
        "read_only",
        "network_mode",
        "ipc_mode",
        "mem_limit",
        "memswap_limit",
        "pids_limit",
        "cap_drop",
        "security_opt",
        "init",
        "oom_score_adj",
        "ulimits",
        "log_config",
        "nano_cpus",
        "device_requests",
    }
)


def container_create_kwargs(options: dict[str, Any], api_version: str) -> dict[str, Any]:
    """High-level ``containers.create`` kwargs as those of the low-level ``create_container``.

    Pure (no engine). The low-level call saves the extra inspect that ``containers.create`` makes.
    """
    host_config = {k: v for k, v in options.items() if k in HOST_CONFIG_KEYS}
    rest = {k: v for k, v in options.items() if k not in HOST_CONFIG_KEYS}
    return {**rest, "host_config": HostConfig(version=api_version, **host_config)}


# ----------------------------------------------------------------------------- the engine


class Engine:
    """One Docker engine, through an SDK client; every method is one blocking call.

    Errors are :class:`DockerError`\\ s. Make one with :func:`connect`; ``Engine(sdk_client)``
    wraps a client made elsewhere (anything with the SDK's low-level ``.api``, e.g. a fake).
    """

    def __init__(self, sdk_client: Any):
        self._sdk = sdk_client

    @property
    def api_version(self) -> str:
        return str(self._sdk.api.api_version)

    def ping(self) -> None:
        _call("ping", self._sdk.api.ping)

    # -- containers

    def create_container(self, options: dict[str, Any]) -> str:
        """Create (not start) a container from ``containers.create``-style ``options``; its id."""
        kwargs = container_create_kwargs(options, self.api_version)
        return _call("create container", self._sdk.api.create_container, **kwargs)["Id"]

    def start(self, container_id: str) -> None:
        _call("start container", self._sdk.api.start, container_id)

    def kill(self, container_id: str, signal: int | None = None) -> bool:
        """Send ``signal`` (default SIGKILL); False when the container is gone or not running."""
        what = "kill container" if signal is None else "signal container"
        kwargs = {} if signal is None else {"signal": int(signal)}
        return _unless_gone(what, self._sdk.api.kill, container_id, **kwargs)[0]

    def wait(self, container_id: str, timeout: float | None = None) -> dict[str, Any] | None:
        """Wait for the container to exit (its status), None when it is gone."""
        return _unless_gone("wait for container", self._sdk.api.wait, container_id, timeout=timeout)[1]

    def inspect_container(self, container_id: str) -> dict[str, Any] | None:
        return _unless_gone("inspect container", self._sdk.api.inspect_container, container_id)[1]

    def remove_container(
        self, container_id: str, *, force: bool = True, volumes: bool = True, what: str = "remove container"
    ) -> bool:
        """Remove (by default: force, with its anonymous volumes); False when already gone."""
        return _unless_gone(what, self._sdk.api.remove_container, container_id, force=force, v=volumes)[0]

    def list_containers(self, filters: dict[str, Any] | None = None, *, all: bool = True) -> list[dict[str, Any]]:  # noqa: A002
        return list(_call("list containers", self._sdk.api.containers, all=all, filters=filters or {}) or [])

    def logs(self, container_id: str, *, stdout: bool = True, stderr: bool = True, tail: int | str = "all") -> bytes:
        return _call("container logs", self._sdk.api.logs, container_id, stdout=stdout, stderr=stderr, tail=tail)

    def run(self, image: str, command: list[str] | str, **options: Any) -> bytes:
        """Run a container to its end and remove it; its output. :class:`ContainerFailed` on a
        non-zero exit (with its stderr), :class:`NotFound` when the image is missing.
        ``options``: as for the SDK's ``containers.run``."""
        return _call(f"run {image}", self._sdk.containers.run, image, command, remove=True, **options)

    # -- images

    def inspect_image(self, tag: str) -> dict[str, Any] | None:
        """The image's attributes, None when the engine has no such image."""
        try:
            return _call("inspect image", self._sdk.api.inspect_image, tag)
        except NotFound:
            return None

    def image_exists(self, tag: str) -> bool:
        return self.inspect_image(tag) is not None

    def list_images(self, name: str | None = None, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return list(_call("list images", self._sdk.api.images, name=name, filters=filters) or [])

    def build(self, path: str, tag: str, **options: Any) -> Iterator[dict[str, Any]]:
        """``docker build`` of the context at ``path``: the engine's decoded progress messages.
        Errors while streaming are :class:`DockerError`\\ s too; an ``error`` message from the
        build itself is the caller's to read. ``options``: as for the SDK's ``api.build``."""
        what = f"build {tag}"
        stream = _call(what, self._sdk.api.build, path=path, tag=tag, decode=True, **options)
        iterator = iter(stream)
        while True:
            try:
                chunk = _call(what, next, iterator)
            except StopIteration:
                return
            yield chunk

    def import_image(self, tarball: str, repository: str, tag: str, changes: list[str] | None = None) -> None:
        """``docker import`` of a root filesystem tarball."""
        _call(
            f"import {repository}:{tag}",
            self._sdk.api.import_image_from_file,
            tarball,
            repository=repository,
            tag=tag,
            changes=changes,
        )

    # -- volumes

    def list_volumes(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        answer = _call("list volumes", self._sdk.api.volumes, filters=filters) or {}
        return list(answer.get("Volumes") or [])

    def remove_volume(self, name: str, *, force: bool = False) -> bool:
        """False when the volume is gone already or still in use (409)."""
        return _unless_gone("remove volume", self._sdk.api.remove_volume, name, force=force)[0]


def connect(*, timeout: float = PING_TIMEOUT, api_timeout: float = API_TIMEOUT) -> Engine:
    """An :class:`Engine` for the engine at :func:`docker_host`; :class:`EngineUnavailable`
    (``"no Docker engine answers at HOST"``) when none answers within ``timeout``.

    Making the client negotiates the API version: the first round trip. Later calls wait up to
    ``api_timeout`` (or their own ``timeout=``).
    """
    try:
        client = _call("connect", docker.from_env, timeout=timeout)
    except DockerError:
        raise EngineUnavailable(f"no Docker engine answers at {docker_host()}") from None
    client.api.timeout = api_timeout
    return Engine(client)


def as_engine(client: Any) -> Engine:
    """``client`` itself when it is an :class:`Engine`, else an Engine over that SDK client."""
    return client if isinstance(client, Engine) else Engine(client)
