"""Build the hub image (``./Dockerfile``) offline, and a hub-ready notebook image if needed.

``python -m gradehub.hub.image wheels``  fill the hub wheelhouse (``.gradehub/wheels-hub``)
``python -m gradehub.hub.image build``   build ``gradehub/hub`` FROM the stand-in base, pip
                                          only from that wheelhouse, served on 127.0.0.1

The offline build works like ``gradehub images build --offline`` (``gradehub.images``): the
wheels are downloaded on the host for bookworm's CPython 3.11, the build context is staged
(Dockerfile, pyproject.toml, gradehub/, hub/: not the whole checkout) and the engine builds
with ``--network host`` and ``PIP_NO_INDEX``/``PIP_FIND_LINKS`` pointing at the wheelhouse.

:func:`singleuser_ready` checks that a notebook image can run a hub server: ``jupyterhub``
(for ``jupyterhub-singleuser``) and ``gradehub.singleuser`` (the servers' command), both in
``images/notebook``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..dockerapi import ContainerFailed, DockerError, NotFound, as_engine
from ..images import (
    STANDIN_TAG,
    ImagesError,
    Log,
    build_image,
    connect_engine,
    download_wheels,
    repo_root,
    serve_wheelhouse,
)

HUB_TAG = "gradehub/hub:latest"
HUB_WHEELHOUSE = Path(".gradehub") / "wheels-hub"


def hub_requirements(root: Path | None = None) -> Path:
    return (root or repo_root()) / "hub" / "requirements.txt"


def download_hub_wheels(wheelhouse: Path | None = None, root: Path | None = None, log: Log = print) -> Path:
    root = root or repo_root()
    wheelhouse = wheelhouse or root / HUB_WHEELHOUSE
    download_wheels([hub_requirements(root)], wheelhouse, log)
    return wheelhouse


def stage_hub_context(root: Path, target: Path) -> Path:
    """Copy what the Dockerfile uses (and nothing else) into ``target``."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copy(root / "Dockerfile", target / "Dockerfile")
    shutil.copy(root / "pyproject.toml", target / "pyproject.toml")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(root / "gradehub", target / "gradehub", ignore=ignore)
    shutil.copytree(root / "hub", target / "hub", ignore=ignore)
    return target


def build_hub_image(
    *,
    tag: str = HUB_TAG,
    base_image: str = STANDIN_TAG,
    wheelhouse: Path | None = None,
    root: Path | None = None,
    log: Log = print,
) -> str:
    """The offline build of ``./Dockerfile``; returns the image id."""
    root = root or repo_root()
    wheelhouse = wheelhouse or root / HUB_WHEELHOUSE
    engine = connect_engine()
    try:
        have_base = engine.image_exists(base_image)
    except DockerError as exc:
        raise ImagesError(str(exc)) from None
    if not have_base:
        raise ImagesError(
            f"base image {base_image} is not in the engine (build it with "
            "`gradehub images build --offline`; the offline build never pulls)"
        )
    if not any(wheelhouse.glob("jupyterhub-*.whl")):
        raise ImagesError(
            f"the hub wheelhouse {wheelhouse} is empty: run `python -m gradehub.hub.image wheels` (or .ci/hub-setup.sh)"
        )
    with tempfile.TemporaryDirectory(prefix="gradehub-hub-image-") as tmp:
        context = stage_hub_context(root, Path(tmp) / "context")
        with serve_wheelhouse(wheelhouse) as url:
            return build_image(
                engine, context, tag, {"BASE_IMAGE": base_image, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": url}, log
            )


def singleuser_ready(client: Any, image: str) -> str | None:
    """Why ``image`` cannot run a hub server, or None when it can.

    ``client``: a :class:`gradehub.dockerapi.Engine` or an SDK client (tests hold their own).
    """
    try:
        as_engine(client).run(
            image,
            ["python3", "-c", "import jupyterhub.singleuser, gradehub.singleuser"],
            stdout=True,
            stderr=True,
            network_mode="none",
        )
        return None
    except ContainerFailed as exc:
        lines = exc.stderr.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "the import check failed"
    except NotFound:
        return f"{image} is not in the engine"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gradehub.hub.image", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("wheels", "build"))
    parser.add_argument("--tag", default=HUB_TAG)
    parser.add_argument("--base-image", default=STANDIN_TAG)
    args = parser.parse_args(argv)
    try:
        if args.action == "wheels":
            print(f"wheelhouse: {download_hub_wheels()}")
        else:
            image_id = build_hub_image(tag=args.tag, base_image=args.base_image)
            print(f"built {args.tag} ({image_id[7:19]})")
    except ImagesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
