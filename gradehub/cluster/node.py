"""What runs on a grading node: a Dask worker with its own Docker engine and the grader image.

Each job runs in a ``gradehub.sandbox.worker`` process, as on a single machine, so a submission
that breaks that process (a kernel message too large for its memory limit, say) costs one
job, never the Dask worker and the other jobs it holds. Every Dask worker thread keeps its own
process (started by that thread: it dies with the thread, and with the node).

Nothing here needs a course root: a job arrives as a :class:`~.transfer.PortableJob` and is
unpacked into a fresh temporary directory that is removed afterwards.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from ..grading import WorkerProcess
from ..sandbox.base import SandboxUnavailable, get_sandbox
from .transfer import PortableJob, PortableRun, pack_run, unpack_job

_local = threading.local()


def _worker() -> WorkerProcess:
    worker = getattr(_local, "worker", None)
    if worker is None:
        logs = Path(tempfile.gettempdir()) / f"gradehub-node-{os.getpid()}"
        logs.mkdir(mode=0o700, exist_ok=True)
        worker = _local.worker = WorkerProcess(logs / f"worker-{threading.get_ident()}.log")
    return worker


def blob(data: bytes) -> bytes:
    """A file every job of the run reads, as a Dask task's result (see ``runner``)."""
    return data


def grade(portable: PortableJob, contents: dict[str, bytes], timeout: float) -> PortableRun:
    """Sanitize and execute one submission here; the Dask task of one job."""
    root = Path(tempfile.mkdtemp(prefix="gh-node-"))
    try:
        job = unpack_job(portable, contents, root)
        return pack_run(_worker().run(job, timeout))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def code_digest() -> str:
    """A digest of the gradehub code here: the coordinator and every node must run the same."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def describe_node(sandbox: str, options: dict[str, Any]) -> dict[str, Any]:
    """What the coordinator checks before it sends a node any job (run on every worker)."""
    problem = None
    try:
        get_sandbox(sandbox, **options).preflight()
    except SandboxUnavailable as exc:
        problem = str(exc)
    return {"cores": os.cpu_count() or 1, "code": code_digest(), "problem": problem}
