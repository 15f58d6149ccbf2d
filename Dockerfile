# gradehub/hub: the course's JupyterHub. JupyterHub 6, DockerSpawner, jupyterhub-idle-culler,
# configurable-http-proxy (the pure-Python one), nbgrader (the formgrader service), the
# PostgreSQL driver and gradehub (its hub configuration and the exchange service).
#
#   docker compose build hub                       production: FROM python:3.11-slim, PyPI
#   docker build -t gradehub/hub .                 the same by hand
#
# Offline (CI): FROM a stand-in base (plain Debian bookworm made with debootstrap + docker
# import, python3 and python3-venv included), pip only from a wheelhouse on the host served on
# 127.0.0.1 for the build (`--network host`), as images/notebook does:
#
#   docker build --network host --build-arg BASE_IMAGE=gradehub/standin-bookworm:latest \
#       --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=http://127.0.0.1:PORT/ -t gradehub/hub .
#
# (grader_tests/test_hub_docker.py does exactly that; .ci/hub-setup.sh fills the wheelhouse.)
# The build context is the repository: only hub/, gradehub/ and pyproject.toml are copied.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

USER root
SHELL ["/bin/sh", "-eu", "-c"]

# A venv for everything; the stand-in base has python3 + python3-venv, slim images have both.
RUN if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then \
        apt-get update; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv; \
        rm -rf /var/lib/apt/lists/* /var/cache/apt/*; \
    fi; \
    python3 -m venv /opt/gradehub
ENV PATH=/opt/gradehub/bin:${PATH} \
    PYTHONUNBUFFERED=1

# Empty in production (PyPI); the offline build points pip at the host's wheelhouse.
# Build args are visible to RUN as environment variables, which pip reads; none stays in the image.
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
ARG PIP_ROOT_USER_ACTION=ignore
COPY hub/requirements.txt /tmp/gradehub-build/requirements.txt
RUN pip install --no-cache-dir --disable-pip-version-check -r /tmp/gradehub-build/requirements.txt

# gradehub from this checkout (its dependencies are already in from hub/requirements.txt)
COPY pyproject.toml /tmp/gradehub-build/src/pyproject.toml
COPY gradehub /tmp/gradehub-build/src/gradehub
RUN cd /tmp/gradehub-build/src; \
    find . -name __pycache__ -prune -exec rm -rf {} +; \
    test -f README.md || echo "gradehub" > README.md; \
    pip install --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation .; \
    cd /; rm -rf /tmp/gradehub-build /root/.cache; \
    python3 -c 'import gradehub.hub.app, gradehub.hub.exchange.service, gradehub.hub.spawners, gradehub.hub.auth, jupyterhub, dockerspawner, jupyterhub_idle_culler, psycopg2, nbgrader'; \
    configurable-http-proxy --version

COPY hub /srv/gradehub/hub
# the course repository is mounted here; its hub/settings.toml (if any) applies, then the
# GRADEHUB_HUB__* environment (docker-compose.yml, .env)
ENV GRADEHUB_COURSE_ROOT=/srv/course
WORKDIR /srv/course
# 8000: the hub (through its proxy); 10101: the exchange service, for the servers' network only
EXPOSE 8000 10101
CMD ["gradehub", "hub", "--ip", "0.0.0.0", "--port", "8000"]
