#!/usr/bin/env bash
# What the hub tests need (grader_tests/test_hub_*.py); idempotent, safe to run twice.
#   - Debian's chromium + chromium-driver (the browser test drives them with Playwright's
#     Python package; `playwright install` is never run: no browser download)
#   - the `hub` and `dev` extras (JupyterHub 6, DockerSpawner, idle culler, the pure-Python
#     configurable-http-proxy, playwright, locust for the deadline load test)
#   - with a Docker engine: the wheelhouse for the offline hub image build (.gradehub/wheels-hub)
#     and the PostgreSQL stand-in of docker-compose.offline.yml (apt inside the build, ~1 min)
# Usage: bash .ci/hub-setup.sh   (PYTHON=/path/to/venv/python to use another interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
if [ ! -x "$PYTHON" ]; then
    echo "hub-setup: $PYTHON not found (create the venv first, or set PYTHON)" >&2
    exit 1
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "hub-setup: installing chromium and chromium-driver"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver
fi

if ! "$PYTHON" -c 'import jupyterhub, dockerspawner, jupyterhub_idle_culler, configurable_http_proxy, playwright, psutil, nh3, jupyter_server_mathjax, locust' 2>/dev/null; then
    echo "hub-setup: installing the hub and dev extras"
    "$PYTHON" -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[hub,dev]'
fi

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    if ! ls .gradehub/wheels-hub/jupyterhub-*.whl >/dev/null 2>&1; then
        echo "hub-setup: downloading the hub image's wheels (offline build)"
        "$PYTHON" -m gradehub.hub.image wheels
    fi
    if docker image inspect gradehub/standin-bookworm:latest >/dev/null 2>&1 \
            && ! docker image inspect gradehub/postgres-standin:15 >/dev/null 2>&1; then
        echo "hub-setup: building gradehub/postgres-standin:15 (docker-compose.offline.yml)"
        started=$(date +%s)
        docker build -q --network host -t gradehub/postgres-standin:15 images/postgres-standin
        echo "hub-setup: gradehub/postgres-standin:15 built in $(( $(date +%s) - started )) s"
    fi
else
    echo "hub-setup: no Docker engine answers; the docker hub tests will skip"
fi
echo "hub-setup: done"
