"""The two spawners ``gradehub.hub.config`` configures: local processes and Docker containers.

Both offer the same profile choice (CPU server / GPU server) and share one hub-wide cap on how
many GPU servers run at once (``[gpu].max_servers``). The cap is counted in the hub process;
servers that survive a hub restart are counted again when their state is loaded.

* :class:`LocalCourseSpawner`: the embedded default (``gradehub hub``). Single-user servers
  are local processes, each as an OS user of its own (``gh-<name>``, made on demand) with a
  private home, when the hub runs as root (``gradehub.hub.isolation``); a hub that is not root
  refuses to start servers unless ``[spawner].local_users = "shared"`` (every server as the
  hub's own user: no isolation at all, for trying it out alone).
* :class:`CourseDockerSpawner`: DockerSpawner with the notebook image, a named home volume
  per user, memory/CPU limits, and GPU device requests for the GPU profile. On
  ``network_name = "host"`` every server gets a free port on 127.0.0.1.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any, ClassVar

from jupyterhub.spawner import LocalProcessSpawner
from jupyterhub.utils import random_port
from tornado import web
from traitlets import Dict, Int, List, Unicode, default
from traitlets.config import LoggingConfigurable

from . import isolation


class ProfilesMixin(LoggingConfigurable):
    """A CPU/GPU profile choice and the hub-wide GPU cap; ``_apply_profile`` is per spawner."""

    profiles = List(
        Dict(), config=True, help="profile dicts: slug, display_name, description, default, cpu_limit, mem_limit, gpus"
    )
    gpu_max_servers = Int(2, config=True, help="GPU servers that may run at once, hub-wide")
    # provided by the Spawner this mixes into
    user: Any
    name: str
    user_options: dict[str, Any]

    # keys of servers that hold a GPU slot: "user/servername"
    _gpu_holders: ClassVar[set[str]] = set()

    @property
    def _slot_key(self) -> str:
        return f"{self.user.name}/{self.name or ''}"

    @default("options_form")
    def _options_form_default(self):
        # a callable: the free GPU slots are counted when the page is shown
        return lambda spawner: spawner.render_options_form()

    def render_options_form(self) -> str:
        if not self.profiles:
            return ""
        rows = []
        for i, p in enumerate(self.profiles):
            is_default = p.get("default") or (i == 0 and not any(x.get("default") for x in self.profiles))
            checked = " checked" if is_default else ""
            free = ""
            if p.get("gpus"):
                used = len(self._gpu_holders)
                free = f" ({max(self.gpu_max_servers - used, 0)} of {self.gpu_max_servers} free)"
            rows.append(
                f'<div class="radio"><label><input type="radio" name="profile" value="{html.escape(p["slug"])}"'
                f'{checked}> <strong>{html.escape(p["display_name"])}</strong>{html.escape(free)}'
                f'<br><small>{html.escape(p.get("description", ""))}</small></label></div>'
            )
        return "\n".join(rows)

    @default("options_from_form")
    def _options_from_form_default(self):
        def profile_from_form(formdata: dict[str, list[str]]) -> dict[str, Any]:
            slug = (formdata.get("profile") or [""])[0]
            return {"profile": slug} if slug else {}

        return profile_from_form

    def selected_profile(self) -> dict[str, Any] | None:
        if not self.profiles:
            return None
        slug = (self.user_options or {}).get("profile")
        for p in self.profiles:
            if p["slug"] == slug:
                return p
        if slug:
            raise web.HTTPError(400, f"unknown server profile {slug!r}")
        return next((p for p in self.profiles if p.get("default")), self.profiles[0])

    def _take_gpu_slot(self, profile: dict[str, Any] | None) -> None:
        if not profile or not profile.get("gpus"):
            return
        others = self._gpu_holders - {self._slot_key}
        if len(others) >= self.gpu_max_servers:
            raise web.HTTPError(
                409, f"all {self.gpu_max_servers} GPU servers are in use; start a CPU server or try later"
            )
        self._gpu_holders.add(self._slot_key)

    def _release_gpu_slot(self) -> None:
        self._gpu_holders.discard(self._slot_key)

    def _state_profile(self, state: dict[str, Any]) -> None:
        self._loaded_profile = state.get("gradehub_profile")
        if state.get("gradehub_gpu"):
            self._gpu_holders.add(self._slot_key)

    def _profile_state(self, state: dict[str, Any]) -> dict[str, Any]:
        profile = self._current_profile if hasattr(self, "_current_profile") else None
        if profile:
            state["gradehub_profile"] = profile["slug"]
            state["gradehub_gpu"] = bool(profile.get("gpus"))
        return state


class LocalCourseSpawner(ProfilesMixin, LocalProcessSpawner):
    """Local processes: as an OS user of their own (hub as root), or refused (see the module)."""

    local_users = Unicode("auto", config=True, help="auto | system | shared (gradehub.hub.isolation)")
    homes_root = Unicode(config=True, help="the users' homes: <homes_root>/<username>")
    # the hub stops within seconds (SIGTERM): a server gets 2 s to stop on SIGINT, then TERM, KILL
    interrupt_timeout = Int(2, config=True)
    term_timeout = Int(2, config=True)
    kill_timeout = Int(1, config=True)

    @property
    def home_dir(self) -> str:
        return str(Path(self.homes_root) / self.user.name)

    def _isolation(self) -> str:
        return isolation.effective_mode(self.local_users)

    _runnable: ClassVar[set[tuple[str, int]]] = set()  # (interpreter, uid) that passed the check

    def _prepare_user(self, env: dict[str, str]) -> tuple[int, int] | None:
        mode = self._isolation()
        if mode == "refuse":
            raise web.HTTPError(403, isolation.REFUSAL)
        if mode == "shared":
            Path(self.home_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
            return None
        try:
            uid, gid = isolation.ensure_system_user(self.user.name, Path(self.home_dir))
            isolation.prepare_home(Path(self.homes_root), self.user.name, uid, gid)
            if (self.cmd[0], uid) not in self._runnable:
                isolation.check_runnable(self.cmd[0], uid, gid, Path(self.home_dir), env)
                self._runnable.add((self.cmd[0], uid))
        except isolation.IsolationError as exc:
            self.log.error("cannot start %s's server: %s", self.user.name, exc)
            raise web.HTTPError(500, str(exc).replace("%", "%%")) from None
        return uid, gid

    def make_preexec_fn(self, name):
        ids = getattr(self, "_ids", None)
        home = self.home_dir
        if ids is None:  # shared: the hub's own user

            def preexec():
                os.umask(0o077)
                os.chdir(home)

            return preexec
        return isolation.drop_privileges(ids[0], ids[1], home)

    def user_env(self, env):
        import getpass

        env["USER"] = isolation.system_username(self.user.name) if getattr(self, "_ids", None) else getpass.getuser()
        env["HOME"] = self.home_dir
        env["SHELL"] = "/bin/bash"
        return env

    async def move_certs(self, paths):
        return paths

    async def start(self):
        import asyncio

        self._ids = None
        self._ids = await asyncio.to_thread(self._prepare_user, dict(self.get_env()))
        profile = self.selected_profile()
        self._take_gpu_slot(profile)
        self._current_profile = profile
        if profile:
            self.mem_limit = profile.get("mem_limit")
            self.cpu_limit = profile.get("cpu_limit")
        try:
            return await super().start()
        except BaseException:
            self._release_gpu_slot()
            raise

    async def stop(self, now=False):
        try:
            await super().stop(now=now)
        finally:
            self._release_gpu_slot()

    def load_state(self, state):
        super().load_state(state)
        self._state_profile(state)

    def get_state(self):
        return self._profile_state(super().get_state())


try:
    from dockerspawner import DockerSpawner
except ImportError:  # the hub extra is not installed: only the local spawner exists
    DockerSpawner = None

if DockerSpawner is not None:

    class CourseDockerSpawner(ProfilesMixin, DockerSpawner):
        """DockerSpawner + profiles (limits, GPU device requests) + host-network ports."""

        gpu_driver = Unicode("nvidia", config=True)
        gpu_capabilities = List(Unicode(), ["gpu"], config=True)

        def device_requests_for(self, profile: dict[str, Any] | None) -> list[dict[str, Any]]:
            gpus = int((profile or {}).get("gpus") or 0)
            if not gpus:
                return []
            return [{"driver": self.gpu_driver, "count": gpus, "capabilities": [list(self.gpu_capabilities)]}]

        def apply_profile(self, profile: dict[str, Any] | None) -> None:
            if not profile:
                return
            # DockerSpawner's traits are untyped to mypy
            self.mem_limit = profile.get("mem_limit") or self.mem_limit  # type: ignore[has-type]
            self.cpu_limit = profile.get("cpu_limit") or self.cpu_limit  # type: ignore[has-type]
            requests = self.device_requests_for(profile)
            extra = self.extra_host_config  # type: ignore[has-type]
            host_config = dict(extra) if isinstance(extra, dict) else {}
            if requests:
                host_config["device_requests"] = requests
            else:
                host_config.pop("device_requests", None)
            self.extra_host_config = host_config

        async def start(self):
            profile = self.selected_profile()
            self._take_gpu_slot(profile)
            self._current_profile = profile
            try:
                self.apply_profile(profile)
                if self.network_name == "host":
                    # on the host's network the container's server must pick its own free port
                    self.ip = "127.0.0.1"
                    self.port = random_port()
                return await super().start()
            except BaseException:
                self._release_gpu_slot()
                raise

        async def get_ip_and_port(self):
            if self.network_name == "host":
                return "127.0.0.1", self.port
            return await super().get_ip_and_port()

        async def stop(self, now=False):
            try:
                await super().stop(now=now)
            finally:
                self._release_gpu_slot()

        async def poll(self):
            status = await super().poll()
            if status is not None:
                self._release_gpu_slot()
            return status

        def load_state(self, state):
            super().load_state(state)
            self._state_profile(state)
            if state.get("gradehub_port"):
                self.port = int(state["gradehub_port"])

        def get_state(self):
            state = self._profile_state(super().get_state())
            if self.network_name == "host" and self.port:
                state["gradehub_port"] = self.port
            return state
