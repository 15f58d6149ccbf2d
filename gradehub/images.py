"""Build the two container images: ``gradehub/notebook`` (students) and ``gradehub/grader``.

``build_images(offline=False)``: the production build: ``images/notebook`` FROM its jupyter
docker-stacks base (pulled by the engine), pip installing from PyPI (torch: the GPU build),
then ``images/grader`` FROM the result.

``build_images(offline=True)``: for CI and machines that cannot pull images or reach PyPI
from inside a build:

1. a *stand-in* base image ``gradehub/standin-bookworm`` made with ``debootstrap`` (Debian
   bookworm minbase plus python3/python3-venv) and ``docker import`` (skipped when it exists);
2. a wheelhouse on the host (``.gradehub/wheels``): ``pip download`` of both requirement files
   for CPython 3.11 / manylinux x86_64 (bookworm's Python), torch as the CPU wheel;
3. a gradehub wheel built on the host (the images import ``gradehub.testing``);
4. ``docker build --network host`` of both images, pip pointed at the wheelhouse, which is
   served on 127.0.0.1 for the duration of the build (no registry, no TLS inside the build).

Everything talks to the engine through :mod:`gradehub.dockerapi`; errors are
:class:`ImagesError` with a one-line message saying what to install or start.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterator

from .dockerapi import DockerError, Engine, EngineUnavailable, connect, docker_host

NOTEBOOK_TAG = "gradehub/notebook:latest"
GRADER_TAG = "gradehub/grader:latest"
STANDIN_TAG = "gradehub/standin-bookworm:latest"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# What bookworm's python3 accepts: CPython 3.11, glibc 2.36 (pip expands _2_28 / 2014 itself).
WHEEL_PLATFORM_ARGS = [
    "--python-version",
    "3.11.2",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
    "--only-binary=:all:",
    "--platform",
    "manylinux_2_28_x86_64",
    "--platform",
    "manylinux2014_x86_64",
]
# Left out of the stand-in's root filesystem: caches, docs, man pages, translations.
_STANDIN_EXCLUDES = [
    "./var/cache/apt/*",
    "./var/lib/apt/lists/*",
    "./usr/share/doc/*",
    "./usr/share/man/*",
    "./usr/share/locale/*",
    "./usr/share/info/*",
]

Log = Callable[[str], None]


class ImagesError(Exception):
    """The images cannot be built here; the message says what to do."""


@dataclass
class BuildResult:
    images: dict[str, str] = field(default_factory=dict)  # tag -> image id
    sizes: dict[str, int] = field(default_factory=dict)  # tag -> bytes
    base_image: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def repo_root() -> Path:
    """The checkout holding ``images/`` and ``pyproject.toml`` (gradehub is installed editable)."""
    return Path(__file__).resolve().parent.parent


def connect_engine() -> Engine:
    """The Docker engine for building (long API timeout), or :class:`ImagesError` saying what to start."""
    try:
        engine = connect(timeout=10, api_timeout=600)
        engine.ping()
    except EngineUnavailable:
        raise ImagesError(
            f"no Docker engine answers at {docker_host()}: install docker.io and start "
            "dockerd (see .ci/docker-setup.sh)"
        ) from None
    except DockerError as exc:
        raise ImagesError(f"the Docker engine at {docker_host()} refuses: {exc}") from None
    return engine


def _run(argv: list[str], what: str, log: Log, **kwargs) -> None:
    log(f"$ {' '.join(argv)}")
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    except FileNotFoundError:
        raise ImagesError(f"{what}: {argv[0]} is not installed") from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
        raise ImagesError(f"{what} failed (exit code {proc.returncode}):\n{tail}")


# ----------------------------------------------------------------------------- stand-in base


def build_standin_base(engine: Engine, *, tag: str = STANDIN_TAG, mirror: str = DEBIAN_MIRROR, log: Log = print) -> str:
    """Debian bookworm minbase + python3/venv as a Docker image, via debootstrap + import."""
    if shutil.which("debootstrap") is None:
        raise ImagesError(
            "debootstrap is not installed: apt-get install -y debootstrap "
            "(needed by --offline to make the stand-in base image)"
        )
    if os.geteuid() != 0:
        raise ImagesError(
            f"debootstrap needs root: run `gradehub images build --offline` as root (or build {tag} once as root)"
        )
    with tempfile.TemporaryDirectory(prefix="gradehub-standin-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run(
            ["debootstrap", "--variant=minbase", "--include=python3,python3-venv", DEBIAN_SUITE, str(rootfs), mirror],
            "debootstrap",
            log,
        )
        # Keep images built FROM it small: no docs/man/locales from later apt-get installs.
        (rootfs / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
        (rootfs / "etc/dpkg/dpkg.cfg.d/01-gradehub-nodoc").write_text(
            "path-exclude=/usr/share/doc/*\npath-exclude=/usr/share/man/*\n"
            "path-exclude=/usr/share/locale/*\npath-exclude=/usr/share/info/*\n"
        )
        (rootfs / "etc/apt/apt.conf.d/01-gradehub-norecommends").write_text(
            'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
        )
        tarball = Path(tmp) / "rootfs.tar"
        _run(
            ["tar", "-C", str(rootfs), *[f"--exclude={p}" for p in _STANDIN_EXCLUDES], "-cf", str(tarball), "."],
            "tar of the stand-in root filesystem",
            log,
        )
        log(f"importing {tarball} as {tag}")
        repository, _, version = tag.rpartition(":")
        try:
            engine.import_image(
                str(tarball),
                repository=repository,
                tag=version,
                changes=[
                    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
                    'ENV LANG=C.UTF-8',
                    'CMD ["/bin/bash"]',
                ],
            )
        except DockerError as exc:
            raise ImagesError(f"docker import of the stand-in base failed: {exc}") from None
    if not _exists(engine, tag):
        raise ImagesError(f"docker import did not produce {tag}")
    return tag


# ----------------------------------------------------------------------------- wheels


def download_wheels(requirements: list[Path], wheelhouse: Path, log: Log = print) -> None:
    """``pip download`` what the images need, for bookworm's CPython 3.11 on x86_64."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "-q",
        *WHEEL_PLATFORM_ARGS,
        "-d",
        str(wheelhouse),
    ]
    for req in requirements:
        argv += ["-r", str(req)]
    # The wheelhouse remembers the requirements it was completed for.
    key = hashlib.sha256(
        "\0".join([*WHEEL_PLATFORM_ARGS, *(r.read_text() for r in requirements)]).encode()
    ).hexdigest()[:16]
    stamp = wheelhouse / f".complete-{key}"
    if stamp.is_file():
        log(f"the wheelhouse {wheelhouse} already has every wheel")
        return
    # One from an earlier build may have everything anyway: check that offline first.
    local = [*argv[:4], "--no-index", "--find-links", str(wheelhouse), *argv[4:]]
    try:
        _run(local, "pip download from the existing wheelhouse", lambda line: None)
    except ImagesError:
        _run(argv, "pip download of the image wheels", log)
    stamp.write_text("")


