"""A Jupyter Server extension of students' servers: the student's deadlines for JupyterLab.

``GET <server>/gradehub/api/me`` answers with the grades service's ``/api/me`` (the shape is
documented in :mod:`gradehub.hub.grades.service`) for the server's owner: the server asks the
service at ``$GRADEHUB_GRADES_URL`` with its own ``$JUPYTERHUB_API_TOKEN`` (server tokens may use
the grades service, :func:`gradehub.hub.config.server_token_scopes`), so the lab needs no login to
the service and no cookie of another path. ``@gradehub/lab`` (:mod:`gradehub.hub.labextension`)
shows each sheet's deadline, extension and late penalty from it.

The deadlines are an addition to the Assignment List, never a condition of it: when the service
cannot tell (no service configured, the account is no student of the course, the service does
not answer) the answer is still a 200, ``{"assignments": [], "unavailable": "<why>"}``, and the
reason is logged here, so that a tutor's or an instructor's lab shows no error in the browser.

Runs in the notebook image: it imports only the standard library, tornado and jupyter_server.
"""

from __future__ import annotations

import json
import os
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

ROUTE = "gradehub/api/me"
TIMEOUT_S = 20.0


class MeHandler(APIHandler):
    """The server owner's results from the grades service, asked with the server's token."""

    @web.authenticated
    async def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "application/json; charset=utf-8")
        data = await fetch_me(os.environ.get("GRADEHUB_GRADES_URL", ""), os.environ.get("JUPYTERHUB_API_TOKEN", ""))
        if "unavailable" in data:
            self.log.info("gradehub: no deadlines for the lab: %s", data["unavailable"])
        self.finish(json.dumps(data))


async def fetch_me(service_url: str, token: str) -> dict[str, Any]:
    """``/api/me`` of the grades service at ``service_url`` for the owner of ``token``."""
    if not service_url or not token:
        return {"assignments": [], "unavailable": "no grades service is configured for this server"}
    request = HTTPRequest(
        url_path_join(service_url, "api", "me"),
        headers={"Authorization": f"token {token}", "Accept": "application/json"},
        request_timeout=TIMEOUT_S,
        follow_redirects=False,
    )
    try:
        response = await AsyncHTTPClient().fetch(request)
    except HTTPClientError as exc:
        return {"assignments": [], "unavailable": f"the grades service answered {exc.code}"}
    except OSError as exc:
        return {"assignments": [], "unavailable": f"the grades service does not answer ({exc})"}
    try:
        data = json.loads(response.body)
    except ValueError:
        return {"assignments": [], "unavailable": "the grades service answered no JSON"}
    if not isinstance(data, dict) or not isinstance(data.get("assignments"), list):
        return {"assignments": [], "unavailable": "the grades service answered something else than /api/me"}
    return data


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "gradehub.hub.labserver"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    web_app = serverapp.web_app
    route = url_path_join(web_app.settings["base_url"], ROUTE)
    web_app.add_handlers(".*$", [(route, MeHandler)])
