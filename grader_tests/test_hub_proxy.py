"""The hub's proxy (gradehub.hub.proxy) relays a WebSocket as JupyterLab's kernel connection needs.

A real proxy process and a Tornado WebSocket server behind it (standing in for a student's
Jupyter Server): the browser's subprotocol offer reaches the server, the server's choice comes
back in the handshake (without it Chromium fails the connection: "Sent non-empty
'Sec-WebSocket-Protocol' header but no response was received"), binary frames stay binary
both ways, and a server cannot make the proxy answer a subprotocol the browser never offered.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from hubtools import REPO, free_port

pytest.importorskip("configurable_http_proxy")

V1 = "v1.kernel.websocket.jupyter.org"
TOKEN = "proxy-test-token"


@pytest.fixture(scope="module")
def proxy():
    port, api_port = free_port(), free_port()
    env = {**os.environ, "CONFIGPROXY_AUTH_TOKEN": TOKEN, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "gradehub.hub.proxy", "--ip", "127.0.0.1", "--port", str(port),
                             "--api-ip", "127.0.0.1", "--api-port", str(api_port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    import requests
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"http://127.0.0.1:{api_port}/api/routes", headers={"Authorization": f"token {TOKEN}"},
                         timeout=2)
            break
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(proc.stdout.read().decode(errors="replace")) from None
            time.sleep(0.2)
    try:
        yield port, api_port
    finally:
        proc.terminate()
        proc.wait(10)


def _add_route(api_port: int, prefix: str, target: str) -> None:
    import requests
    r = requests.post(f"http://127.0.0.1:{api_port}/api/routes{prefix}", data=json.dumps({"target": target}),
                      headers={"Authorization": f"token {TOKEN}"}, timeout=10)
    assert r.status_code == 201, r.text


async def _through_proxy(proxy, server_choice, offered):
    """Run a WebSocket server that picks ``server_choice(offered)`` and echoes frames with their
    type; connect through the proxy offering ``offered``. Returns what the client saw."""
    import tornado.web
    import tornado.websocket
    from tornado.httpclient import HTTPRequest

    seen: dict = {}

    class Echo(tornado.websocket.WebSocketHandler):
        def select_subprotocol(self, subprotocols):
            seen["offered_to_server"] = list(subprotocols)
            return server_choice(subprotocols)

        def on_message(self, message):
            self.write_message(message, binary=isinstance(message, bytes))

    backend_port = free_port()
    prefix = f"/user/x{backend_port}"   # the proxy keeps the prefix, as for the hub's routes
    app = tornado.web.Application([(prefix + "/ws", Echo)])
    server = app.listen(backend_port, "127.0.0.1")
    port, api_port = proxy
    _add_route(api_port, prefix, f"http://127.0.0.1:{backend_port}")
    try:
        headers = {"Sec-WebSocket-Protocol": ", ".join(offered)} if offered else {}
        request = HTTPRequest(f"ws://127.0.0.1:{port}{prefix}/ws", headers=headers)
        client = await asyncio.wait_for(tornado.websocket.websocket_connect(request), 10)
        seen["selected"] = client.selected_subprotocol
        await client.write_message(b"\x00\xff binary \x80", binary=True)
        seen["binary_echo"] = await asyncio.wait_for(client.read_message(), 10)
        await client.write_message("text")
        seen["text_echo"] = await asyncio.wait_for(client.read_message(), 10)
        client.close()
    finally:
        server.stop()
    return seen


def test_the_servers_subprotocol_reaches_the_browser_and_binary_frames_stay_binary(proxy):
    seen = asyncio.run(_through_proxy(proxy, lambda offered: V1 if V1 in offered else None, [V1]))
    assert seen["offered_to_server"] == [V1]
    assert seen["selected"] == V1                      # the handshake answers what the server chose
    assert seen["binary_echo"] == b"\x00\xff binary \x80"  # bytes in, bytes out (was a text frame)
    assert seen["text_echo"] == "text"


def test_no_subprotocol_when_the_server_picks_none(proxy):
    seen = asyncio.run(_through_proxy(proxy, lambda offered: None, [V1]))
    assert seen["selected"] is None
    seen = asyncio.run(_through_proxy(proxy, lambda offered: None, []))
    assert seen["selected"] is None and seen["text_echo"] == "text"


def test_a_server_cannot_make_the_proxy_answer_a_subprotocol_the_browser_did_not_offer(proxy):
    # the server behind a route is a student's: whatever it answers, the browser's handshake
    # only ever carries one of the browser's own offers
    async def run():
        try:
            return await _through_proxy(proxy, lambda offered: "evil.example", [V1])
        except Exception as exc:  # noqa: BLE001 - the proxy's own client may refuse the server's answer
            return {"refused": type(exc).__name__}
    seen = asyncio.run(run())
    assert seen.get("selected") in (None,), seen
