"""The JupyterHub configuration, built by pure functions over a traitlets ``Config``.

``hub/jupyterhub_config.py`` and ``gradehub hub`` both call :func:`apply_config`; tests call
the same functions and assert on the resulting traits without running a hub.

Inputs, all read-only here:

* the course (``course.toml``: course id, ``[tutors]`` group → tutor accounts) and its roster
  (``roster.csv``: students and their groups);
* :class:`HubSettings`, read by :func:`load_settings` from one documented TOML file
  (``hub/settings.toml``) plus environment overrides ``GRADEHUB_HUB__<SECTION>__<KEY>``;
* :class:`Runtime`: what only exists once the hub starts (state folder, chosen ports, the
  Python that runs the services). ``gradehub.hubapp`` makes it; tests make their own.

Who may do what (JupyterHub RBAC, see :func:`hub_roles`):

=================  =============================================================================
group              rights
=================  =============================================================================
``students``       their own server and the exchange service (fetch, submit, feedback: their own)
``students-<G>``   the same; only used to scope what the tutors of group G may see
``tutors``         the grading service (their own groups' answers only), the exchange service
``tutors-<G>``     list/read the users and group of ``students-<G>``
``instructors``    course admin: the admin page, all users, servers, groups, every service
=================  =============================================================================
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .course import Course, CourseError, Student, parse_duration, parse_size

SETTINGS_FILE = Path("hub") / "settings.toml"
ENV_PREFIX = "GRADEHUB_HUB__"
MODES = ("local", "docker", "kubernetes")

EXCHANGE_SERVICE = "gradehub-exchange"
FORMGRADER_SERVICE = "formgrader"
CULLER_SERVICE = "idle-culler"
ADMIN_SERVICE = "gradehub-admin"
GRADING_SERVICE = "grading"              # the tutors' grading service (gradehub.tutoring)

PROXY_TIMEOUT_MS = 24 * 3600 * 1000
HUB_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
           "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
           "frame-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'")

GROUP_STUDENTS = "students"
GROUP_TUTORS = "tutors"
GROUP_INSTRUCTORS = "instructors"

DEMO_STUDENT = "demo-student"
DEMO_TUTOR = "demo-tutor"
DEMO_INSTRUCTOR = "demo-instructor"

class HubSettingsError(CourseError):
    """The hub settings file or an override is not usable; the message names the key."""


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class HubSection:
    mode: str = "local"                    # local | docker | kubernetes (the spawner)
    bind_url: str = "http://127.0.0.1:8000/"
    hub_ip: str = "127.0.0.1"              # where the hub's own API listens
    hub_port: int = 0                      # 0: a free port, chosen at start
    hub_connect_host: str = ""             # how servers reach the hub and the exchange ("" = hub_ip)
    proxy_api_port: int = 0                # 0: a free port, chosen at start
    db_url: str = ""                       # "" = sqlite in the state folder
    state_dir: str = ""                    # "" = <course root>/.gradehub/hub
    log_level: str = "INFO"


@dataclass(frozen=True)
class AccountsSection:
    authenticator: str = "gradehub"        # "gradehub" (password file) or an Authenticator class path
    authenticator_config: dict = field(default_factory=dict)   # traits for that class
    instructors: tuple[str, ...] = ()      # instructor accounts besides the demo one
    demo: bool = True                      # demo-student, demo-tutor, demo-instructor
    demo_group: str = ""                   # roster group of the demo student/tutor ("" = first)
    admin_users: tuple[str, ...] = ()      # full JupyterHub admins (rarely needed)


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
    cpu_limit: float = 1.0                 # used when no profile is offered
    mem_limit: int = 2 * 2**30
    start_timeout: float = 120.0
    http_timeout: float = 60.0
    home_volume: str = "gradehub-home-{username}"   # docker: named volume at /home/jovyan
    home_path: str = "/home/jovyan"
    network_name: str = "gradehub"         # docker network the servers join ("host" in tests)
    remove_containers: bool = True
    offer_profiles: str = "auto"           # auto (not in local mode) | yes | no
    cmd: tuple[str, ...] = ("python3", "-m", "gradehub.singleuser")
    extra_create_kwargs: dict = field(default_factory=dict)    # escape hatch (docker)
    local_users: str = "auto"              # local: auto | system | shared (gradehub.hub_isolation)
    homes_root: str = ""                   # local: "" = /var/lib/gradehub/homes/<course>-<hash> as root


@dataclass(frozen=True)
class GpuSection:
    max_servers: int = 2                   # GPU servers running at once, hub-wide
    driver: str = "nvidia"
    capabilities: tuple[str, ...] = ("gpu",)


@dataclass(frozen=True)
class CullerSection:
    enabled: bool = True
    timeout: float = 3600.0
    every: float = 600.0
    max_age: float = 0.0                   # 0: no limit on a server's age
    cull_users: bool = False


@dataclass(frozen=True)
class ExchangeSection:
    port: int = 0                          # 0: a free port, chosen at start
    listen_ip: str = ""                    # "" = hub_ip
    url: str = ""                          # what servers use; "" = http://<connect host>:<port>/
    max_upload: int = 50 * 2**20           # bytes per submission
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
        Profile("cpu", "CPU server", "4 CPU cores, 8 GiB memory", cpu_limit=4.0, mem_limit=8 * 2**30,
                default=True),
        Profile("gpu", "GPU server", "one GPU, 8 CPU cores, 32 GiB memory", cpu_limit=8.0,
                mem_limit=32 * 2**30, gpus=1),
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


_SIZE_KEYS = {"mem_limit", "max_upload"}
_DURATION_KEYS = {"start_timeout", "http_timeout", "timeout", "every", "max_age"}


def _section_dict(section: Any) -> dict[str, Any]:
    return {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}


def _coerce(value: Any, default: Any, where: str) -> Any:
    key = where.rsplit(".", 1)[-1]
    if key in _SIZE_KEYS:
        return parse_size(value, where)
    if key in _DURATION_KEYS:
        return parse_duration(value, where)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise HubSettingsError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise HubSettingsError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise HubSettingsError(f"{where}: expected an integer, got {value!r}")
        return value
    if isinstance(default, tuple):
        if not (isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value)):
            raise HubSettingsError(f"{where}: expected a list of strings, got {value!r}")
        return tuple(value)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise HubSettingsError(f"{where}: expected a table, got {value!r}")
        return dict(value)
    if not isinstance(value, str):
        raise HubSettingsError(f"{where}: expected a string, got {value!r}")
    return value


def _build_section(cls: type, table: Any, base: Any, where: str) -> Any:
    if not isinstance(table, dict):
        raise HubSettingsError(f"{where}: expected a table")
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise HubSettingsError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                               f"allowed: {', '.join(sorted(allowed))}")
    values = _section_dict(base)
    for key, value in table.items():
        values[key] = _coerce(value, values[key], f"{where}.{key}")
    return cls(**values)


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


_SECTIONS = {"hub": HubSection, "accounts": AccountsSection, "spawner": SpawnerSection, "gpu": GpuSection,
             "culler": CullerSection, "exchange": ExchangeSection, "formgrader": FormgraderSection}


def _from_mapping(data: Mapping[str, Any], base: HubSettings, where: str) -> HubSettings:
    unknown = sorted(set(data) - set(_SECTIONS) - {"profiles"})
    if unknown:
        raise HubSettingsError(f"{where}: unknown section(s) {', '.join(map(repr, unknown))}; "
                               f"allowed: {', '.join(sorted([*_SECTIONS, 'profiles']))}")
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
        parts = key[len(ENV_PREFIX):].lower().split("__")
        if parts == ["profiles"]:
            out["profiles"] = _env_value(text)
        elif len(parts) == 2 and all(parts):
            out.setdefault(parts[0], {})[parts[1]] = _env_value(text)
        else:
            raise HubSettingsError(f"environment {key}: use {ENV_PREFIX}<SECTION>__<KEY>")
    return out


def settings_path(course_root: Path, explicit: str | Path | None = None,
                  environ: Mapping[str, str] | None = None) -> Path | None:
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


# --------------------------------------------------------------------------- accounts and groups


@dataclass(frozen=True)
class Accounts:
    """Who the hub knows, by role. Tutors and students are keyed by roster group."""

    students: dict[str, tuple[str, ...]]      # group -> student ids
    tutors: dict[str, tuple[str, ...]]        # group -> tutor accounts
    instructors: tuple[str, ...]
    demo: dict[str, str] = field(default_factory=dict)   # role -> demo account name

    @property
    def all_students(self) -> list[str]:
        return sorted({s for group in self.students.values() for s in group})

    @property
    def all_tutors(self) -> list[str]:
        return sorted({t for group in self.tutors.values() for t in group})

    @property
    def usernames(self) -> list[str]:
        return sorted({*self.all_students, *self.all_tutors, *self.instructors})

    def role_of(self, username: str) -> str | None:
        if username in self.instructors:
            return "instructor"
        if username in self.all_tutors:
            return "tutor"
        if username in self.all_students:
            return "student"
        return None


def build_accounts(course: Course, roster: list[Student], settings: HubSettings) -> Accounts:
    """Students from the roster, tutors from course.toml ``[tutors]``, instructors from settings."""
    students: dict[str, list[str]] = {}
    for s in roster:
        students.setdefault(s.group or "_", []).append(s.id)
    tutors = {g: list(names) for g, names in course.tutors.items()}
    instructors = list(settings.accounts.instructors)
    demo: dict[str, str] = {}
    if settings.accounts.demo:
        group = settings.accounts.demo_group or (sorted(students)[0] if students else
                                                 (sorted(tutors)[0] if tutors else "A"))
        students.setdefault(group, []).append(DEMO_STUDENT)
        tutors.setdefault(group, []).append(DEMO_TUTOR)
        instructors.append(DEMO_INSTRUCTOR)
        demo = {"student": DEMO_STUDENT, "tutor": DEMO_TUTOR, "instructor": DEMO_INSTRUCTOR}
    accounts = Accounts(
        students={g: tuple(sorted(set(v))) for g, v in sorted(students.items())},
        tutors={g: tuple(sorted(set(v))) for g, v in sorted(tutors.items())},
        instructors=tuple(sorted(set(instructors))),
        demo=demo,
    )
    clash = (set(accounts.all_students) & (set(accounts.all_tutors) | set(accounts.instructors)))
    if clash:
        raise HubSettingsError(f"account(s) {', '.join(sorted(clash))} are both students and staff")
    return accounts


def hub_groups(accounts: Accounts) -> dict[str, dict[str, Any]]:
    """``JupyterHub.load_groups``: one group per role and one per roster group and role."""
    groups: dict[str, dict[str, Any]] = {
        GROUP_STUDENTS: {"users": accounts.all_students, "properties": {"gradehub_role": "student"}},
        GROUP_TUTORS: {"users": accounts.all_tutors, "properties": {"gradehub_role": "tutor"}},
        GROUP_INSTRUCTORS: {"users": list(accounts.instructors), "properties": {"gradehub_role": "instructor"}},
    }
    for group, members in accounts.students.items():
        groups[f"students-{group}"] = {"users": list(members),
                                       "properties": {"gradehub_role": "student", "roster_group": group}}
    for group, members in accounts.tutors.items():
        groups[f"tutors-{group}"] = {"users": list(members),
                                     "properties": {"gradehub_role": "tutor", "roster_group": group}}
    return groups


INSTRUCTOR_SCOPES = (
    "admin-ui", "admin:users", "admin:servers", "admin:groups", "list:users", "read:users",
    "list:groups", "read:groups", "access:servers", "access:services", "list:services",
    "read:services", "read:roles", "read:hub",
)
CULLER_SCOPES = ("list:users", "read:users:activity", "read:servers", "delete:servers")
ADMIN_SERVICE_SCOPES = ("list:users", "read:users", "admin:users", "list:groups", "read:groups",
                        "admin:groups")


def hub_roles(accounts: Accounts, settings: HubSettings) -> list[dict[str, Any]]:
    """``JupyterHub.load_roles``: what each group (and each gradehub service) may do."""
    exchange = f"access:services!service={EXCHANGE_SERVICE}"
    roles: list[dict[str, Any]] = [
        {"name": "gradehub-student", "description": "A student: own server, the exchange for own work",
         "scopes": ["self", exchange], "groups": [GROUP_STUDENTS]},
        # Not the formgrader: it shows and lets one edit every student's grades and also
        # releases and collects; nbgrader cannot limit it to a group. Tutors grade in the
        # grading service, which shows them their own groups' answers only.
        {"name": "gradehub-tutor", "description": "A tutor: the grading service and the exchange",
         "scopes": ["self", exchange, f"access:services!service={GRADING_SERVICE}"],
         "groups": [GROUP_TUTORS]},
        {"name": "gradehub-instructor", "description": "An instructor: admin of the course",
         "scopes": ["self", *INSTRUCTOR_SCOPES], "groups": [GROUP_INSTRUCTORS]},
    ]
    for group in accounts.tutors:
        students = f"students-{group}"
        roles.append({
            "name": f"gradehub-tutor-{_role_slug(group)}",
            "description": f"Tutors of group {group}: see the students of group {group}",
            "scopes": [f"list:users!group={students}", f"read:users!group={students}",
                       f"read:groups!group={students}", f"list:groups!group={students}"],
            "groups": [f"tutors-{group}"],
        })
    roles.append({"name": "gradehub-admin-service", "description": "gradehub hub sync-roster",
                  "scopes": list(ADMIN_SERVICE_SCOPES), "services": [ADMIN_SERVICE]})
    if settings.culler.enabled:
        scopes = list(CULLER_SCOPES) + (["admin:users"] if settings.culler.cull_users else [])
        roles.append({"name": "gradehub-idle-culler", "description": "jupyterhub-idle-culler",
                      "scopes": scopes, "services": [CULLER_SERVICE]})
    return roles


def _role_slug(group: str) -> str:
    slug = re.sub(r"[^a-z0-9-]", "-", group.lower()).strip("-")
    return slug or "group"


# --------------------------------------------------------------------------- runtime + services


@dataclass(frozen=True)
class Runtime:
    """What exists only when the hub starts; ``gradehub.hubapp.prepare_runtime`` makes it."""

    course_root: Path
    state_dir: Path
    python: str                             # the interpreter that runs the hub-side services
    hub_port: int
    proxy_api_port: int
    exchange_port: int
    formgrader_port: int
    grading_port: int = 0                   # the grading service (gradehub.tutoring); 0: not run
    admin_token: str = ""
    exchange_root: Path | None = None      # None: <course root>/exchange
    proxy_command: tuple[str, ...] = ("configurable-http-proxy",)
    environ: dict[str, str] = field(default_factory=dict)   # passed to the services

    @property
    def exchange_dir(self) -> Path:
        return self.exchange_root or self.course_root / "exchange"


def connect_host(settings: HubSettings) -> str:
    host = settings.hub.hub_connect_host or settings.hub.hub_ip
    return "127.0.0.1" if host in ("", "0.0.0.0") else host


def exchange_client_url(settings: HubSettings, runtime: Runtime) -> str:
    """The exchange service's URL as the single-user servers see it."""
    if settings.exchange.url:
        return settings.exchange.url.rstrip("/") + "/"
    return f"http://{connect_host(settings)}:{runtime.exchange_port}/"


