"""The exchange under deadline load (issue 18): uploads streamed to disk with bounded memory, a
submission stored exactly when the student is told so, the inbound index, and a hostile
student's tar archives. No hub: the service runs in-process with a fake hub login (X-User)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import socket
import tarfile
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from gradehub.hub.exchange.index import describe_folder
from gradehub.hub.exchange.store import RESERVED_NAMES, ExchangeRejected, ExchangeStore, receipt_of
from gradehub.hub.exchange.uploads import extract_tar, receive

NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
URL = "/api/assignments/week01/submissions"


@pytest.fixture
def store(tmp_path):
    st = ExchangeStore(tmp_path / "exchange", "nat3008", max_upload=40 * 2**20, max_files=20)
    (st.outbound / "week01").mkdir(parents=True)
    (st.outbound / "week01" / "week01.ipynb").write_bytes(NB)
    st.ensure()
    return st


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode, format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def file_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def tar_of(files: dict[str, bytes]) -> bytes:
    return tar_bytes([file_member(n, d) for n, d in files.items()])


def folders(store) -> list[Path]:
    return sorted(p for p in store.inbound.iterdir() if not p.name.startswith(".")) if store.inbound.is_dir() else []


def staging_left(store) -> list[Path]:
    return list(store.staging_dir.rglob("*")) if store.staging_dir.is_dir() else []


# --------------------------------------------------------------------------- the service in-process


class Service:
    """The exchange's tornado app on a free port in a thread of its own, alice logged in by header."""

    def __init__(self, store):
        self.store = store
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(30)

    def _run(self):
        from jupyterhub.services import auth
        from tornado import httpserver, netutil

        from gradehub.hub.exchange.service import make_app

        async def main():
            self.loop = asyncio.get_running_loop()
            self.stopped = asyncio.Event()
            server = httpserver.HTTPServer(make_app(self.store))
            [sock] = netutil.bind_sockets(0, "127.0.0.1")
            server.add_sockets([sock])
            self.port = sock.getsockname()[1]
            self.ready.set()
            await self.stopped.wait()
            server.stop()

        auth.HubAuthenticated.get_current_user = lambda self: (
            {"name": self.request.headers["X-User"]} if "X-User" in self.request.headers else None)
        asyncio.run(main())

    def stop(self):
        self.loop.call_soon_threadsafe(self.stopped.set)
        self.thread.join(10)


@pytest.fixture
def service(store, monkeypatch):
    from jupyterhub.services import auth
    monkeypatch.setattr(auth.HubAuthenticated, "get_current_user", auth.HubAuthenticated.get_current_user)
    svc = Service(store)
    yield svc
    svc.stop()


