"""The hub's settings: one documented TOML file (``hub/settings.toml``) plus environment overrides.

:func:`load_settings` reads defaults ← the settings file (if any) ← ``GRADEHUB_HUB__<SECTION>__<KEY>``
into a frozen :class:`HubSettings`. Validation uses the same helpers as ``course.toml``
(:func:`gradehub.course.build_table`): an unknown key or a wrong type is a
:class:`HubSettingsError` that names the file, the table and the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from ..course import CourseError, build_table

SETTINGS_FILE = Path("hub") / "settings.toml"
ENV_PREFIX = "GRADEHUB_HUB__"
MODES = ("local", "docker", "kubernetes")


class HubSettingsError(CourseError):
    """The hub settings file or an override is not usable; the message names the key."""


@dataclass(frozen=True)
class HubSection:
    mode: str = "local"  # local | docker | kubernetes (the spawner)
    bind_url: str = "http://127.0.0.1:8000/"
    hub_ip: str = "127.0.0.1"  # where the hub's own API listens
    hub_port: int = 0  # 0: a free port, chosen at start
    hub_connect_host: str = ""  # how servers reach the hub and the exchange ("" = hub_ip)
    proxy_api_port: int = 0  # 0: a free port, chosen at start
    db_url: str = ""  # "" = sqlite in the state folder
    state_dir: str = ""  # "" = <course root>/.gradehub/hub
    log_level: str = "INFO"


@dataclass(frozen=True)
class AccountsSection:
    authenticator: str = "gradehub"  # "gradehub" (password file) or an Authenticator class path
    authenticator_config: dict = field(default_factory=dict)  # traits for that class
    instructors: tuple[str, ...] = ()  # instructor accounts besides the demo one
    demo: bool = True  # demo-student, demo-tutor, demo-instructor
    demo_group: str = ""  # roster group of the demo student/tutor ("" = first)
    admin_users: tuple[str, ...] = ()  # full JupyterHub admins (rarely needed)


@dataclass(frozen=True)
class Profile:
    slug: str
    display_name: str
    description: str = ""
    cpu_limit: float = 1.0
    mem_limit: int = 2 * 2**30
    gpus: int = 0
    default: bool = False


@dataclass(frozen=True)
class SpawnerSection:
    image: str = "gradehub/notebook:latest"
    cpu_limit: float = 1.0  # used when no profile is offered
    mem_limit: int = 2 * 2**30
    start_timeout: float = 120.0
    http_timeout: float = 60.0
    home_volume: str = "gradehub-home-{username}"  # docker: named volume at /home/jovyan
    home_path: str = "/home/jovyan"
    network_name: str = "gradehub"  # docker network the servers join ("host" in tests)
    remove_containers: bool = True
    offer_profiles: str = "auto"  # auto (not in local mode) | yes | no
    cmd: tuple[str, ...] = ("python3", "-m", "gradehub.singleuser")
    extra_create_kwargs: dict = field(default_factory=dict)  # escape hatch (docker)
    local_users: str = "auto"  # local: auto | system | shared (gradehub.hub.isolation)
    homes_root: str = ""  # local: "" = /var/lib/gradehub/homes/<course>-<hash> as root


@dataclass(frozen=True)
class GpuSection:
    max_servers: int = 2  # GPU servers running at once, hub-wide
    driver: str = "nvidia"
    capabilities: tuple[str, ...] = ("gpu",)


@dataclass(frozen=True)
class CullerSection:
    enabled: bool = True
    timeout: float = 3600.0
    every: float = 600.0
    max_age: float = 0.0  # 0: no limit on a server's age
    cull_users: bool = False


@dataclass(frozen=True)
class ExchangeSection:
    port: int = 0  # 0: a free port, chosen at start
    listen_ip: str = ""  # "" = hub_ip
    url: str = ""  # what servers use; "" = http://<connect host>:<port>/
    max_upload: int = 50 * 2**20  # bytes per submission
    max_files: int = 200


@dataclass(frozen=True)
class FormgraderSection:
    enabled: bool = True
    port: int = 0


@dataclass(frozen=True)
class HubSettings:
    hub: HubSection = field(default_factory=HubSection)
    accounts: AccountsSection = field(default_factory=AccountsSection)
    spawner: SpawnerSection = field(default_factory=SpawnerSection)
    profiles: tuple[Profile, ...] = (
        Profile("cpu", "CPU server", "4 CPU cores, 8 GiB memory", cpu_limit=4.0, mem_limit=8 * 2**30, default=True),
        Profile(
            "gpu", "GPU server", "one GPU, 8 CPU cores, 32 GiB memory", cpu_limit=8.0, mem_limit=32 * 2**30, gpus=1
        ),
    )
    gpu: GpuSection = field(default_factory=GpuSection)
    culler: CullerSection = field(default_factory=CullerSection)
    exchange: ExchangeSection = field(default_factory=ExchangeSection)
    formgrader: FormgraderSection = field(default_factory=FormgraderSection)

    def replace(self, **sections: Any) -> HubSettings:
        """A copy with some keys changed: ``s.replace(hub={"mode": "docker"})``."""
        return _from_mapping(sections, base=self, where="replace()")

    @property
    def profiles_offered(self) -> bool:
        choice = self.spawner.offer_profiles
        return bool(self.profiles) and (choice == "yes" or (choice == "auto" and self.hub.mode != "local"))


# keys read as sizes (2GiB) or durations (15min)
_KINDS = {
    "mem_limit": "size",
    "max_upload": "size",
    "start_timeout": "duration",
    "http_timeout": "duration",
    "timeout": "duration",
    "every": "duration",
    "max_age": "duration",
}


def _build_section(cls: type, table: Any, base: Any, where: str) -> Any:
    return build_table(cls, table, base, where, kinds=_KINDS, error=HubSettingsError)


def _build_profiles(items: Any, where: str) -> tuple[Profile, ...]:
    if not isinstance(items, list):
        raise HubSettingsError(f"{where}: expected an array of tables (a [[profiles]] entry each)")
    profiles, slugs = [], set()
    for i, item in enumerate(items):
        w = f"{where} #{i + 1}"
        if not isinstance(item, dict) or "slug" not in item or "display_name" not in item:
            raise HubSettingsError(f"{w}: a profile needs slug and display_name")
        profile = _build_section(Profile, item, Profile(slug="", display_name=""), w)
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,31}", profile.slug):
            raise HubSettingsError(f"{w}.slug: {profile.slug!r} is not a valid slug (a-z, 0-9, -)")
        if profile.slug in slugs:
            raise HubSettingsError(f"{w}.slug: {profile.slug!r} is listed twice")
        if profile.gpus < 0 or profile.cpu_limit <= 0:
            raise HubSettingsError(f"{w}: gpus must be >= 0 and cpu_limit > 0")
        slugs.add(profile.slug)
        profiles.append(profile)
    if sum(p.default for p in profiles) > 1:
        raise HubSettingsError(f"{where}: at most one profile may be the default")
    return tuple(profiles)


_SECTIONS = {
    "hub": HubSection,
    "accounts": AccountsSection,
    "spawner": SpawnerSection,
    "gpu": GpuSection,
    "culler": CullerSection,
    "exchange": ExchangeSection,
    "formgrader": FormgraderSection,
}


def _from_mapping(data: Mapping[str, Any], base: HubSettings, where: str) -> HubSettings:
    allowed = {*_SECTIONS, "profiles"}
    if set(data) - allowed:
        unknown = sorted(set(data) - allowed)
        raise HubSettingsError(
            f"{where}: unknown section(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}"
        )
    values: dict[str, Any] = {name: getattr(base, name) for name in (*_SECTIONS, "profiles")}
    for name, cls in _SECTIONS.items():
        if name in data:
            values[name] = _build_section(cls, data[name], getattr(base, name), f"{where}: {name}")
    if "profiles" in data:
        values["profiles"] = _build_profiles(data["profiles"], f"{where}: profiles")
    settings = HubSettings(**values)
    _validate(settings, where)
    return settings


def _validate(s: HubSettings, where: str) -> None:
    if s.hub.mode not in MODES:
        raise HubSettingsError(f"{where}: hub.mode: {s.hub.mode!r} is not one of {', '.join(MODES)}")
    if s.spawner.offer_profiles not in ("auto", "yes", "no"):
        raise HubSettingsError(f"{where}: spawner.offer_profiles: use auto, yes or no")
    if s.spawner.local_users not in ("auto", "system", "shared"):
        raise HubSettingsError(f"{where}: spawner.local_users: use auto, system or shared")
    if s.gpu.max_servers < 0:
        raise HubSettingsError(f"{where}: gpu.max_servers: must be >= 0")
    if s.spawner.mem_limit < 256 * 2**20 or any(p.mem_limit < 256 * 2**20 for p in s.profiles):
        raise HubSettingsError(f"{where}: mem_limit below 256MiB cannot run JupyterLab")
    for name in ("hub_port", "proxy_api_port"):
        if not 0 <= getattr(s.hub, name) < 65536:
            raise HubSettingsError(f"{where}: hub.{name}: not a port number")
    if not re.match(r"^https?://[^/]+", s.hub.bind_url):
        raise HubSettingsError(f"{where}: hub.bind_url: {s.hub.bind_url!r} is not an http(s) URL")


def _env_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """``GRADEHUB_HUB__SPAWNER__MEM_LIMIT=4GiB`` → ``{"spawner": {"mem_limit": "4GiB"}}``.

    Values are read as TOML values when they parse (``4``, ``true``, ``["a", "b"]``), else as
    strings. ``GRADEHUB_HUB__PROFILES`` takes a TOML array of inline tables.
    """
    out: dict[str, Any] = {}
    for key, text in sorted(environ.items()):
        if not key.startswith(ENV_PREFIX):
            continue
        parts = key[len(ENV_PREFIX) :].lower().split("__")
        if parts == ["profiles"]:
            out["profiles"] = _env_value(text)
        elif len(parts) == 2 and all(parts):
            out.setdefault(parts[0], {})[parts[1]] = _env_value(text)
        else:
            raise HubSettingsError(f"environment {key}: use {ENV_PREFIX}<SECTION>__<KEY>")
    return out


def settings_path(
    course_root: Path, explicit: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The settings file: explicit > $GRADEHUB_HUB_SETTINGS > <course root>/hub/settings.toml."""
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if environ.get("GRADEHUB_HUB_SETTINGS"):
        return Path(environ["GRADEHUB_HUB_SETTINGS"])
    candidate = Path(course_root) / SETTINGS_FILE
    return candidate if candidate.is_file() else None


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> HubSettings:
    """Defaults ← the settings file (if any) ← environment overrides."""
    environ = os.environ if environ is None else environ
    settings = HubSettings()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise HubSettingsError(f"hub settings file {path} does not exist")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise HubSettingsError(f"{path}: {exc}") from None
        settings = _from_mapping(data, settings, str(path))
    overrides = env_overrides(environ)
    if overrides:
        settings = _from_mapping(overrides, settings, "environment")
    return settings