def hub_services(course: Course, settings: HubSettings, runtime: Runtime) -> list[dict[str, Any]]:
    """``JupyterHub.services``: exchange, formgrader, idle culler, the admin token for sync-roster."""
    listen = settings.exchange.listen_ip or settings.hub.hub_ip
    env = {**runtime.environ, "GRADEHUB_COURSE_ROOT": str(course.root),
           "GRADEHUB_EXCHANGE": str(runtime.exchange_dir)}
    services: list[dict[str, Any]] = [
        {
            "name": EXCHANGE_SERVICE,
            "url": f"http://{listen}:{runtime.exchange_port}",
            "command": [runtime.python, "-m", "gradehub.hub_exchange", "--course-root", str(course.root),
                        "--course-id", course.id, "--exchange-root", str(runtime.exchange_dir),
                        "--max-upload", str(settings.exchange.max_upload),
                        "--max-files", str(settings.exchange.max_files)],
            "environment": dict(env),
            "display": False,
            "oauth_no_confirm": True,
            "timeout": int(settings.spawner.start_timeout),
        },
    ]
    if settings.formgrader.enabled:
        services.append({
            "name": FORMGRADER_SERVICE,
            "url": f"http://127.0.0.1:{runtime.formgrader_port}",
            "command": [runtime.python, "-m", "gradehub.singleuser", "--formgrader"],
            "cwd": str(course.root),
            "environment": {**env, "JUPYTERHUB_DEFAULT_URL": "/formgrader"},
            "oauth_no_confirm": True,
            "timeout": int(settings.spawner.start_timeout),
            "display": True,
            "info": {"description": "nbgrader formgrader: manage, collect, grade"},
        })
    if settings.culler.enabled:
        args = [runtime.python, "-m", "jupyterhub_idle_culler", f"--timeout={int(settings.culler.timeout)}",
                f"--cull-every={int(settings.culler.every)}"]
        if settings.culler.max_age:
            args.append(f"--max-age={int(settings.culler.max_age)}")
        if settings.culler.cull_users:
            args.append("--cull-users")
        services.append({"name": CULLER_SERVICE, "command": args})
    if runtime.admin_token:
        services.append({"name": ADMIN_SERVICE, "api_token": runtime.admin_token})
    return services