def raw_request(port: int, head: str, body_parts, read_answer: bool = True, close_after: float = 0.0) -> bytes:
    """An HTTP request over a plain socket: sent in parts, optionally closed without reading."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(head.encode())
        for part in body_parts:
            s.sendall(part)
        if not read_answer:
            time.sleep(close_after)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return b""
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def head(length: int, *, ctype: str = "application/x-tar", user: str = "alice", extra: str = "") -> str:
    return (f"POST {URL} HTTP/1.1\r\nHost: x\r\nX-User: {user}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n{extra}\r\n")


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# --------------------------------------------------------------------------- bounded memory


def streamed_tar(size: int):
    """A tar of week01.ipynb and a ``size``-byte data file, produced in 64 KiB parts (never whole)."""
    block = hashlib.sha256(b"seed").digest() * 2048          # 64 KiB
    nb_info = tarfile.TarInfo("week01.ipynb")
    nb_info.size = len(NB)
    data_info = tarfile.TarInfo("data.bin")
    data_info.size = size
    digest = hashlib.sha256()

    def parts():
        yield nb_info.tobuf(tarfile.PAX_FORMAT) + NB + b"\0" * (-len(NB) % 512)
        yield data_info.tobuf(tarfile.PAX_FORMAT)
        left = size
        while left:
            part = block[: min(left, len(block))]
            digest.update(part)
            left -= len(part)
            yield part
        yield b"\0" * (-size % 512) + b"\0" * 1024

    length = 512 + len(NB) + (-len(NB) % 512) + 512 + size + (-size % 512) + 1024
    return parts, length, digest


def test_a_streamed_upload_takes_bounded_memory(service, store):
    size = 16 * 2**20                                  # within the course's default 20 MiB
    parts, length, digest = streamed_tar(size)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        answer = raw_request(service.port, head(length), parts())
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert status_of(answer) == 201, answer[-300:]
    [folder] = folders(store)
    assert hashlib.sha256((folder / "data.bin").read_bytes()).digest() == digest.digest()
    # 16 MiB went through; the server (and this client) held a few blocks of it at a time
    assert peak < 6 * 2**20, f"peak {peak / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB upload"
    assert staging_left(store) == []


def test_the_legacy_json_body_still_works_and_is_decoded_a_few_at_a_time(service, store):
    import base64
    from gradehub.hub.exchange import uploads

    body = json.dumps({"files": {"week01.ipynb": base64.b64encode(NB).decode()}}).encode()
    answer = raw_request(service.port, head(len(body), ctype="application/json"), [body])
    assert status_of(answer) == 201
    assert uploads.JSON_AT_ONCE == 2 and uploads._json_slots._value == 2    # every slot given back
    [folder] = folders(store)
    assert (folder / "week01.ipynb").read_bytes() == NB


# --------------------------------------------------------------------------- acknowledged == stored


def test_an_upload_cut_off_midway_leaves_nothing(service, store):
    raw_request(service.port, head(8 * 2**20), [b"\0" * 2**20], read_answer=False)
    assert wait_for(lambda: staging_left(store) == [])
    assert folders(store) == [] and store.submissions("alice") == []


def test_a_client_that_gave_up_before_the_commit_gets_nothing_stored(service, store, monkeypatch):
    """The deadline night's bug: the client timed out, the service stored it anyway, later."""
    commit = ExchangeStore.commit
    seen = {}

    def slow_commit(self, *args, still_wanted=lambda: True, **kwargs):
        # the service is still busy when the client gives up (closes the connection)
        seen["noticed"] = wait_for(lambda: not still_wanted(), timeout=20)
        return commit(self, *args, still_wanted=still_wanted, **kwargs)

    monkeypatch.setattr(ExchangeStore, "commit", slow_commit)
    body = tar_of({"week01.ipynb": NB})
    raw_request(service.port, head(len(body)), [body], read_answer=False, close_after=0.2)
    assert wait_for(lambda: "noticed" in seen) and seen["noticed"]
    assert wait_for(lambda: staging_left(store) == [])
    assert folders(store) == [] and store.submissions("alice") == []


def test_refused_uploads_leave_nothing_behind(service, store):
    store.max_upload = 2**20
    # within the declared-length check (cap * 4/3 + 1 MiB) but beyond the cap once read
    too_big = tar_of({"week01.ipynb": NB, "big.bin": b"x" * (2**20 + 2**19)})
    answers = [
        raw_request(service.port, head(len(too_big)), [too_big]),   # more bytes than the cap: dropped as they come
        raw_request(service.port, head(700), [tar_of({"week01.ipynb": NB * 100})[:700]]),    # cut short
        raw_request(service.port, head(9), [b"not a tar"]),
        raw_request(service.port, head(len(NB)), [NB]),                                   # a notebook, not a tar
    ]
    assert [status_of(a) for a in answers] == [413, 400, 400, 400], [a[-200:] for a in answers]
    assert wait_for(lambda: staging_left(store) == [])          # the spool goes right after the answer
    assert folders(store) == []