def build_gradehub_wheel(root: Path, out_dir: Path, log: Log = print) -> tuple[Path, str]:
    """A wheel of this checkout's gradehub, built from a copy (the tree is left untouched),
    and the fingerprint of the sources it holds (see ``gradehub_fingerprint``)."""
    from .sandbox.docker import gradehub_fingerprint

    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("gradehub-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="gradehub-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        shutil.copy(root / "pyproject.toml", src / "pyproject.toml")
        shutil.copytree(root / "gradehub", src / "gradehub", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        fingerprint = gradehub_fingerprint(src / "gradehub")
        readme = root / "README.md"
        if readme.is_file():
            shutil.copy(readme, src / "README.md")
        else:
            (src / "README.md").write_text("gradehub\n")
        argv = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--disable-pip-version-check",
            "-q",
            "--no-deps",
            "-w",
            str(out_dir),
            str(src),
        ]
        try:
            import setuptools  # noqa: F401

            argv.insert(4, "--no-build-isolation")
        except ImportError:
            pass
        # Fixed timestamps: the same sources give the same wheel, so its image layer is cached.
        _run(argv, "building the gradehub wheel", log, env={**os.environ, "SOURCE_DATE_EPOCH": "315532800"})
    wheels = sorted(out_dir.glob("gradehub-*.whl"))
    if not wheels:
        raise ImagesError("building the gradehub wheel produced no wheel")
    return wheels[-1], fingerprint


def wheelhouse_port(wheelhouse: Path) -> int:
    """A port fixed per wheelhouse, so the build-arg URL (and with it docker's layer cache)
    stays the same from one build to the next, and two wheelhouses served at once differ."""
    digest = hashlib.sha256(str(wheelhouse.resolve()).encode()).hexdigest()
    return 40000 + int(digest, 16) % 20000


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass


@contextlib.contextmanager
def serve_wheelhouse(wheelhouse: Path) -> Iterator[str]:
    """Serve ``wheelhouse`` on 127.0.0.1 (a free port) while building; yields the URL."""
    handler = functools.partial(_QuietHandler, directory=str(wheelhouse))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", wheelhouse_port(wheelhouse)), handler)
    except OSError:  # taken: any free port (the pip layer then misses the build cache)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="wheelhouse", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# ----------------------------------------------------------------------------- docker build


def _exists(engine: Engine, tag: str) -> bool:
    try:
        return engine.image_exists(tag)
    except DockerError as exc:
        raise ImagesError(str(exc)) from None


def build_image(engine: Engine, context: Path, tag: str, buildargs: dict[str, str], log: Log) -> str:
    """``docker build`` of ``context`` as ``tag`` (host network, no pull); the image id."""
    log(
        f"building {tag} (context {context}; build args: "
        f"{', '.join(f'{k}={v}' for k, v in buildargs.items()) or 'none'})"
    )
    tail: list[str] = []
    try:
        stream = engine.build(
            str(context), tag, buildargs=buildargs, network_mode="host", rm=True, forcerm=True, pull=False
        )
        for chunk in stream:
            if "errorDetail" in chunk or "error" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk.get("error")
                raise ImagesError(f"building {tag} failed: {detail}\n" + "".join(tail[-15:]))
            text = chunk.get("stream")
            if text:
                tail.append(text)
                if text.strip():
                    log(text.rstrip("\n"))
    except DockerError as exc:  # engine/transport trouble
        raise ImagesError(f"building {tag} failed: {exc}") from None
    info = _inspect(engine, tag)
    if info is None:
        raise ImagesError(f"building {tag} produced no image")
    return info["Id"]


def _inspect(engine: Engine, tag: str) -> dict | None:
    try:
        return engine.inspect_image(tag)
    except DockerError as exc:
        raise ImagesError(str(exc)) from None


def _context(staging: Path, image_dir: Path, extra: list[Path]) -> Path:
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in ("Dockerfile", "requirements.txt"):
        shutil.copy(image_dir / name, staging / name)
    for path in extra:
        shutil.copy(path, staging / path.name)
    return staging


def build_images(
    offline: bool,
    *,
    root: Path | None = None,
    base_image: str | None = None,
    notebook_tag: str = NOTEBOOK_TAG,
    grader_tag: str = GRADER_TAG,
    wheelhouse: Path | None = None,
    rebuild_base: bool = False,
    log: Log = print,
) -> BuildResult:
    """Build ``gradehub/notebook`` then ``gradehub/grader``; see the module docstring."""
    root = root or repo_root()
    images_dir = root / "images"
    for name in ("notebook", "grader"):
        if not (images_dir / name / "Dockerfile").is_file():
            raise ImagesError(f"{images_dir / name / 'Dockerfile'} is missing: run from a gradehub checkout")
    work = root / ".gradehub" / "images"
    wheelhouse = wheelhouse or root / ".gradehub" / "wheels"
    engine = connect_engine()
    result = BuildResult()
    started = time.monotonic()

    buildargs: dict[str, str] = {}
    if offline:
        base = base_image or STANDIN_TAG
        if base == STANDIN_TAG and (rebuild_base or not _exists(engine, STANDIN_TAG)):
            t = time.monotonic()
            build_standin_base(engine, log=log)
            result.seconds["standin"] = time.monotonic() - t
        elif not _exists(engine, base):
            raise ImagesError(f"base image {base} is not in the engine (--offline never pulls)")
        else:
            log(f"using the existing base image {base}")
        buildargs["BASE_IMAGE"] = base
        t = time.monotonic()
        download_wheels(
            [images_dir / "notebook" / "requirements.txt", images_dir / "grader" / "requirements.txt"], wheelhouse, log
        )
        result.seconds["wheels"] = time.monotonic() - t
    elif base_image:
        buildargs["BASE_IMAGE"] = base_image
    result.base_image = buildargs.get("BASE_IMAGE")

    wheel, fingerprint = build_gradehub_wheel(root, work / "dist", log)
    notebook_ctx = _context(work / "notebook", images_dir / "notebook", [wheel])
    grader_ctx = _context(work / "grader", images_dir / "grader", [])

    serve = serve_wheelhouse(wheelhouse) if offline else contextlib.nullcontext(None)
    with serve as url:
        pip_args = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": url} if url else {}
        t = time.monotonic()
        result.images[notebook_tag] = build_image(
            engine, notebook_ctx, notebook_tag, {**buildargs, **pip_args, "GRADEHUB_FINGERPRINT": fingerprint}, log
        )
        result.seconds["notebook"] = time.monotonic() - t
        t = time.monotonic()
        result.images[grader_tag] = build_image(
            engine, grader_ctx, grader_tag, {"NOTEBOOK_IMAGE": notebook_tag, **pip_args}, log
        )
        result.seconds["grader"] = time.monotonic() - t
    for tag in result.images:
        result.sizes[tag] = int((_inspect(engine, tag) or {}).get("Size") or 0)
    result.seconds["total"] = time.monotonic() - started
    log("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items()))
    return result