# --------------------------------------------------------------------------- the tutors' grading service


def grading_service(course: Course, accounts: Accounts, settings: HubSettings,
                    runtime: Runtime) -> dict[str, Any]:
    """The grading service (``gradehub.tutoring.service``): tutors grade their group's answers.

    It learns the hub's tutor accounts (the demo tutor included) and instructors from the
    environment; users log in through the hub's OAuth (tutors: the role gradehub-tutor).
    """
    return {
        "name": GRADING_SERVICE,
        "url": f"http://127.0.0.1:{runtime.grading_port}",
        "command": [runtime.python, "-m", "gradehub.tutoring.service", "--course-root", str(course.root)],
        "cwd": str(course.root),
        "environment": {**runtime.environ, "GRADEHUB_COURSE_ROOT": str(course.root),
                        "GRADEHUB_INSTRUCTORS": ",".join(accounts.instructors),
                        "GRADEHUB_TUTORS": json.dumps({g: list(t) for g, t in accounts.tutors.items()})},
        "oauth_no_confirm": True,
        "timeout": int(settings.spawner.start_timeout),
        "display": True,
        "info": {"description": "Tutors: grade the free-response answers of your group"},
    }


# --------------------------------------------------------------------------- spawner


def profile_options(settings: HubSettings) -> list[dict[str, Any]]:
    """The profile choice as plain dicts (what the spawner's form and KubeSpawner's list use)."""
    out = []
    for p in settings.profiles:
        out.append({"slug": p.slug, "display_name": p.display_name, "description": p.description,
                    "default": p.default, "cpu_limit": p.cpu_limit, "mem_limit": p.mem_limit,
                    "gpus": p.gpus})
    return out


