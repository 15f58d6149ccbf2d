"""Runtime preparation: what exists only once the hub starts.

:func:`prepare_runtime` is the one explicit step that touches the machine before the
configuration is built: it creates the state folder (mode 0700) and the servers' homes folder,
the admin-service token, and picks free ports. ``gradehub hub`` and ``hub/jupyterhub_config.py``
call it, then pass the :class:`Runtime` to the pure :func:`gradehub.hub.config.apply_config`;
tests make their own :class:`Runtime` without touching anything.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..course import Course, CourseError
from .accounts import write_private
from .settings import HubSettings


@dataclass(frozen=True)
class Runtime:
    """What exists only when the hub starts; :func:`prepare_runtime` makes it."""

    course_root: Path
    state_dir: Path
    python: str  # the interpreter that runs the hub-side services
    hub_port: int
    proxy_api_port: int
    exchange_port: int
    formgrader_port: int
    grading_port: int = 0  # the grading service (gradehub.tutoring); 0: not run
    grades_port: int = 0  # the students' grades service (gradehub.hub.grades); 0: not run
    admin_token: str = ""
    exchange_root: Path | None = None  # None: <course root>/exchange
    proxy_command: tuple[str, ...] = ("configurable-http-proxy",)
    environ: dict[str, str] = field(default_factory=dict)  # passed to the services

    @property
    def exchange_dir(self) -> Path:
        return self.exchange_root or self.course_root / "exchange"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host if host not in ("", "0.0.0.0") else "127.0.0.1", 0))  # noqa: S104 - never binds 0.0.0.0
        return s.getsockname()[1]


def state_dir_of(course: Course, settings: HubSettings) -> Path:
    return Path(settings.hub.state_dir) if settings.hub.state_dir else course.state_dir / "hub"


def proxy_command() -> tuple[str, ...]:
    """configurable-http-proxy (the pure-Python package's script, beside this interpreter first)."""
    beside = Path(sys.executable).with_name("configurable-http-proxy")
    if beside.is_file():
        return (str(beside),)
    found = shutil.which("configurable-http-proxy")
    if found:
        return (found,)
    raise CourseError("configurable-http-proxy is not installed: pip install 'gradehub[hub]'")


def admin_token(state_dir: Path) -> str:
    path = state_dir / "admin-token"
    if not path.is_file():
        write_private(path, secrets.token_hex(32))
    return path.read_text().strip()


def prepare_runtime(course: Course, settings: HubSettings) -> Runtime:
    state = state_dir_of(course, settings)
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    (state / "homes").mkdir(exist_ok=True)
    from ..exchange import exchange_root

    ip = settings.hub.hub_ip
    passthrough = {
        k: v for k, v in os.environ.items() if k.startswith("GRADEHUB_") and not k.startswith("GRADEHUB_HUB__")
    }
    return Runtime(
        course_root=course.root,
        state_dir=state,
        python=sys.executable,
        hub_port=settings.hub.hub_port or free_port(ip),
        proxy_api_port=settings.hub.proxy_api_port or free_port(),
        exchange_port=settings.exchange.port or free_port(settings.exchange.listen_ip or ip),
        formgrader_port=settings.formgrader.port or free_port(),
        grading_port=free_port(),  # the tutors' grading service (gradehub.tutoring)
        grades_port=free_port(),  # the students' grades service (gradehub.hub.grades)
        admin_token=admin_token(state),
        exchange_root=exchange_root(course),
        proxy_command=proxy_command(),
        environ={**passthrough, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")},
    )
