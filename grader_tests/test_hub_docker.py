"""With a Docker engine: the hub image builds offline, and the hub spawns a student server from
the notebook image through DockerSpawner (host network, a free port on 127.0.0.1).

Skips, naming what is missing, without an engine, the stand-in base image
(``gradehub images build --offline``), the notebook image, or the hub wheelhouse
(``.ci/hub-setup.sh``). In CI all of them are there.
"""

from __future__ import annotations

import secrets
import time

import pytest

from hubtools import (REPO, Hub, api_token, docker_client, free_port, hub_available, login, make_course, need_singleuser,
                      servers, start_server)

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1800)]

NOTEBOOK = "gradehub/notebook:latest"
STANDIN = "gradehub/standin-bookworm:latest"
WHEELHOUSE = REPO / ".gradehub" / "wheels-hub"


def _need_image(client, tag, how):
    import docker.errors
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        pytest.skip(f"image {tag} is missing: {how}")


def _need_wheels():
    if not any(WHEELHOUSE.glob("jupyterhub-*.whl")):
        pytest.skip(f"the hub wheelhouse {WHEELHOUSE} is empty: run .ci/hub-setup.sh "
                    "(or python -m gradehub.hub.image wheels)")


@pytest.fixture(scope="module")
def client():
    return docker_client()


def test_hub_image_builds_offline_and_runs(client):
    _need_image(client, STANDIN, "gradehub images build --offline")
    _need_wheels()
    from gradehub.hub.image import build_hub_image
    lines = []
    tag = "gradehub/hub:test"
    started = time.monotonic()
    image_id = build_hub_image(tag=tag, base_image=STANDIN, wheelhouse=WHEELHOUSE, log=lines.append)
    assert image_id.startswith("sha256:"), "\n".join(lines[-30:])
    print(f"hub image built in {time.monotonic() - started:.0f} s")
    out = client.containers.run(
        tag, ["sh", "-c", "gradehub hub --help >/dev/null && jupyterhub --version && configurable-http-proxy --version"
              " && python3 -c 'import dockerspawner, jupyterhub_idle_culler, psycopg2, gradehub.hub.exchange.service'"
              " && test -f /srv/gradehub/hub/settings.toml && echo ok"],
        remove=True, network_mode="none")
    text = out.decode()
    assert text.strip().endswith("ok"), text
    assert text.splitlines()[0].startswith("6."), text
    config = client.images.get(tag).attrs["Config"]
    assert config["Cmd"] == ["gradehub", "hub", "--ip", "0.0.0.0", "--port", "8000"]
    assert "8000/tcp" in config["ExposedPorts"]


def test_hub_spawns_a_student_server_from_the_notebook_image(client, tmp_path):
    why = hub_available()
    if why:
        pytest.skip(why)
    _need_image(client, NOTEBOOK, "gradehub images build --offline (images/notebook)")
    need_singleuser(client, NOTEBOOK)
    image = NOTEBOOK

    volume = f"gradehub-test-{secrets.token_hex(4)}-{{username}}"
    root = make_course(tmp_path / "course")
    hub = Hub(root, free_port(), env={
        "GRADEHUB_HUB__HUB__MODE": "docker",
        "GRADEHUB_HUB__SPAWNER__IMAGE": image,
        "GRADEHUB_HUB__SPAWNER__NETWORK_NAME": "host",
        "GRADEHUB_HUB__SPAWNER__HOME_VOLUME": volume,
        "GRADEHUB_HUB__SPAWNER__MEM_LIMIT": "1GiB",
        "GRADEHUB_HUB__SPAWNER__CPU_LIMIT": "1.0",
        "GRADEHUB_HUB__SPAWNER__OFFER_PROFILES": "no",
        "GRADEHUB_HUB__SPAWNER__START_TIMEOUT": "300",
        "GRADEHUB_HUB__SPAWNER__HTTP_TIMEOUT": "300",
        "GRADEHUB_HUB__CULLER__ENABLED": "false",
        "GRADEHUB_HUB__FORMGRADER__ENABLED": "false",
    })
    container = None
    try:
        hub.wait_ready()
        import requests
        session = login(hub.url, "demo-student", hub.passwords()["demo-student"])
        token = api_token(session, hub.url, "demo-student")
        start_server(hub.url, "demo-student", token, timeout=400)
        [container] = servers(client, image)
        attrs = container.attrs
        assert attrs["Config"]["Image"] == image
        assert attrs["HostConfig"]["Memory"] == 2**30
        assert attrs["HostConfig"]["NanoCpus"] == 10**9 or attrs["HostConfig"]["CpuQuota"] == 100000
        assert attrs["HostConfig"]["NetworkMode"] == "host"
        mounts = {m["Destination"]: m for m in attrs["Mounts"]}
        # a named volume per user (DockerSpawner escapes the name: demo-student -> demo-2dstudent)
        assert mounts["/home/jovyan"]["Type"] == "volume"
        assert mounts["/home/jovyan"]["Name"].startswith(volume.split("{")[0] + "demo-")
        assert not any("exchange" in m.get("Source", "") for m in attrs["Mounts"])   # no exchange files inside
        assert attrs["Config"]["User"] in ("1000", "jovyan", "")
        h = {"Authorization": f"token {token}"}
        status = requests.get(hub.url + "user/demo-student/api/status", headers=h, timeout=60)
        assert status.status_code == 200, status.text
        # the container's nbgrader reaches the exchange service and sees the released sheet
        listing = requests.get(hub.url + "user/demo-student/assignments", params={"course_id": "nat3008"},
                               headers=h, timeout=120).json()
        assert listing["success"], listing
        assert "week01" in [a["assignment_id"] for a in listing["value"]]
        r = requests.delete(hub.url + "hub/api/users/demo-student/server", headers=h, timeout=120)
        assert r.status_code in (202, 204)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and servers(client, image):
            time.sleep(1)
        assert not servers(client, image)   # removed, volume kept
    except Exception:
        if container is not None:
            try:
                print(container.logs(tail=80).decode(errors="replace"))
            except Exception:  # noqa: BLE001
                pass
        print(hub.log(120))
        raise
    finally:
        hub.stop()
        for c in servers(client, image):
            c.remove(force=True)
        for v in client.volumes.list():
            if v.name.startswith(volume.split("{")[0]):
                v.remove(force=True)
