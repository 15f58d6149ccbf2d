"""The hub's proxy: the pure-Python configurable-http-proxy with WebSockets relayed faithfully.

``python -m gradehub.hub.proxy [ARGS]`` is ``configurable-http-proxy [ARGS]`` (the PyPI package,
0.4) with one handler replaced. The package's handler relays a WebSocket in two ways that break
JupyterLab's kernel connection:

* **The subprotocol is never answered.** The browser offers ``v1.kernel.websocket.jupyter.org``;
  the proxy forwards the offer to the server (it copies every request header), but answers the
  browser's handshake without a ``Sec-WebSocket-Protocol`` header, whatever the server chose.
  Chromium then fails the connection ("Sent non-empty 'Sec-WebSocket-Protocol' header but no
  response was received", an error in the console for every notebook opened) and JupyterLab
  reconnects without a subprotocol.
* **Binary frames go out as text frames** towards the server (``write_message`` without
  ``binary=``): the v1 kernel protocol is binary, so a cell would never run.

:class:`SubprotocolProxyHandler` answers the browser with the subprotocol the server selected
(only one the browser offered: the server behind a route is a student's, and the handshake must
stay valid) and relays binary frames as binary, in both directions. With it the kernel
WebSocket works with Jupyter Server's default (binary v1) protocol.
"""

from __future__ import annotations

import sys
from typing import Any

from configurable_http_proxy import cli, configproxy
from configurable_http_proxy.handlers import ProxyHandler


class SubprotocolProxyHandler(ProxyHandler):
    """configurable-http-proxy's handler, relaying the WebSocket subprotocol and binary frames."""

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        # ProxyHandler.get connects to the server before it accepts the browser's handshake, so
        # the server's choice is known here.
        chosen = self.ws_client.selected_subprotocol if self.ws_client is not None else None
        return chosen if chosen in subprotocols else None

    def on_message(self, message: str | bytes) -> Any:
        if self.ws_client is None:
            return None
        prefix = self.target["prefix"] if self.target else ""
        if prefix:
            self.proxy.update_last_activity(prefix)
        return self.ws_client.write_message(message, binary=isinstance(message, bytes))


def install() -> None:
    """Make every ``PythonProxy`` created from now on route through :class:`SubprotocolProxyHandler`."""
    configproxy.ProxyHandler = SubprotocolProxyHandler


def main(argv: list[str] | None = None) -> None:
    install()
    cli.main.main(args=list(sys.argv[1:] if argv is None else argv), prog_name="configurable-http-proxy")


if __name__ == "__main__":
    main()
