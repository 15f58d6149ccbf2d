"""The sandbox interface: where a student's kernel runs, and what it may use.

A backend only *starts and stops the kernel*. The notebook is driven from outside the
sandbox by :mod:`gradehub.sandbox.executor` over ZeroMQ IPC sockets that live in the job
directory, so nothing the student's code writes can forge a result: the executor records
what the kernel replied, and the host scores it.

Backends implement :class:`Sandbox`; :func:`get_sandbox` picks one by name.
"""

from __future__ import annotations

import abc
import ctypes
import enum
import importlib
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..course import Limits


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (even by SIGKILL).

    Workers and local kernels call this, so killing ``gradehub autograde`` leaves no strays.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class SandboxUnavailable(Exception):
    """The backend cannot run here (no Docker engine, missing image); the message says what to do."""


class Outcome(str, enum.Enum):
    """How the execution of one notebook ended."""

    COMPLETED = "completed"  # every cell ran (cells may have raised errors)
    CELL_TIMEOUT = "cell_timeout"  # a cell hit its time limit and was interrupted; the rest ran
    TIMEOUT = "timeout"  # the wall-clock limit was hit, or a cell ignored the interrupt
    OUT_OF_MEMORY = "out_of_memory"  # the memory limit was hit; the kernel was killed
    KERNEL_DIED = "kernel_died"  # segfault, os._exit, a signal ...
    INVALID = "invalid"  # the submission could not be read; nothing ran
    SANDBOX_ERROR = "sandbox_error"  # the platform failed (not the student's fault)


@dataclass(frozen=True)
class Death:
    """What the backend knows about a kernel that stopped on its own or was killed."""

    exit_code: int | None = None
    oom_killed: bool = False
    killed_by_us: str | None = None  # "timeout" / "memory"


@dataclass
class SandboxJob:
    """One kernel's world: the directory it sees, and the limits it runs under."""

    job_dir: Path  # the only host path the kernel sees (notebook copy, data, sockets)
    limits: Limits
    threads: int = 1  # BLAS/torch threads inside, so parallel jobs don't oversubscribe
    gpus: bool = False
    label: str = ""  # names containers / logs, e.g. "week01-s001"


class KernelHandle(abc.ABC):
    """A started kernel. Every method must be safe to call after the kernel has gone."""

    @abc.abstractmethod
    def poll(self) -> int | None:
        """Exit code once stopped, else None."""

    @abc.abstractmethod
    def signal(self, signum: int) -> None:
        """Deliver a signal (SIGINT interrupts a cell)."""

    @abc.abstractmethod
    def kill(self, reason: str) -> None:
        """Stop the kernel and everything it started, now."""

    @abc.abstractmethod
    def memory_bytes(self) -> int | None:
        """Current memory use, where the backend can tell; None where it enforces limits itself."""

    @abc.abstractmethod
    def death(self) -> Death:
        """Why it stopped (valid after poll() returned a code)."""

    @abc.abstractmethod
    def cleanup(self) -> None:
        """Release everything (processes, containers); idempotent."""


class Sandbox(abc.ABC):
    """A place to run one student's kernel under limits."""

    name: ClassVar[str]
    isolates_filesystem: ClassVar[bool]

    @abc.abstractmethod
    def preflight(self) -> None:
        """Raise :class:`SandboxUnavailable` when this backend cannot run here."""

    @abc.abstractmethod
    def start_kernel(self, job: SandboxJob, kernel_argv: list[str], env: dict[str, str]) -> KernelHandle:
        """Start ``python -m ipykernel_launcher -f <job_dir>/kernel.json`` inside the sandbox."""

    def describe(self) -> dict[str, Any]:
        """Settings to record with each result (the backend and its image, say)."""
        return {"sandbox": self.name}


def kernel_env(job: SandboxJob, home: str) -> dict[str, str]:
    """The environment a student kernel starts with: nothing inherited from the grader."""
    threads = str(max(1, job.threads))
    return {
        "HOME": home,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "JPY_PARENT_PID": "1",
        "GRADEHUB_GRADING": "1",
    }


# The backends register themselves; get_sandbox imports them by module name, like plugins, so
# the interface has no import of its implementations (which import it).
_REGISTRY: dict[str, type[Sandbox]] = {}


def register(cls: type[Sandbox]) -> type[Sandbox]:
    _REGISTRY[cls.name] = cls
    return cls


def get_sandbox(name: str, **options: Any) -> Sandbox:
    importlib.import_module("gradehub.sandbox.local")
    try:
        importlib.import_module("gradehub.sandbox.docker")  # needs the Docker SDK
    except ImportError:
        pass
    if name not in _REGISTRY:
        raise SandboxUnavailable(f"unknown sandbox {name!r}; choose one of: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**options)


@dataclass
class CellRecord:
    """What the executor saw for one cell."""

    index: int
    status: str  # "ok", "error", "aborted", "not_run", "timeout"
    duration: float = 0.0
    error_name: str | None = None  # a builtin exception's name, never the kernel's free text


@dataclass
class Execution:
    """The result of executing one notebook: a failure is a value, not an exception."""

    outcome: Outcome
    message: str = ""
    executed: Any = None  # the executed notebook (NotebookNode), host-side copy
    cells: dict[int, CellRecord] = field(default_factory=dict)
    failed_cell: str | None = None  # grade id / cell label where it stopped
    duration: float = 0.0
    output_capped: bool = False
    flags: list[str] = field(default_factory=list)
    records: dict[int, list] = field(default_factory=dict)  # cell index -> [protocol.Recorded]
