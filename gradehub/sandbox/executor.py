"""Drive one sanitized notebook through a kernel that runs inside a sandbox.

The executor is trusted code on the host side of the boundary. It talks to the kernel over
ZeroMQ *IPC* sockets in the job directory (so a container needs no network), enforces the
cell timeout (interrupt, then go on with the next cell), the notebook's wall-clock timeout
and the memory limit (kill from outside), caps the output it keeps, and records for every
cell what the kernel replied. Whatever happens, :func:`execute_notebook` returns an
:class:`Execution`.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import signal
import threading
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

import nbformat
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

from ..course import format_size
from ..metadata import graded_meta, is_test_cell
from ..protocol import RECORD_MIME, CellRecords, NotebookRecords, Recorded, safe_error_name
from .base import CellRecord, Execution, KernelHandle, Outcome, Sandbox, SandboxJob
from ..sanitize import nbgrader_meta

KERNEL_ARGV = ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
_WATCH_INTERVAL = 0.1
_SIGNALS = {getattr(signal, n): n for n in dir(signal) if n.startswith("SIG") and not n.startswith("SIG_")}


class SandboxProvisioner(LocalProvisioner):
    """A jupyter_client provisioner whose kernel lives in a :class:`Sandbox`."""

    sandbox: Sandbox
    job: SandboxJob
    handle: KernelHandle | None = None

    @property
    def has_process(self) -> bool:
        return self.handle is not None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        self.handle = self.sandbox.start_kernel(self.job, cmd, {})
        return self.connection_info

    async def poll(self) -> int | None:
        return self.handle.poll() if self.handle else 0

    async def wait(self) -> int | None:
        while self.handle and self.handle.poll() is None:
            await asyncio.sleep(0.05)
        return self.handle.poll() if self.handle else 0

    async def send_signal(self, signum: int) -> None:
        if self.handle:
            self.handle.signal(signum)

    async def kill(self, restart: bool = False) -> None:
        if self.handle:
            self.handle.kill("shutdown")

    async def terminate(self, restart: bool = False) -> None:
        await self.kill(restart)

    async def cleanup(self, restart: bool = False) -> None:
        if self.handle:
            self.handle.cleanup()

    def get_shutdown_wait_time(self, recommended: float = 5.0) -> float:
        return 1.0


class _CappedClient(NotebookClient):
    """nbclient with a cap on the output it keeps, a record of each cell's reply, and the
    values each cell recorded for the grader (taken out of its outputs, capped as well)."""

    def __init__(self, *args: Any, output_cap: int, record_cap: int = 64 * 2**20, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.output_cap = output_cap
        self.output_bytes = 0
        self.output_capped = False
        self.record_cap = record_cap
        self.record_bytes = 0
        self.recorded: dict[int, list[Recorded]] = {}
        self.records: dict[int, CellRecord] = {}
        self.current_cell: int | None = None
        self._cell_started = 0.0
        self._last_index: int | None = None
        self.unresponsive: int | None = None
        self.on_unresponsive: Callable[[], None] | None = None
        self.on_cell_start = self._on_start
        self.on_cell_executed = self._on_executed

    def _on_start(self, cell: NotebookNode, cell_index: int) -> None:
        self.current_cell = cell_index
        self._cell_started = time.monotonic()

    def _on_executed(self, cell: NotebookNode, cell_index: int, execute_reply: dict) -> None:
        content = execute_reply.get("content", {}) if isinstance(execute_reply, dict) else {}
        status = content.get("status", "error")
        if content.get("ename") == "CellTimeoutError" and status == "error":
            status = "timeout"
            cell.outputs.append(
                nbformat.v4.new_output(
                    "error", ename="CellTimeoutError", evalue=content.get("evalue", ""), traceback=[]
                )
            )
        if status not in ("ok", "error", "aborted", "timeout"):
            status = "error"
        previous = self.records.get(self._last_index) if self._last_index is not None else None
        if status == "timeout" and previous is not None and previous.status == "timeout":
            # The interrupt did not stop the previous cell (SIGINT ignored), so this one only
            # queued behind it; every further cell would too. Stop the kernel now.
            self.unresponsive = self._last_index
            if self.on_unresponsive:
                self.on_unresponsive()
        self._last_index = cell_index
        self.records[cell_index] = CellRecord(
            cell_index,
            status,
            time.monotonic() - self._cell_started,
            safe_error_name(content.get("ename")) if status == "error" else None,
        )

    def _take_record(self, cell_index: int, payload: Any) -> None:
        rec = Recorded.from_message(payload)
        if rec is None:
            return
        size = len(json.dumps(payload, default=str))
        if self.record_bytes + size > self.record_cap:
            rec = Recorded(rec.name, error=f"the recorded values exceeded {format_size(self.record_cap)}")
        else:
            self.record_bytes += size
        self.recorded.setdefault(cell_index, []).append(rec)

    def output(self, outs, msg, display_id, cell_index):  # an nbclient hook
        data = msg.get("content", {}).get("data")
        if isinstance(data, dict) and RECORD_MIME in data:
            # A value for the grader, not an output: it never reaches the executed notebook.
            self._take_record(cell_index, data[RECORD_MIME])
            return None
        size = len(json.dumps(msg.get("content", {}), default=str))
        if self.output_bytes + size > self.output_cap:
            if not self.output_capped:
                self.output_capped = True
                outs.append(
                    nbformat.v4.new_output(
                        "stream",
                        name="stdout",
                        text=f"\n[gradehub: output stopped here; the notebook's output exceeded "
                        f"{format_size(self.output_cap)}]\n",
                    )
                )
            return None
        self.output_bytes += size
        return super().output(outs, msg, display_id, cell_index)


def cell_label(nb: NotebookNode, index: int | None) -> str:
    """How a student finds the cell: its grade id, else its position among their cells."""
    if index is None or index >= len(nb.cells):
        return "setup"
    cell = nb.cells[index]
    guard_of = cell.get("metadata", {}).get("gradehub", {}).get("guard")
    if guard_of is not None:
        return f"before {cell_label(nb, index + 1)}" if guard_of else "setup"
    meta = nbgrader_meta(cell)
    if meta:
        return f"`{meta['grade_id']}`"
    position = sum(1 for c in nb.cells[: index + 1] if "guard" not in c.get("metadata", {}).get("gradehub", {}))
    return f"#{position}"


def _describe_death(code: int | None) -> str:
    if code is not None and code < 0:
        name = _SIGNALS.get(-code, f"signal {-code}")
        if -code == signal.SIGSEGV:
            return f"{name}: segmentation fault"
        return name
    return f"exit code {code}"


_GUARD_LINE = re.compile(r"^gradehub-guard (\S+) (\[.*\])$", re.M)


def _is_test_cell(cell: NotebookNode) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta and meta.get("grade") and not meta.get("solution") and cell.cell_type == "code")


def add_guards(nb: NotebookNode) -> tuple[NotebookNode, dict[int, int], dict[int, tuple[str, int]]]:
    """The notebook with a hidden guard prelude and a guard cell before every test cell.

    Returns it with ``new index -> original index`` for the original cells and
    ``guard index -> (challenge, index of the test it protects)``.
    """
    alias = f"_gh_{secrets.token_hex(4)}"
    cells = [
        nbformat.v4.new_code_cell(
            f"import gradehub.guard as {alias}\n{alias}.install({secrets.token_hex(8)!r})",
            metadata={"gradehub": {"guard": ""}},
        )
    ]
    original: dict[int, int] = {}
    guards: dict[int, tuple[str, int]] = {}
    for i, cell in enumerate(nb.cells):
        if _is_test_cell(cell):
            challenge = secrets.token_hex(8)
            guards[len(cells)] = (challenge, len(cells) + 1)
            cells.append(
                nbformat.v4.new_code_cell(
                    f"{alias}.check({challenge!r})", metadata={"gradehub": {"guard": graded_meta(cell)["grade_id"]}}
                )
            )
        original[len(cells)] = i
        cells.append(cell)
    guarded = nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)
    return guarded, original, guards


def _read_guards(
    nb: NotebookNode, records: dict[int, CellRecord], guards: dict[int, tuple[str, int]]
) -> tuple[list[str], set[int]]:
    """Flags for a human, and the test cells whose results cannot be trusted."""
    flags: list[str] = []
    untrusted: set[int] = set()
    prelude = records.get(0)
    if prelude is not None and prelude.status != "ok":
        flags.append("the grader's guard could not be installed in this kernel")
    for index, (challenge, test_index) in sorted(guards.items()):
        record = records.get(index)
        if record is None or record.status in ("not_run", "timeout", "aborted"):
            continue
        label = cell_label(nb, test_index)
        text = "".join(
            o.get("text", "") for o in nb.cells[index].get("outputs", []) if o.get("output_type") == "stream"
        )
        match = next((m for m in _GUARD_LINE.finditer(text) if m.group(1) == challenge), None)
        if match is None:
            untrusted.add(test_index)
            flags.append(f"cells did not run as written before test {label} (the guard check never reported)")
            continue
        try:
            restored = json.loads(match.group(2))
        except ValueError:
            restored = ["(unreadable)"]
        # The line comes from the kernel: whatever it holds is text to show, never to obey.
        names = [str(r)[:80] for r in restored][:20] if isinstance(restored, list) else ["(unreadable)"]
        if names:
            flags.append(f"before test {label} the grader had to restore: {', '.join(names)}")
    return flags, untrusted


def _close_zmq(client: Any, km: Any) -> None:
    """Close the kernel client's channels and both ZeroMQ contexts.

    nbclient cleans up only a kernel manager it created itself; this one is ours (for the
    sandbox provisioner), so without this every notebook left two contexts open (~17
    descriptors: sockets, epoll and event fds) in the process, and a grading worker that grades a
    class ran out of descriptors (a soft limit of 1024 is ~60 notebooks).
    """
    kc = client.kc
    if kc is not None:
        try:
            kc.stop_channels()
        except Exception:  # noqa: BLE001, S110 - best effort: the kernel is gone
            pass
        client.kc = None
    for context in (getattr(kc, "context", None), getattr(km, "context", None)):
        if context is not None and not context.closed:
            context.destroy(linger=0)


def execute_notebook(nb: NotebookNode, sandbox: Sandbox, job: SandboxJob, guard: bool = True) -> Execution:
    """Execute ``nb`` in ``sandbox``; never raises for student behaviour.

    With ``guard``, hidden guard cells run before every test cell (see :mod:`gradehub.guard`);
    they are removed again from the executed notebook, and what they found becomes flags.
    """
    if guard:
        guarded, original, guards = add_guards(nb)
        result = execute_notebook(guarded, sandbox, job, guard=False)
        # The guard is a tripwire: what it finds is flagged for a person; no point depends on it
        # (verdicts are decided on the host from recorded values).
        flags, _untrusted = _read_guards(result.executed, result.cells, guards)
        executed = nbformat.v4.new_notebook(metadata=nb.metadata)
        executed.cells = [result.executed.cells[new] for new in sorted(original)]
        result.cells = {
            original[new]: CellRecord(original[new], rec.status, rec.duration, rec.error_name)
            for new, rec in result.cells.items()
            if new in original
        }
        result.records = {original[new]: recs for new, recs in result.records.items() if new in original}
        result.executed = executed
        result.flags.extend(flags)
        return result
    limits = job.limits
    started = time.monotonic()
    km = AsyncKernelManager(transport="ipc", ip=str(job.job_dir / "k"), kernel_name="python3")
    km.connection_file = str(job.job_dir / "kernel.json")
    spec = km.kernel_spec
    if spec is None:
        raise RuntimeError("no python3 kernel spec is installed")
    provisioner = SandboxProvisioner(kernel_id="gradehub", kernel_spec=spec, parent=km)
    provisioner.sandbox = sandbox
    provisioner.job = job
    km.provisioner = provisioner
    spec.argv = list(KERNEL_ARGV)

    client = _CappedClient(
        nb,
        km=km,
        timeout=int(limits.cell_timeout),
        startup_timeout=60,
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={
            "ename": "CellTimeoutError",
            "evalue": f"cell stopped after {limits.cell_timeout:g} s (cell time limit)",
            "traceback": [],
        },
        record_timing=False,
        output_cap=limits.output_bytes,
        record_cap=limits.record_bytes,
        iopub_timeout=2,
    )

    stop = threading.Event()
    killed: dict[str, str] = {}

    def watchdog() -> None:
        deadline = started + limits.notebook_timeout
        while not stop.wait(_WATCH_INTERVAL):
            handle = provisioner.handle
            if handle is None:
                if time.monotonic() > deadline:
                    killed.setdefault("reason", "timeout")
                    return
                continue
            if time.monotonic() > deadline:
                killed.setdefault("reason", "timeout")
                handle.kill("timeout")
                return
            used = handle.memory_bytes()
            if used is not None and used > limits.memory_bytes:
                killed.setdefault("reason", "memory")
                handle.kill("memory")
                return

    def stop_unresponsive() -> None:
        killed.setdefault("reason", "unresponsive")
        if provisioner.handle:
            provisioner.handle.kill("unresponsive")

    client.on_unresponsive = stop_unresponsive
    watchdog_thread = threading.Thread(target=watchdog, name=f"watchdog-{job.label}", daemon=True)
    watchdog_thread.start()
    outcome, message = Outcome.COMPLETED, ""
    try:
        client.execute()
    except (DeadKernelError, CellTimeoutError, RuntimeError, TimeoutError) as exc:
        outcome, message = Outcome.KERNEL_DIED, f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a platform failure is a result as well
        outcome, message = Outcome.SANDBOX_ERROR, f"{type(exc).__name__}: {exc}"
    finally:
        stop.set()
        handle = provisioner.handle
        death = handle.death() if handle else None
        if handle is not None:
            try:
                handle.cleanup()
            except Exception:  # noqa: BLE001, S110 - best effort: the kernel is gone or going
                pass
        _close_zmq(client, km)

    where = cell_label(nb, client.current_cell)
    reason = killed.get("reason") or (death.killed_by_us if death else None)
    if death and death.oom_killed:
        reason = "memory"
    if reason == "unresponsive":
        outcome = Outcome.TIMEOUT
        where = cell_label(nb, client.unresponsive)
        message = (
            f"cell {where} did not stop when interrupted after {limits.cell_timeout:g} s "
            "(cell time limit); the kernel was stopped"
        )
    elif outcome is not Outcome.COMPLETED or reason in ("timeout", "memory"):
        if reason == "timeout":
            outcome = Outcome.TIMEOUT
            message = f"stopped after {limits.notebook_timeout:g} s in cell {where} (notebook time limit)"
        elif reason == "memory":
            outcome = Outcome.OUT_OF_MEMORY
            message = f"out of memory in cell {where} (limit {format_size(limits.memory_bytes)})"
        elif outcome is Outcome.KERNEL_DIED:
            code = death.exit_code if death else None
            message = f"the kernel died in cell {where} ({_describe_death(code)})"
    # Cells after the one that stopped never ran: record them so they cannot score.
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and i not in client.records:
            client.records[i] = CellRecord(i, "not_run")
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "execute_result"]
    timed_out = [cell_label(nb, r.index) for r in client.records.values() if r.status == "timeout"]
    if timed_out and outcome is Outcome.COMPLETED:
        outcome = Outcome.CELL_TIMEOUT
        message = f"cell {', '.join(timed_out)} stopped after {limits.cell_timeout:g} s (cell time limit); the rest ran"
    for cell in nb.cells:
        if cell.cell_type == "code":
            # A record slipped in through update_display_data is dropped like the others.
            cell.outputs = [o for o in cell.get("outputs", []) if RECORD_MIME not in o.get("data", {})]
    return Execution(
        outcome=outcome,
        message=message,
        executed=nb,
        cells=client.records,
        records=client.recorded,
        failed_cell=where if outcome not in (Outcome.COMPLETED, Outcome.CELL_TIMEOUT) else None,
        duration=time.monotonic() - started,
        output_capped=client.output_capped,
    )


def test_records(execution: Execution, cells: list[int] | None = None) -> NotebookRecords:
    """What each test cell of the executed notebook recorded, keyed by grade id.

    Values recorded in any other cell (a student's own cell, say) are ignored. ``cells``
    restricts the result to those indices (the mutant harness runs a task's tests repeatedly).
    """
    out: NotebookRecords = {}
    for index, cell in enumerate(execution.executed.cells):
        if not is_test_cell(cell) or (cells is not None and index not in cells):
            continue
        out[graded_meta(cell)["grade_id"]] = cell_records(execution, index)
    return out


def cell_records(execution: Execution, index: int) -> CellRecords:
    """What the cell at ``index`` recorded, and how it ended."""
    rec = execution.cells.get(index)
    entry = CellRecords(status=rec.status if rec else "not_run", error_name=rec.error_name if rec else None)
    for value in execution.records.get(index, []):
        entry.add(value)
    return entry


def grade_id_statuses(execution: Execution) -> dict[str, str]:
    """grade id -> how the kernel ended that cell (old-style tests are scored from it)."""
    return {
        m["grade_id"]: (execution.cells[i].status if i in execution.cells else "not_run")
        for i, c in enumerate(execution.executed.cells)
        if (m := nbgrader_meta(c))
    }


def write_notebook(nb: NotebookNode, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(nbformat.writes(nb), encoding="utf-8")
    tmp.replace(path)
