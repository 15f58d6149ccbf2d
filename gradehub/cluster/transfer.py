"""What travels between the coordinating process and a grading node, and back.

A grading node has no course root. A job travels as a :class:`PortableJob`:

- the files every job of the assignment reads (source and release notebooks, data files), as
  SHA-256 digests: their bytes travel once per node (a shared Dask task), not once per job;
- the student's submitted notebooks, read here **without following links** and within the size
  cap: a symlink or a non-regular file travels as "not a regular file", an oversize file as its
  size only, and the node recreates exactly that (a dangling link, a sparse file), so the
  sanitizer there says what it would have said here;
- limits, sandbox and thread count, as in the local :class:`gradehub.protocol.Job`.

Back comes a :class:`PortableRun`: the :class:`gradehub.protocol.JobRun` and, per notebook, the
executed notebook and the records its test cells made, which :func:`unpack_run` writes into the
job's ``out_dir`` here. Scoring, the reference's records and every write stay here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..protocol import DataFile, Job, JobRun

#: where a node recreates an irregular submitted file: a link to nothing
_NOWHERE = "/nonexistent/gradehub-irregular-file"


@dataclass(frozen=True)
class SubmittedFile:
    """One submitted notebook as it travels."""

    content: bytes | None = None  # a regular file within the size cap
    size: int = 0  # its size; an oversize file travels as this only
    irregular: bool = False  # a symlink, directory, fifo ... (or unreadable here)


def read_submitted(path: Path, max_bytes: int) -> SubmittedFile:
    """``path`` as it travels: never through a link, never more than ``max_bytes`` + 1 bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return SubmittedFile(irregular=True)  # a link (ELOOP), gone, or unreadable
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return SubmittedFile(irregular=True)
        if info.st_size > max_bytes:
            return SubmittedFile(size=info.st_size)
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        content = b"".join(chunks)
        if len(content) > max_bytes:  # grew while we read it
            return SubmittedFile(size=len(content))
        return SubmittedFile(content=content, size=len(content))
    except OSError:
        return SubmittedFile(irregular=True)
    finally:
        os.close(fd)


def write_submitted(file: SubmittedFile, path: Path) -> None:
    """Recreate on the node what :func:`read_submitted` saw, for the sanitizer to judge."""
    if file.irregular:
        os.symlink(_NOWHERE, path)
    elif file.content is None:
        with open(path, "wb") as f:  # sparse: the sanitizer reads the size, never the bytes
            f.truncate(file.size)
    else:
        path.write_bytes(file.content)


@dataclass
class PortableJob:
    """A :class:`Job` without host paths: files by digest (``blobs``), submissions as bytes."""

    job: Job  # its paths are placeholders, replaced on the node by unpack_job
    blobs: dict[str, str] = field(default_factory=dict)  # "source/NB" | "release/NB" | "data/REL" -> sha256
    submitted: dict[str, SubmittedFile] = field(default_factory=dict)  # notebook -> file; absent: not submitted


@dataclass
class PortableRun:
    """A node's answer: the :class:`JobRun` (paths cleared) and its files by name."""

    run: JobRun
    files: dict[str, bytes] = field(default_factory=dict)  # "NB.ipynb", "NB.records.json"


class BlobStore:
    """The coordinator's digests of the files jobs read, each file read and hashed once per run."""

    def __init__(self) -> None:
        self._by_path: dict[str, str] = {}
        self.contents: dict[str, bytes] = {}  # sha256 -> bytes

    def add(self, path: str) -> str:
        digest = self._by_path.get(path)
        if digest is None:
            data = Path(path).read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            self._by_path[path] = digest
            self.contents[digest] = data
        return digest


def pack_job(job: Job, store: BlobStore) -> PortableJob:
    """``job`` as it travels; the files it shares with other jobs go into ``store``.

    Submitted files are read up to the job's own size limit, the one the node's sanitizer applies.
    """
    max_bytes = int(job.limits["max_notebook_bytes"])
    blobs: dict[str, str] = {}
    submitted: dict[str, SubmittedFile] = {}
    for nb in job.notebooks:
        blobs[f"source/{nb.name}"] = store.add(nb.source)
        blobs[f"release/{nb.name}"] = store.add(nb.release)
        if nb.submitted is not None:
            submitted[nb.name] = read_submitted(Path(nb.submitted), max_bytes)
    for data in job.data_files:
        blobs[f"data/{data.name}"] = store.add(data.path)
    placeholder = dataclasses.replace(
        job,
        # replace(), not a new NotebookJob: every other field (the student's variant) travels as it is
        notebooks=[dataclasses.replace(nb, submitted=None, source="", release="") for nb in job.notebooks],
        data_files=[DataFile(d.name, "") for d in job.data_files],
        out_dir="",
    )
    return PortableJob(placeholder, blobs, submitted)


def unpack_job(portable: PortableJob, contents: dict[str, bytes], root: Path) -> Job:
    """The job with paths under ``root`` (a fresh directory on the node), its files written there."""
    blob_dir, sub_dir, out_dir = root / "blobs", root / "submitted", root / "out"
    for d in (blob_dir, sub_dir, out_dir):
        d.mkdir(parents=True, exist_ok=True)

    def blob(role: str) -> str:
        digest = portable.blobs[role]
        path = blob_dir / digest
        if not path.exists():
            path.write_bytes(contents[digest])
        return str(path)

    notebooks = []
    for nb in portable.job.notebooks:
        submitted = None
        if nb.name in portable.submitted:
            target = sub_dir / f"{nb.name}.ipynb"
            write_submitted(portable.submitted[nb.name], target)
            submitted = str(target)
        notebooks.append(
            dataclasses.replace(
                nb, submitted=submitted, source=blob(f"source/{nb.name}"), release=blob(f"release/{nb.name}")
            )
        )
    data_files = [DataFile(d.name, blob(f"data/{d.name}")) for d in portable.job.data_files]
    return dataclasses.replace(portable.job, notebooks=notebooks, data_files=data_files, out_dir=str(out_dir))


def pack_run(run: JobRun) -> PortableRun:
    """A node's :class:`JobRun` with its files' bytes instead of node paths."""
    files: dict[str, bytes] = {}
    notebooks = []
    for nb in run.notebooks:
        if nb.executed:
            files[f"{nb.name}.ipynb"] = Path(nb.executed).read_bytes()
        if nb.records:
            files[f"{nb.name}.records.json"] = Path(nb.records).read_bytes()
        notebooks.append(dataclasses.replace(nb, executed=None, records=None))
    return PortableRun(dataclasses.replace(run, notebooks=notebooks), files)


def unpack_run(portable: PortableRun, job: Job) -> JobRun:
    """The answer as a local run gives it: its files in ``job.out_dir``, paths pointing there.

    Only the job's own notebooks are taken (names are never paths from the node).
    """
    out_dir = Path(job.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = {nb.name for nb in job.notebooks}
    notebooks = []
    for nb in portable.run.notebooks:
        if nb.name not in wanted:
            continue
        executed = portable.files.get(f"{nb.name}.ipynb")
        records = portable.files.get(f"{nb.name}.records.json")
        if executed is not None:
            (out_dir / f"{nb.name}.ipynb").write_bytes(executed)
        if records is not None:
            (out_dir / f"{nb.name}.records.json").write_bytes(records)
        notebooks.append(
            dataclasses.replace(
                nb,
                executed=str(out_dir / f"{nb.name}.ipynb") if executed is not None else None,
                records=str(out_dir / f"{nb.name}.records.json") if records is not None else None,
            )
        )
    return dataclasses.replace(portable.run, key=job.key, notebooks=notebooks)
