"""The grading worker: a process that sanitizes and executes submissions, one at a time.

The grading process keeps ``--jobs`` of these alive and feeds each one job per line of JSON
on stdin; the worker answers one line of JSON per job on its private protocol pipe. A
submission that breaks the worker (say, a kernel message too large for its memory limit)
takes down this process, not the grading process, which reports that one job as failed and
starts a fresh worker.

Worker and grader share trust (both are ours); the kernel they drive does not.
"""

from __future__ import annotations

import json
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
from typing import Any

import nbformat

from ..course import Limits
from ..sanitize import sanitize
from .base import Execution, Outcome, SandboxJob, die_with_parent, get_sandbox
from ..protocol import write_records
from .executor import execute_notebook, grade_id_statuses, test_records, write_notebook

_WORKER_ADDRESS_SPACE = 6 * 2**30


def _job_root() -> Path:
    # Short: ZeroMQ IPC socket paths must stay under ~100 bytes.
    base = Path(os.environ.get("GRADEHUB_JOB_ROOT", "/tmp"))
    return Path(tempfile.mkdtemp(prefix="gh-", dir=base))


def mount_job_dir(job_dir: Path, size_bytes: int) -> bool:
    """Put a size-limited tmpfs on ``job_dir``, so no submission can fill the host's disk.

    Needs root (as the grading nodes and CI run); elsewhere the directory stays a plain one
    and the caller notes it. Mode 1777 (sticky): the sandbox user writes its own files but
    cannot replace the data files and the notebook the grader put there.
    """
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={int(size_bytes)},mode=1777,nosuid,nodev",
                           "gradehub-job", str(job_dir)], capture_output=True)
    return done.returncode == 0


def release_job_dir(job_dir: Path, mounted: bool) -> None:
    if mounted:
        subprocess.run(["umount", "-l", str(job_dir)], capture_output=True)
    shutil.rmtree(job_dir, ignore_errors=True)


def run_job(spec: dict[str, Any]) -> dict[str, Any]:
    """Sanitize and execute every notebook of one submission; write results to ``out_dir``."""
    started = time.monotonic()
    limits = Limits(**spec["limits"])
    sandbox = get_sandbox(spec["sandbox"]["name"], **spec["sandbox"].get("options", {}))
    out_dir = Path(spec["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for nb_spec in spec["notebooks"]:
        name = nb_spec["name"]
        source = nbformat.read(nb_spec["source"], as_version=4)
        release = nbformat.read(nb_spec["release"], as_version=4)
        submitted = Path(nb_spec["submitted"]) if nb_spec.get("submitted") else None
        entry: dict[str, Any] = {"name": name, "notes": [], "restored": [], "cells": {},
                                 "executed": None, "output_capped": False, "duration": 0.0}
        if submitted is None:
            entry.update(outcome=Outcome.INVALID.value, message=f"{name}.ipynb was not submitted")
            results.append(entry)
            continue
        clean = sanitize(submitted, source, release, limits.max_notebook_bytes)
        entry["notes"], entry["restored"] = clean.notes, clean.restored
        if not clean.ok:
            entry.update(outcome=Outcome.INVALID.value, message=clean.error)
            results.append(entry)
            continue
        job_dir = _job_root()
        mounted = mount_job_dir(job_dir, limits.job_disk_bytes)
        if not mounted:
            print(f"gradehub worker: {job_dir} has no size limit (mounting a tmpfs needs root)", file=sys.stderr)
        try:
            os.chmod(job_dir, 0o1777)  # the sandbox user (uid 1000 in Docker) writes here, sticky
            for data in spec.get("data_files", []):
                src = Path(data["path"])
                dst = job_dir / data["name"]
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                os.chmod(dst, 0o444)   # read-only data; sticky dir: it cannot be replaced either
            job = SandboxJob(job_dir=job_dir, limits=limits, threads=spec.get("threads", 1),
                             gpus=spec.get("gpus", False), label=spec.get("label", name))
            execution: Execution = execute_notebook(clean.notebook, sandbox, job)
        finally:
            release_job_dir(job_dir, mounted)
        executed_path = out_dir / f"{name}.ipynb"
        write_notebook(execution.executed, executed_path)
        records_path = out_dir / f"{name}.records.json"
        write_records(test_records(execution), records_path)
        entry.update(
            records=str(records_path),
            statuses=grade_id_statuses(execution),
            outcome=execution.outcome.value,
            message=execution.message,
            executed=str(executed_path),
            cells={str(i): asdict(r) for i, r in execution.cells.items()},
            output_capped=execution.output_capped,
            failed_cell=execution.failed_cell,
            duration=execution.duration,
            flags=execution.flags,
        )
        results.append(entry)
    return {"key": spec["key"], "notebooks": results, "duration": time.monotonic() - started,
            "sandbox": sandbox.describe()}


def main() -> None:
    die_with_parent()
    resource.setrlimit(resource.RLIMIT_AS, (_WORKER_ADDRESS_SPACE, _WORKER_ADDRESS_SPACE))
    # The protocol gets a private copy of stdout; anything else printed goes to stderr.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for line in sys.stdin:
        if not line.strip():
            continue
        spec = json.loads(line)
        try:
            reply = run_job(spec)
        except Exception:  # noqa: BLE001 - report the platform failure, keep serving
            reply = {"key": spec.get("key"), "error": traceback.format_exc(limit=8)}
        protocol.write(json.dumps(reply) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
