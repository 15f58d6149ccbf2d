"""JupyterHub's login for the embedded hub: passwords from the course's ``accounts.json``
(written by ``gradehub hub``, see :func:`gradehub.hub.accounts.ensure_accounts`).

A password check is a PBKDF2 hash of 200,000 rounds, ~55 ms of CPU. JupyterHub awaits
``authenticate`` on its one event loop, so a check run there stops the whole hub for that long:
120 logins at once took p95 6.9 s, and every other page and API call waited with them. Here the
check runs in a small thread pool (``hashlib.pbkdf2_hmac`` releases the GIL, so checks run on
every core) and the loop goes on serving meanwhile. The accounts file is read again only when
it changes (``gradehub hub sync-roster`` adds accounts while the hub runs).
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jupyterhub.auth import Authenticator
from traitlets import Integer, Unicode, default

from .accounts import check_password, read_accounts


class CoursePasswordAuthenticator(Authenticator):
    """Passwords from the course's ``accounts.json`` (written by ``gradehub hub``)."""

    accounts_file = Unicode(config=True, help="JSON: {username: {hash, role}}")
    check_threads = Integer(
        config=True, help="password checks at once, off the event loop (default: the machine's cores)"
    )

    @default("check_threads")
    def _check_threads_default(self) -> int:
        return max(2, os.cpu_count() or 1)

    _pool: ThreadPoolExecutor | None = None
    _cache: tuple[tuple[int, int] | None, dict[str, dict[str, str]]] = (None, {})
    _cache_lock = threading.Lock()

    def _accounts(self) -> dict[str, dict[str, str]]:
        path = Path(self.accounts_file)
        try:
            st = path.stat()
            key = (st.st_mtime_ns, st.st_size)
        except OSError:
            key = None
        with self._cache_lock:
            if key is not None and self._cache[0] == key:
                return self._cache[1]
            try:
                accounts = read_accounts(path)
            except (OSError, ValueError):
                self.log.error("cannot read the accounts file %s", self.accounts_file)
                return {}
            self._cache = (key, accounts)
            return accounts

    def _checker(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.check_threads, thread_name_prefix="password-check")
        return self._pool

    async def authenticate(self, handler, data):
        name = self.normalize_username((data or {}).get("username", ""))
        entry = self._accounts().get(name)
        password = (data or {}).get("password", "")
        if entry:
            loop = asyncio.get_running_loop()
            if await loop.run_in_executor(self._checker(), check_password, password, entry["hash"]):
                return name
        self.log.warning("failed login for %r", name)
        return None

    def check_allowed(self, username, authentication=None):
        # accounts added by `gradehub hub sync-roster` may log in without a restart
        return username in self._accounts() or super().check_allowed(username, authentication)