def device_requests(gpus: int, settings: HubSettings) -> list[dict[str, Any]]:
    """Docker ``device_requests`` (``docker run --gpus N``) for ``gpus`` GPUs (-1: all)."""
    if gpus == 0:
        return []
    return [{"driver": settings.gpu.driver, "count": gpus,
             "capabilities": [list(settings.gpu.capabilities)]}]


def gpu_slot_free(active_gpu_servers: int, settings: HubSettings) -> bool:
    """Whether one more GPU server may start (the hub-wide cap)."""
    return active_gpu_servers < settings.gpu.max_servers


def singleuser_environment(course: Course, settings: HubSettings, runtime: Runtime) -> dict[str, str]:
    """What every spawned server gets: where the exchange is, the course id, the lab's layout."""
    return {
        "GRADEHUB_EXCHANGE_URL": exchange_client_url(settings, runtime),
        "GRADEHUB_COURSE_ID": course.id,
        "GRADEHUB_LAB_ROLE": "student",
        "JUPYTERHUB_DEFAULT_URL": "/lab",
    }


def server_token_scopes() -> list[str]:
    """$JUPYTERHUB_API_TOKEN in a user's server: the usual two, plus the exchange service."""
    return ["users:activity!user", "access:servers!server",
            f"access:services!service={EXCHANGE_SERVICE}"]


