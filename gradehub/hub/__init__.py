"""The course's JupyterHub: students' servers, the exchange, the formgrader, accounts and roles.

=====================  ======================================================================
module                 one job
=====================  ======================================================================
``settings``           ``hub/settings.toml`` + ``GRADEHUB_HUB__*`` → :class:`HubSettings`
``accounts``           who may log in (roster, ``[tutors]``, instructors), groups, passwords
``auth``               the password login (JupyterHub Authenticator)
``config``             pure ``apply_config(c, course, settings, runtime, roster=...)``
``runtime``            ``prepare_runtime``: state folder, admin token, ports (the one step
                       that touches the machine before the config is built)
``app``                ``gradehub hub``: the ensure_* steps of a start, then JupyterHub
``roster``             ``gradehub hub sync-roster`` on a running hub
``spawners``           local processes (``isolation``: OS users as root) and Docker
``singleuser``         the command of every server and of the formgrader service
``labserver``          students' servers: the deadlines for the lab (from the grades service)
``labextension``       the prebuilt JupyterLab extension ``@gradehub/lab`` (sources: ``lab/``)
``proxy``              configurable-http-proxy relaying WebSocket subprotocols, binary frames
``formgrader``         nbgrader's formgrader made safe for students' submissions
``releases``           the formgrader's release/unrelease, remembered across starts
``exchange``           ``store`` / ``service`` (a hub service) / ``client`` (in the servers)
=====================  ======================================================================

Importing this package imports only the standard library: ``gradehub.hub.singleuser`` and
``gradehub.hub.exchange.client`` run in the notebook image, where gradehub is installed without
its dependencies. The three names below are what Zero-to-JupyterHub values deployed with
earlier versions import from ``gradehub.hub`` (``hub.extraConfig``).
"""

from .config import apply_config
from .settings import load_settings, settings_path

__all__ = ["apply_config", "load_settings", "settings_path"]