def test_a_retry_with_the_same_upload_id_stores_once(store):
    t1 = store.submit("alice", "week01", {"week01.ipynb": NB}, upload_id="A" * 24)
    t2 = store.submit("alice", "week01", {"week01.ipynb": NB + b" "}, upload_id="A" * 24)
    assert t1 == t2 and len(folders(store)) == 1
    [listed] = store.submissions("alice")
    assert listed["receipt"] == receipt_of("A" * 24) and folders(store)[0].name.endswith("+" + listed["receipt"])
    # another student with the same id gets a submission of their own; alice's stays alone
    store.submit("bob", "week01", {"week01.ipynb": NB}, upload_id="A" * 24)
    assert [p.name.split("+")[0] for p in folders(store)] == ["alice", "bob"]


@pytest.mark.parametrize("upload_id", ["short", "a" * 65, "../../etc/passwd/xxxxxxx", "a+b" * 8, "é" * 20])
def test_malformed_upload_ids_are_400(service, store, upload_id):
    body = tar_of({"week01.ipynb": NB})
    answer = raw_request(service.port, head(len(body), extra=f"X-Gradehub-Upload-Id: {upload_id}\r\n"), [body])
    assert status_of(answer) == 400 and folders(store) == []
    assert wait_for(lambda: staging_left(store) == [])


def test_the_client_reports_a_submission_stored_when_only_the_answer_was_lost(tmp_path, monkeypatch):
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.abc.exchange import ExchangeError

    from gradehub.hub.exchange.client import HubExchangeSubmit

    (tmp_path / "week01").mkdir()
    (tmp_path / "week01" / "week01.ipynb").write_bytes(NB)
    stored: dict[str, str] = {}

    def make(answer_lost: bool, really_stored: bool):
        sub = HubExchangeSubmit(coursedir=CourseDirectory(course_id="nat3008", assignment_id="week01"),
                                url="http://exchange.invalid/", token="t")
        sub.assignment_dir = str(tmp_path)

        def call(method, path, body=None, headers=None):
            if method == "GET" and path == "/api/assignments":
                return {"assignments": [{"assignment_id": "week01", "notebooks": ["week01"]}], "limits": {}}
            if method == "POST":
                names = tarfile.open(fileobj=body, mode="r:").getnames()
                assert names == ["week01.ipynb"] and headers["Content-Type"] == "application/x-tar"
                if really_stored:
                    stored["receipt"] = receipt_of(headers["X-Gradehub-Upload-Id"])
                if answer_lost:
                    sub.fail("the exchange at x does not answer: timed out")
                return {"timestamp": "2026-12-01 10:00:00.000000 UTC"}
            if method == "GET" and path.startswith("/api/submissions"):
                listed = [{"timestamp": "2026-12-01 10:00:00.000000 UTC", "receipt": stored["receipt"]}] if stored else []
                return {"submissions": listed}
            raise AssertionError((method, path))

        monkeypatch.setattr(sub, "call", call)
        return sub

    assert make(answer_lost=True, really_stored=True).start()["timestamp"] == "2026-12-01 10:00:00.000000 UTC"
    stored.clear()
    with pytest.raises(ExchangeError) as err:
        make(answer_lost=True, really_stored=False).start()
    assert "was not stored" in str(err.value)


# --------------------------------------------------------------------------- the index


def on_disk(store) -> set:
    return {describe_folder(p, RESERVED_NAMES) for p in folders(store)}


def indexed(store) -> set:
    return {s for who in ("alice", "bob", "carol") for s in store.index.of(who)}


