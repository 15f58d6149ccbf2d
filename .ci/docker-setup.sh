#!/usr/bin/env bash
# Make a fresh Debian 12 CI machine (root) ready for the docker sandbox tests:
#   1. install the Docker engine (docker.io), debootstrap and, unless `docker compose` (v2)
#      answers, Debian's docker-compose 1.29 (grader_tests/test_compose.py brings the stack up),
#   2. start dockerd in the background unless an engine already answers (wait <= 60 s),
#   3. build gradehub/notebook and gradehub/grader offline (stand-in base + host wheelhouse).
# Idempotent: a second run finds everything in place and only rebuilds what changed
# (the stand-in base and the wheelhouse are cached; docker's layer cache does the rest).
# Budget: ~1 min for apt, ~1 min for debootstrap, 3-5 min for the images on 2 cores.
set -euo pipefail

cd "$(dirname "$0")/.."
GRADEHUB="${GRADEHUB:-.venv/bin/gradehub}"
DOCKERD_LOG="${DOCKERD_LOG:-/tmp/dockerd.log}"

if [ "$(id -u)" -ne 0 ]; then
    echo "docker-setup: run as root (installs packages, starts dockerd, runs debootstrap)" >&2
    exit 2
fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
    need+=(docker-compose)
fi
if [ "${#need[@]}" -gt 0 ]; then
    echo "docker-setup: apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
    echo "docker-setup: a Docker engine already answers"
else
    echo "docker-setup: starting dockerd (log: $DOCKERD_LOG)"
    # No bridge and no iptables: every gradehub container runs with --network none, and
    # image builds use --network host.
    nohup dockerd --bridge=none --iptables=false >"$DOCKERD_LOG" 2>&1 &
    for _ in $(seq 1 60); do
        if docker info >/dev/null 2>&1; then
            break
        fi
        sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
        echo "docker-setup: dockerd did not answer within 60 s; last lines of $DOCKERD_LOG:" >&2
        tail -n 20 "$DOCKERD_LOG" >&2 || true
        exit 1
    fi
    echo "docker-setup: dockerd is up"
fi

"$GRADEHUB" images build --offline
docker image ls --filter reference='gradehub/*'
