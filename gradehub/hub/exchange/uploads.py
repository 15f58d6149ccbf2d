"""A submission's files, from the request body to a staging folder on disk, with bounded memory.

The service streams every request body to a spool file as it arrives (64 KiB at a time,
:class:`Spool`), so the memory an upload costs does not grow with its size or with the number
of uploads in flight. When the body is complete, one of two readers turns the spool into a
staging folder of plain files:

* :func:`extract_tar`: ``Content-Type: application/x-tar``, what the course's client sends. An
  uncompressed tar is read member by member and each file copied in 1 MiB blocks, so a 20 MiB
  submission never sits in memory. Only regular files with clean relative names are taken; links,
  devices, sparse files, compressed archives and names that are both file and folder are refused
  (400), bytes beyond the course's cap are refused (413) as they are read, not as declared.
* :func:`read_json`: ``{"files": {path: base64}}``, the wire format of clients built before the
  tar one (a server image not yet rebuilt). It has to be parsed whole, so at most
  :data:`JSON_AT_ONCE` such bodies are decoded at the same time: memory stays bounded, large
  legacy uploads wait for each other instead.

Either way the staging folder is then committed by :meth:`gradehub.hub.exchange.store.ExchangeStore.commit`.
"""

from __future__ import annotations

import json
import os
import secrets
import tarfile
import threading
from pathlib import Path
from collections.abc import Callable
from typing import IO

from .store import (
    RESERVED_NAMES,
    ExchangeRejected,
    ExchangeStore,
    check_tree,
    clean_path,
    decode_files,
    format_bytes,
    storage_error,
    write_files,
)

COPY_BLOCK = 2**20
JSON_AT_ONCE = 2
_json_slots = threading.BoundedSemaphore(JSON_AT_ONCE)


class Spool:
    """The request body, written to a private file as it arrives; refuses bytes beyond ``cap``."""

    def __init__(self, folder: Path, cap: int):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = folder / f"body-{secrets.token_hex(12)}"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._fh: IO[bytes] | None = os.fdopen(fd, "wb")
        self.cap = cap
        self.received = 0
        self.too_large = False

    def write(self, chunk: bytes) -> None:
        if self.too_large or self._fh is None:
            return
        self.received += len(chunk)
        if self.received > self.cap:
            self.too_large = True  # the rest is read and dropped; the answer is a 413
            self.discard()
            return
        self._fh.write(chunk)

    def finish(self) -> Path:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        return self.path

    def discard(self) -> None:
        self.finish()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def _write_member(staging: Path, name: str, source: IO[bytes], budget: int, cap: int) -> int:
    """Copy one file into ``staging/name``; returns its bytes. ``budget``: bytes left under the cap."""
    target = staging / name
    written = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as out:
            while block := source.read(COPY_BLOCK):
                written += len(block)
                if written > budget:
                    raise ExchangeRejected(
                        413, f"this submission has more than {format_bytes(cap)}; the course accepts at most "
                        f"{format_bytes(cap)} per submission (remove large data files or outputs)"
                    )
                out.write(block)
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise ExchangeRejected(400, f"{name!r} is sent twice, or both as a file and as a folder") from None
    except OSError as exc:
        raise storage_error(name, exc) from None
    return written


def extract_tar(spool: Path, staging: Path, *, cap: int, max_files: int) -> dict[str, int]:
    """The tar in ``spool`` as plain files under ``staging``; returns {name: bytes}.

    Raises :class:`ExchangeRejected` (400/413) for anything but an uncompressed tar of regular
    files with clean names within the limits; what was written stays in ``staging`` for the
    caller to remove.
    """
    names: dict[str, int] = {}
    total = 0
    members = 0
    try:
        with tarfile.open(spool, mode="r:") as tar:
            for member in tar:
                members += 1
                if members > 2 * max_files + 16:  # folders count too: a bound on the headers read
                    raise ExchangeRejected(413, f"more than {max_files} files; at most {max_files} are accepted")
                if member.isdir():
                    clean_path(member.name.rstrip("/"))
                    continue
                if not member.isreg() or member.issparse():
                    raise ExchangeRejected(400, f"{member.name!r} is not a plain file (links, devices and sparse "
                                                "files are not accepted)")
                name = clean_path(member.name)
                if name in RESERVED_NAMES:
                    continue  # the service writes these itself
                if name in names:
                    raise ExchangeRejected(400, f"file {name!r} is sent twice")
                if len(names) >= max_files:
                    raise ExchangeRejected(413, f"more than {max_files} files; at most {max_files} are accepted")
                source = tar.extractfile(member)
                if source is None:
                    raise ExchangeRejected(400, f"{member.name!r} is not a plain file")
                names[name] = _write_member(staging, name, source, cap - total, cap)
                total += names[name]
                # tarfile keeps every header it has read; a submission has few, so that is bounded
    except tarfile.TarError as exc:
        raise ExchangeRejected(400, f"the body is not an uncompressed tar archive ({exc})") from None
    check_tree(list(names))
    return names


def read_json(spool: Path, staging: Path, *, cap: int, max_files: int) -> dict[str, int]:
    """The legacy ``{"files": {path: base64}}`` body in ``spool`` as files under ``staging``."""
    with _json_slots:  # parsed whole: a bounded number at once
        try:
            body = json.loads(spool.read_bytes() or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise ExchangeRejected(400, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise ExchangeRejected(400, 'expected a JSON object {"files": {path: base64}}')
        files = decode_files(body.get("files"))
        del body
        return write_files(staging, files, cap=cap, max_files=max_files)


def receive(store: ExchangeStore, student: str, assignment: str, body: Path, wire: str, *,
            upload_id: str | None = None, still_wanted: Callable[[], bool] = lambda: True) -> dict[str, str]:
    """Store the submission in a spooled request body (``wire``: ``tar`` or ``json``); returns
    ``{"timestamp", "receipt"}``. Runs in a worker thread of the service."""
    import shutil

    from .store import valid_id

    if not valid_id(student):
        raise ExchangeRejected(403, f"{student!r} cannot submit (not a valid student id)")
    store.released_dir(assignment)
    staging = store.new_staging()
    try:
        read = extract_tar if wire == "tar" else read_json
        names = read(body, staging, cap=store.submission_cap(), max_files=store.max_files)
        if not names:
            raise ExchangeRejected(400, "a submission needs at least one file")
        return store.commit(student, assignment, staging, upload_id=upload_id, still_wanted=still_wanted)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