def test_the_index_matches_the_folders_and_answers_without_listing_inbound(store, monkeypatch):
    for who in ("alice", "bob", "alice", "carol"):
        store.submit(who, "week01", {"week01.ipynb": NB, "data/x.csv": b"1,2\n"})
    assert indexed(store) == on_disk(store) and len(on_disk(store)) == 4
    assert [s.size for s in store.index.of("bob")] == [len(NB) + 4]
    rebuilds = store.index.rebuilds

    import os
    scandir, iterdir = os.scandir, Path.iterdir

    def no_listing(path=".", *args):
        if Path(path) == store.inbound:
            raise AssertionError("inbound/ was listed")
        return scandir(path, *args)

    def no_iterdir(self):
        if self == store.inbound:
            raise AssertionError("inbound/ was listed")
        return iterdir(self)

    # the panel's refresh and the quota read the student's own rows, not everyone's folders
    monkeypatch.setattr("os.scandir", no_listing)
    monkeypatch.setattr(Path, "iterdir", no_iterdir)
    assert [s["assignment_id"] for s in store.submissions("alice")] == ["week01", "week01"]
    store.submit("alice", "week01", {"week01.ipynb": NB})
    assert len(store.submissions("alice")) == 3 and store.index.rebuilds == rebuilds


def test_the_index_is_rebuilt_when_missing_or_corrupt(store):
    store.submit("alice", "week01", {"week01.ipynb": NB})
    store.submit("bob", "week01", {"week01.ipynb": NB})
    store.index.close()
    store.index.path.unlink()
    assert len(store.submissions("alice")) == 1 and indexed(store) == on_disk(store)
    store.index.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store.index.path}{suffix}").unlink(missing_ok=True)
    store.index.path.write_bytes(b"this is not a database" * 100)
    assert len(store.submissions("bob")) == 1 and indexed(store) == on_disk(store)


def test_the_index_follows_changes_made_behind_the_service(store):
    import shutil

    from gradehub.exchange import submit  # nbgrader's file layout, written directly
    store.submit("alice", "week01", {"week01.ipynb": NB})
    assert len(store.submissions("alice")) == 1
    # an instructor removes a folder; another tool adds one
    shutil.rmtree(folders(store)[0])
    assert store.submissions("alice") == []
    d = store.inbound / "alice+week01+2026-12-01 10:00:00.000000 UTC+handmade"
    d.mkdir()
    (d / "week01.ipynb").write_bytes(NB)
    (d / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
    assert [s["timestamp"] for s in store.submissions("alice")] == ["2026-12-01 10:00:00.000000 UTC"]
    assert indexed(store) == on_disk(store)
    assert callable(submit)


def test_odd_folders_in_inbound_are_not_submissions(store):
    (store.inbound / "no-plus-signs").mkdir()
    (store.inbound / "alice+week01").mkdir()                    # too few parts
    (store.inbound / "alice+week01+stamp+x.txt").write_text("a file, not a folder")
    (store.inbound / "alice+week01+2026-12-01 10:00:00.000000 UTC+link").symlink_to(store.outbound / "week01")
    assert store.submissions("alice") == []


def test_concurrent_submits_of_one_student_cannot_pass_the_count_limit(store, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from gradehub.course import ExchangeLimits
    store.limits = lambda: ExchangeLimits(max_submissions=3, rate_count=100)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: _try(store), range(8)))
    assert results.count("ok") == 3 and len(folders(store)) == 3
    assert all(r in ("ok", 429) for r in results)


def _try(store):
    try:
        store.submit("alice", "week01", {"week01.ipynb": NB})
        return "ok"
    except ExchangeRejected as exc:
        return exc.status


# --------------------------------------------------------------------------- hostile archives


def _info(name: str, kind: bytes, **attrs) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for k, v in attrs.items():
        setattr(info, k, v)
    return info


