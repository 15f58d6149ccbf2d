"""JupyterHub's login for the embedded hub: passwords from the course's ``accounts.json``
(written by ``gradehub hub``, see :func:`gradehub.hub.accounts.ensure_accounts`)."""

from __future__ import annotations

from pathlib import Path

from jupyterhub.auth import Authenticator
from traitlets import Unicode

from .accounts import check_password, read_accounts


class CoursePasswordAuthenticator(Authenticator):
    """Passwords from the course's ``accounts.json`` (written by ``gradehub hub``)."""

    accounts_file = Unicode(config=True, help="JSON: {username: {hash, role}}")

    def _accounts(self) -> dict[str, dict[str, str]]:
        try:
            return read_accounts(Path(self.accounts_file))
        except (OSError, ValueError):
            self.log.error("cannot read the accounts file %s", self.accounts_file)
            return {}

    async def authenticate(self, handler, data):
        name = self.normalize_username((data or {}).get("username", ""))
        entry = self._accounts().get(name)
        if entry and check_password((data or {}).get("password", ""), entry["hash"]):
            return name
        self.log.warning("failed login for %r", name)
        return None

    def check_allowed(self, username, authentication=None):
        # accounts added by `gradehub hub sync-roster` may log in without a restart
        return username in self._accounts() or super().check_allowed(username, authentication)
