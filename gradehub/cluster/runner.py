"""The :class:`gradehub.grading.JobRunner` that runs jobs on a Dask distributed cluster.

Connecting checks every worker first (its sandbox works, it runs the same gradehub code), so a
misconfigured node stops the run before anything is graded, with the node's address. Jobs are
submitted through a bounded window (twice the cluster's slots), so the scheduler never holds a
whole class's notebooks at once. A worker that dies mid-job has its jobs rescheduled by Dask
on the others; a job that kills three workers (``distributed.scheduler.allowed-failures``), or
that the cluster loses otherwise, comes back as one crashed submission, like a local worker's
crash: every job gets exactly one answer, and only this process writes the gradebook.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..protocol import Job, JobRun
from ..sandbox.base import SandboxUnavailable
from . import node
from .transfer import BlobStore, PortableRun, pack_job, unpack_run


class ClusterUnavailable(SandboxUnavailable):
    """The cluster cannot grade: unreachable, no workers, or a node that is not ready."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ClusterUnavailable(
            "grading on a cluster needs Dask distributed: pip install 'gradehub[cluster]'"
        ) from None
    return distributed


class DaskRunner:
    """Jobs on the workers of the Dask scheduler at ``address``."""

    def __init__(self, address: str, *, connect_timeout: float | None = None):
        """``connect_timeout``: seconds to reach the scheduler (default: Dask's configuration,
        ``distributed.comm.timeouts.connect``, e.g. ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=10s``)."""
        self.address = address
        self.description = f"Dask cluster {address}"
        self._connect_timeout = connect_timeout
        self._client: Any = None
        self._store = BlobStore()
        self._shared: dict[str, Any] = {}  # sha256 -> the future of its bytes on the cluster (a task)
        self._slots = 1
        self._threads = 1
        self._checked: tuple[str, str] | None = None

    # -- setup
    def preflight(self, sandbox: str, options: dict) -> None:
        checked = (sandbox, repr(sorted(options.items())))
        if self._client is not None and self._checked == checked:
            return  # the CLI checks before it starts the progress bar; autograde asks again
        distributed = _distributed()
        if self._client is None:
            timeout = {} if self._connect_timeout is None else {"timeout": self._connect_timeout}
            try:
                self._client = distributed.Client(self.address, set_as_default=False, **timeout)
            except (OSError, TimeoutError) as exc:
                raise ClusterUnavailable(f"cannot reach the Dask scheduler at {self.address}: {exc}") from None
        try:
            answers = self._client.run(node.describe_node, sandbox, options, on_error="return")
        except (OSError, TimeoutError) as exc:
            raise ClusterUnavailable(f"the Dask scheduler at {self.address} did not answer: {exc}") from None
        if not answers:
            raise ClusterUnavailable(
                f"the Dask scheduler at {self.address} has no workers: start some with `dask worker {self.address}`"
            )
        here = node.code_digest()
        for address, info in sorted(answers.items()):
            if isinstance(info, BaseException):
                raise ClusterUnavailable(f"grading node {address}: {type(info).__name__}: {info}")
            if info["code"] != here:
                raise ClusterUnavailable(
                    f"grading node {address} runs other gradehub code than this machine "
                    f"({info['code']} there, {here} here): install the same version on every node"
                )
            if info["problem"]:
                raise ClusterUnavailable(f"grading node {address}: {info['problem']}")
        workers = self._client.scheduler_info(n_workers=-1)["workers"]
        nthreads = {a: max(1, int(w.get("nthreads", 1))) for a, w in workers.items()}
        self._slots = sum(nthreads.values()) or 1
        # A kernel may use the cores its slot has on the smallest node (the same for every job and
        # for the reference, which is keyed by it).
        self._threads = min(
            max(1, int(info["cores"]) // nthreads.get(a, 1))
            for a, info in answers.items()
            if not isinstance(info, BaseException)
        )
        self.description = f"Dask cluster {self.address}, {len(answers)} workers, {self._slots} slots"
        self._checked = checked

    def open(self, slots: int, log_dir: Path) -> int:
        # ``slots`` (--jobs) is this machine's; on a cluster each worker's --nthreads decides.
        if self._client is None:
            raise ClusterUnavailable("DaskRunner.open before preflight")
        return self._threads

    # -- jobs
    def _submit(self, job: Job, timeout: float) -> Any:
        portable = pack_job(job, self._store)
        missing = {d: self._store.contents[d] for d in set(portable.blobs.values()) if d not in self._shared}
        for digest, data in missing.items():
            # A task that returns the bytes, not scattered data: nodes fetch its result from each
            # other (each gets a file once, whichever jobs it runs), and when every copy dies with
            # its workers, the scheduler recomputes it from the bytes it holds in the task.
            self._shared[digest] = self._client.submit(node.blob, data, key=f"gradehub-file-{digest}", pure=False)
        contents = {d: self._shared[d] for d in set(portable.blobs.values())}
        key = f"grade-{job.label}-{uuid.uuid4().hex[:12]}"
        return self._client.submit(node.grade, portable, contents, timeout, key=key, pure=False)

    def _answer(self, job: Job, future: Any) -> JobRun:
        try:
            portable: PortableRun = future.result()
        except Exception as exc:  # noqa: BLE001 - a lost job is one crashed submission, not a stopped run
            return JobRun(
                job.key, crash=f"the grading cluster could not run this submission: {type(exc).__name__}: {exc}"
            )
        finally:
            future.release()
        return unpack_run(portable, job)

    def run(self, job: Job, timeout: float) -> JobRun:
        return self._answer(job, self._submit(job, timeout))

    def run_all(self, jobs: list[Job], timeout: float) -> Iterator[tuple[int, JobRun]]:
        distributed = _distributed()
        waiting = iter(enumerate(jobs))
        index: dict[str, int] = {}
        finished = distributed.as_completed(loop=self._client.loop)

        def submit_next() -> None:
            nxt = next(waiting, None)
            if nxt is not None:
                future = self._submit(nxt[1], timeout)
                index[future.key] = nxt[0]
                finished.add(future)

        for _ in range(max(2, 2 * self._slots)):
            submit_next()
        for future in finished:
            i = index.pop(future.key)
            submit_next()  # before the answer is scored and written: keep the nodes busy
            yield i, self._answer(jobs[i], future)

    def close(self) -> None:
        if self._client is not None:
            for future in self._shared.values():
                future.release()
            self._shared.clear()
            self._client.close()
            self._client = None
            self._checked = None