def apply_spawner(c: Any, course: Course, settings: HubSettings, runtime: Runtime) -> None:
    s = settings.spawner
    env = singleuser_environment(course, settings, runtime)
    c.Spawner.start_timeout = int(s.start_timeout)
    c.Spawner.http_timeout = int(s.http_timeout)
    c.Spawner.server_token_scopes = server_token_scopes()
    c.Spawner.default_url = "/lab"
    c.Spawner.mem_limit = s.mem_limit
    c.Spawner.cpu_limit = s.cpu_limit
    profiles = profile_options(settings) if settings.profiles_offered else []
    if settings.hub.mode == "local":
        c.JupyterHub.spawner_class = "gradehub.hub_spawners.LocalCourseSpawner"
        c.LocalCourseSpawner.local_users = s.local_users
        c.LocalCourseSpawner.homes_root = str(local_homes_root(course, settings, runtime))
        c.LocalCourseSpawner.cmd = [runtime.python, "-m", "gradehub.singleuser"]
        c.LocalCourseSpawner.environment = env
        c.LocalCourseSpawner.profiles = profiles
        c.LocalCourseSpawner.gpu_max_servers = settings.gpu.max_servers
    elif settings.hub.mode == "docker":
        c.JupyterHub.spawner_class = "gradehub.hub_spawners.CourseDockerSpawner"
        d = c.CourseDockerSpawner
        d.image = s.image
        d.cmd = list(s.cmd)
        d.environment = env
        d.network_name = s.network_name
        d.use_internal_ip = True      # no port bindings (on "host" they are an error)
        d.remove = s.remove_containers
        d.volumes = {s.home_volume: s.home_path}
        d.notebook_dir = s.home_path
        d.mem_limit = s.mem_limit
        d.cpu_limit = s.cpu_limit
        d.extra_create_kwargs = dict(s.extra_create_kwargs)
        d.profiles = profiles
        d.gpu_max_servers = settings.gpu.max_servers
        d.gpu_driver = settings.gpu.driver
        d.gpu_capabilities = list(settings.gpu.capabilities)
        d.debug = settings.hub.log_level.upper() == "DEBUG"
        if s.network_name == "host":
            # every server on the host's network: each needs its own port
            d.port = 0
    else:  # kubernetes: KubeSpawner via Zero-to-JupyterHub (hub/z2jh-values.yaml sets the rest)
        c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
        k = c.KubeSpawner
        k.image = s.image
        k.cmd = list(s.cmd)
        k.environment = env
        k.mem_limit = s.mem_limit
        k.cpu_limit = s.cpu_limit
        k.profile_list = kubespawner_profiles(settings) if settings.profiles_offered else []


