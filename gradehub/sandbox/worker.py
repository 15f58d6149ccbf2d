"""The grading worker: a process that sanitizes and executes submissions, one at a time.

The grading process keeps ``--jobs`` of these alive and feeds each one job per line of JSON
on stdin; the worker answers one line of JSON per job on its private protocol pipe. A
submission that breaks the worker (say, a kernel message too large for its memory limit)
takes down this process, not the grading process, which reports that one job as failed and
starts a fresh worker.

Worker and grader share trust (both are ours); the kernel they drive does not.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path

import nbformat

from ..course import Limits
from ..sanitize import sanitize
from ..variants import Variant
from .base import Execution, Outcome, SandboxJob, die_with_parent, get_sandbox
from ..protocol import Job, JobRun, NotebookRun, write_records
from .executor import execute_notebook, grade_id_statuses, test_records, write_notebook

_WORKER_ADDRESS_SPACE = 6 * 2**30


def _job_root() -> Path:
    # Short: ZeroMQ IPC socket paths must stay under ~100 bytes.
    base = Path(os.environ.get("GRADEHUB_JOB_ROOT", "/tmp"))  # noqa: S108 - mkdtemp: a fresh 0700 directory
    return Path(tempfile.mkdtemp(prefix="gh-", dir=base))


def mount_job_dir(job_dir: Path, size_bytes: int) -> bool:
    """Put a size-limited tmpfs on ``job_dir``, so no submission can fill the host's disk.

    Needs root (as the grading nodes and CI run); elsewhere the directory stays a plain one
    and the caller notes it. Mode 1777 (sticky): the sandbox user writes its own files but
    cannot replace the data files and the notebook the grader put there.
    """
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return False
    mount = ["mount", "-t", "tmpfs", "-o", f"size={int(size_bytes)},mode=1777,nosuid,nodev"]
    done = subprocess.run([*mount, "gradehub-job", str(job_dir)], capture_output=True)  # root: mount(8) on PATH
    return done.returncode == 0


def release_job_dir(job_dir: Path, mounted: bool) -> None:
    if mounted:
        subprocess.run(["umount", "-l", str(job_dir)], capture_output=True)  # noqa: S607 - as mount above
    shutil.rmtree(job_dir, ignore_errors=True)


def run_job(job: Job) -> JobRun:
    """Sanitize and execute every notebook of one submission; write results to ``out_dir``."""
    started = time.monotonic()
    limits = Limits(**job.limits)
    sandbox = get_sandbox(job.sandbox["name"], **job.sandbox.get("options", {}))
    out_dir = Path(job.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[NotebookRun] = []
    for nb_job in job.notebooks:
        name = nb_job.name
        source = nbformat.read(nb_job.source, as_version=4)
        release = nbformat.read(nb_job.release, as_version=4)
        if nb_job.submitted is None:
            results.append(NotebookRun(name, Outcome.INVALID.value, f"{name}.ipynb was not submitted"))
            continue
        variant = Variant.from_wire(nb_job.variant) if nb_job.variant is not None else None
        clean = sanitize(Path(nb_job.submitted), source, release, limits.max_notebook_bytes, variant)
        if clean.notebook is None:  # not clean.ok
            results.append(NotebookRun(name, Outcome.INVALID.value, clean.error or "", clean.notes, clean.restored))
            continue
        job_dir = _job_root()
        mounted = mount_job_dir(job_dir, limits.job_disk_bytes)
        if not mounted:
            print(f"gradehub worker: {job_dir} has no size limit (mounting a tmpfs needs root)", file=sys.stderr)
        try:
            os.chmod(job_dir, 0o1777)  # noqa: S103 - the sandbox user (uid 1000 in Docker) writes here, sticky
            for data in job.data_files:
                dst = job_dir / data.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(data.path, dst)
                os.chmod(dst, 0o444)  # read-only data; sticky dir: it cannot be replaced either
            sandbox_job = SandboxJob(
                job_dir=job_dir, limits=limits, threads=job.threads, gpus=job.gpus, label=job.label or name
            )
            execution: Execution = execute_notebook(clean.notebook, sandbox, sandbox_job)
        finally:
            release_job_dir(job_dir, mounted)
        executed_path = out_dir / f"{name}.ipynb"
        write_notebook(execution.executed, executed_path)
        records_path = out_dir / f"{name}.records.json"
        write_records(test_records(execution), records_path)
        results.append(
            NotebookRun(
                name,
                execution.outcome.value,
                execution.message,
                clean.notes,
                clean.restored,
                executed=str(executed_path),
                records=str(records_path),
                statuses=grade_id_statuses(execution),
                cells={str(i): asdict(r) for i, r in execution.cells.items()},
                output_capped=execution.output_capped,
                failed_cell=execution.failed_cell,
                duration=execution.duration,
                flags=execution.flags,
            )
        )
    return JobRun(job.key, results, time.monotonic() - started, sandbox.describe())


def main() -> None:
    die_with_parent()
    resource.setrlimit(resource.RLIMIT_AS, (_WORKER_ADDRESS_SPACE, _WORKER_ADDRESS_SPACE))
    # The protocol gets a private copy of stdout; anything else printed goes to stderr.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for line in sys.stdin:
        if not line.strip():
            continue
        job = Job.from_json(line)
        try:
            reply = run_job(job)
        except Exception:  # noqa: BLE001 - report the platform failure, keep serving
            reply = JobRun(job.key, error=traceback.format_exc(limit=8))
        protocol.write(reply.to_json() + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