@pytest.mark.parametrize("archive, status, fragment", [
    (lambda: tar_bytes([file_member("week01.ipynb", NB), (_info("evil", tarfile.SYMTYPE, linkname="/etc/passwd"), None)]),
     400, "not a plain file"),
    (lambda: tar_bytes([file_member("week01.ipynb", NB), (_info("hard", tarfile.LNKTYPE, linkname="week01.ipynb"), None)]),
     400, "not a plain file"),
    (lambda: tar_bytes([file_member("week01.ipynb", NB), (_info("dev", tarfile.CHRTYPE, devmajor=1, devminor=3), None)]),
     400, "not a plain file"),
    (lambda: tar_bytes([file_member("week01.ipynb", NB), (_info("fifo", tarfile.FIFOTYPE), None)]), 400, "not a plain file"),
    (lambda: tar_of({"../escape.ipynb": NB}), 400, "invalid file name"),
    (lambda: tar_of({"/etc/cron.d/x.ipynb": NB}), 400, "invalid file name"),
    (lambda: tar_of({"./week01.ipynb": NB}), 400, "invalid file name"),
    (lambda: tar_of({".ipynb_checkpoints/week01.ipynb": NB}), 400, "not submitted"),
    (lambda: tar_bytes([file_member("week01.ipynb", NB), file_member("week01.ipynb", NB)]), 400, "sent twice"),
    (lambda: tar_of({"a.ipynb": NB, "a.ipynb/b": b"x"}), 400, "both as a file and as a folder"),
    (lambda: tar_of({f"{i}.ipynb": NB for i in range(21)}), 413, "at most 20"),
    (lambda: tar_bytes([(_info(f"d{i}", tarfile.DIRTYPE), None) for i in range(60)]), 413, "at most 20"),
    (lambda: tar_bytes([file_member("week01.ipynb", NB)], mode="w:gz"), 400, "not an uncompressed tar"),
    (lambda: b"\0" * 1024 + b"garbage", 400, "at least one file"),
    (lambda: b"PK\x03\x04 a zip file", 400, "not an uncompressed tar"),
])
def test_hostile_archives_are_refused_and_leave_nothing(store, archive, status, fragment, tmp_path):
    body = tmp_path / "body"
    body.write_bytes(archive())
    with pytest.raises(ExchangeRejected) as err:
        receive(store, "alice", "week01", body, "tar")
    assert err.value.status == status and fragment in str(err.value), str(err.value)
    assert folders(store) == [] and staging_left(store) == []


def test_a_member_larger_than_the_cap_is_stopped_while_it_is_read(store, tmp_path):
    store.max_upload = 2**20
    body = tmp_path / "body"
    body.write_bytes(tar_of({"week01.ipynb": NB, "big.bin": b"x" * (3 * 2**20)}))
    with pytest.raises(ExchangeRejected) as err:
        receive(store, "alice", "week01", body, "tar")
    assert err.value.status == 413 and folders(store) == [] and staging_left(store) == []


def test_a_sparse_member_is_refused(tmp_path):
    # a GNU sparse header: a few bytes in the archive that would expand to gigabytes on disk
    info = tarfile.TarInfo("huge.bin")
    info.type = tarfile.GNUTYPE_SPARSE
    info.size = 0
    body = tmp_path / "body"
    body.write_bytes(tar_bytes([file_member("week01.ipynb", NB)]))
    raw = bytearray(tar_bytes([(info, None)]))
    body.write_bytes(raw)
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(ExchangeRejected) as err:
        extract_tar(body, staging, cap=2**20, max_files=5)
    assert err.value.status == 400 and list(staging.iterdir()) == []


def test_names_the_service_writes_itself_are_ignored_in_an_archive(store, tmp_path):
    body = tmp_path / "body"
    body.write_bytes(tar_of({"week01.ipynb": NB, "timestamp.txt": b"2000-01-01 00:00:00.000000 UTC",
                             "submission_secret.txt": b"chosen by the student"}))
    result = receive(store, "alice", "week01", body, "tar")
    [folder] = folders(store)
    assert (folder / "timestamp.txt").read_text() == result["timestamp"] != "2000-01-01 00:00:00.000000 UTC"
    assert (folder / "submission_secret.txt").read_text() != "chosen by the student"
    assert folder.name.split("+")[2] == result["timestamp"]
