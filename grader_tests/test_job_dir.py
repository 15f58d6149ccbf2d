"""The job directory a kernel writes to is a size-limited tmpfs (as root), so no submission fills the host's disk."""

import os
import tempfile
from pathlib import Path

from gradehub.sandbox.worker import mount_job_dir, release_job_dir


def test_job_dir_is_a_tmpfs_of_the_configured_size_when_root():
    job_dir = Path(tempfile.mkdtemp(prefix="gh-", dir="/tmp"))
    mounted = mount_job_dir(job_dir, 48 * 2**20)
    try:
        if os.geteuid() == 0:        # CI and grading nodes run as root
            assert mounted
            stat = os.statvfs(job_dir)
            assert stat.f_blocks * stat.f_frsize == 48 * 2**20
            with open(job_dir / "big", "wb") as f:
                try:
                    f.write(b"x" * (64 * 2**20))
                    f.flush()
                    written = None
                except OSError as exc:
                    written = exc.errno
            assert written is not None, "64 MiB fit into a 48 MiB job directory"
        else:
            assert not mounted       # without root: a plain directory, and the worker says so
    finally:
        release_job_dir(job_dir, mounted)
    assert not job_dir.exists()