def local_homes_root(course: Course, settings: HubSettings, runtime: Runtime) -> Path:
    """Where the embedded hub's servers get their homes: as root, outside the course root (its
    folders are closed to the servers' users); otherwise in the state folder."""
    from .hub_isolation import default_homes_root, effective_mode
    if settings.spawner.homes_root:
        return Path(settings.spawner.homes_root)
    if effective_mode(settings.spawner.local_users) == "system":
        return default_homes_root(course.id, runtime.state_dir)
    return runtime.state_dir / "homes"


def kubespawner_profiles(settings: HubSettings) -> list[dict[str, Any]]:
    """``KubeSpawner.profile_list`` for the same profiles (GPU: an ``nvidia.com/gpu`` limit)."""
    out = []
    for p in settings.profiles:
        override: dict[str, Any] = {"cpu_limit": p.cpu_limit, "mem_limit": p.mem_limit,
                                    "cpu_guarantee": min(p.cpu_limit, 0.5),
                                    "mem_guarantee": min(p.mem_limit, 1 * 2**30)}
        if p.gpus:
            override["extra_resource_limits"] = {"nvidia.com/gpu": str(p.gpus)}
            override["extra_resource_guarantees"] = {"nvidia.com/gpu": str(p.gpus)}
        out.append({"display_name": p.display_name, "slug": p.slug, "description": p.description,
                    "default": p.default, "kubespawner_override": override})
    return out


