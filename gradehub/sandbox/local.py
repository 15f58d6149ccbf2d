"""The ``local`` sandbox: the kernel is a separate process on this machine.

What it does: a fresh temporary job directory as working directory and home, an environment
scrubbed of the grader's variables, its own process session (killed as a group), resource
limits (address space, file size, no core dumps), a memory watchdog on the whole process
tree, and a high OOM score so the kernel, never the grader, is what the kernel OOM killer
picks.

What it does NOT do: isolate the filesystem or the network. Student code runs as the
grading user and can read anything that user can. Use ``--sandbox docker`` for real
submissions; ``local`` is for authoring, CI without Docker and trusted code.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys

import psutil

from .base import Death, KernelHandle, Sandbox, SandboxJob, die_with_parent, kernel_env, register

# Address space beyond the memory limit: a CPU torch import maps ~1 GiB it never touches.
_ADDRESS_SPACE_HEADROOM = 3 * 2**30
_MAX_FILE_BYTES = 512 * 2**20


def _limit_child(memory_bytes: int) -> None:
    """Runs in the child between fork and exec: only async-signal-safe-ish calls."""
    die_with_parent()
    address_space = memory_bytes + _ADDRESS_SPACE_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (_MAX_FILE_BYTES, _MAX_FILE_BYTES))
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


class LocalKernel(KernelHandle):
    def __init__(self, process: subprocess.Popen):
        self.process = process
        self._killed_for: str | None = None
        try:
            self._ps = psutil.Process(process.pid)
        except psutil.Error:
            self._ps = None

    def poll(self) -> int | None:
        return self.process.poll()

    def signal(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self, reason: str) -> None:
        if self._killed_for is None and self.process.poll() is None:
            self._killed_for = reason
        self._kill_tree()

    def _kill_tree(self) -> None:
        # The session first (covers grandchildren that stayed in it), then any descendant
        # that moved to a session of its own.
        try:
            descendants = self._ps.children(recursive=True) if self._ps else []
        except psutil.Error:
            descendants = []
        self.signal(signal.SIGKILL)
        for proc in descendants:
            try:
                proc.kill()
            except psutil.Error:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def memory_bytes(self) -> int | None:
        if self._ps is None:
            return None
        total = 0
        try:
            procs = [self._ps, *self._ps.children(recursive=True)]
        except psutil.Error:
            return None
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return total

    def death(self) -> Death:
        code = self.process.poll()
        return Death(exit_code=code, killed_by_us=self._killed_for)

    def cleanup(self) -> None:
        self._kill_tree()


@register
class LocalSandbox(Sandbox):
    name = "local"
    isolates_filesystem = False

    def preflight(self) -> None:
        return None

    def start_kernel(self, job: SandboxJob, kernel_argv: list[str], env: dict[str, str]) -> KernelHandle:
        home = job.job_dir / ".home"
        home.mkdir(exist_ok=True)
        full_env = kernel_env(job, str(home))
        full_env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + full_env["PATH"]
        full_env.update(env)
        argv = [sys.executable if arg in ("python", "python3", "{python}") else arg for arg in kernel_argv]
        process = subprocess.Popen(
            argv,
            cwd=job.job_dir,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            preexec_fn=lambda: _limit_child(job.limits.memory_bytes),
        )
        return LocalKernel(process)
