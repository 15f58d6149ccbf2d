"""Which sandbox grades when the command line names none."""

from __future__ import annotations

from .base import SandboxUnavailable, get_sandbox


def default_sandbox(fall_back_without_image: bool = False) -> tuple[str, str | None]:
    """``("docker", None)`` when an engine answers, else ``("local", why)``.

    An instructor must know why grading runs unsandboxed, hence the reason. For real grading
    an engine without a usable grader image is no reason to fall back: the Docker sandbox's
    preflight then stops with what to build. The demo (``fall_back_without_image``) grades a
    synthetic class and falls back then too.
    """
    from . import docker  # the SDK loads only when the choice is made

    try:
        docker.ping_engine()
        if fall_back_without_image:
            get_sandbox("docker").preflight()
        return "docker", None
    except SandboxUnavailable as exc:
        return "local", str(exc)