# --------------------------------------------------------------------------- the whole config


def apply_config(c: Any, course: Course, settings: HubSettings, runtime: Runtime,
                 roster: list[Student] | None = None) -> Any:
    """Fill ``c`` (a traitlets Config) with the whole hub configuration; returns ``c``."""
    roster = course.roster() if roster is None and course.roster_path.is_file() else (roster or [])
    accounts = build_accounts(course, roster, settings)
    h = settings.hub
    if h.mode != "kubernetes":
        # on Kubernetes the Zero-to-JupyterHub chart owns the network, the proxy and the database
        c.JupyterHub.bind_url = h.bind_url
        c.JupyterHub.hub_ip = h.hub_ip
        c.JupyterHub.hub_port = runtime.hub_port
        if h.hub_connect_host:
            c.JupyterHub.hub_connect_ip = h.hub_connect_host
        c.JupyterHub.db_url = h.db_url or f"sqlite:///{runtime.state_dir / 'jupyterhub.sqlite'}"
        c.JupyterHub.cookie_secret_file = str(runtime.state_dir / "jupyterhub_cookie_secret")
        c.JupyterHub.pid_file = str(runtime.state_dir / "jupyterhub.pid")
        # The pure-Python proxy buffers each response and gives up after 20 s by default, which
        # breaks the spawn page's progress stream (it ends only when the server is up).
        c.ConfigurableHTTPProxy.command = [*runtime.proxy_command, f"--proxy-timeout={PROXY_TIMEOUT_MS}"]
        c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{runtime.proxy_api_port}"
        c.ConfigurableHTTPProxy.pid_file = str(runtime.state_dir / "jupyterhub-proxy.pid")
        c.ConfigurableHTTPProxy.should_start = True
        c.JupyterHub.cleanup_servers = True
    c.JupyterHub.log_level = h.log_level.upper()
    c.JupyterHub.template_vars = {"announcement_login": f"{course.title} ({course.id})"}
    # the hub's own pages: nothing from another origin, no plugins, no framing (JupyterHub's
    # templates need their inline scripts; they render no student content). The formgrader and
    # the grading service, which do, send stricter policies: gradehub.formgrader, tutoring.service.
    tornado_settings = dict(c.JupyterHub.tornado_settings) if "tornado_settings" in c.JupyterHub else {}
    tornado_settings["headers"] = {**tornado_settings.get("headers", {}), "Content-Security-Policy": HUB_CSP}
    c.JupyterHub.tornado_settings = tornado_settings

    a = settings.accounts
    if a.authenticator == "gradehub":
        c.JupyterHub.authenticator_class = "gradehub.hubapp.CoursePasswordAuthenticator"
        c.CoursePasswordAuthenticator.accounts_file = str(runtime.state_dir / "accounts.json")
    else:
        c.JupyterHub.authenticator_class = a.authenticator
    for trait, value in a.authenticator_config.items():
        setattr(c.Authenticator, trait, value)
    c.Authenticator.allowed_users = set(accounts.usernames)
    c.Authenticator.admin_users = set(a.admin_users)
    c.Authenticator.allow_existing_users = True

    c.JupyterHub.load_groups = hub_groups(accounts)
    # merged with what is already configured (e.g. the chart's own culler service and its role)
    c.JupyterHub.load_roles = _merge_named(c.JupyterHub, "load_roles", hub_roles(accounts, settings))
    c.JupyterHub.services = _merge_named(c.JupyterHub, "services", hub_services(course, settings, runtime))
    if runtime.grading_port:
        c.JupyterHub.services = _merge_named(c.JupyterHub, "services",
                                             [grading_service(course, accounts, settings, runtime)])
    apply_spawner(c, course, settings, runtime)
    return c


def _merge_named(section: Any, key: str, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    existing = section[key] if key in section and isinstance(section[key], list) else []
    names = {item["name"] for item in new}
    return [item for item in existing if item.get("name") not in names] + new
