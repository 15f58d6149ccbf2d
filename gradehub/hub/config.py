"""The JupyterHub configuration, built by pure functions over a traitlets ``Config``.

``hub/jupyterhub_config.py`` and ``gradehub hub`` both call :func:`apply_config`; tests call
the same functions and assert on the resulting traits without running a hub.

Inputs, all passed in and read-only here (nothing in this module reads a file):

* the course (``course.toml``: course id, ``[tutors]`` group → tutor accounts) and its roster
  (the students and their groups, read once by the caller);
* :class:`~gradehub.hub.settings.HubSettings` (``gradehub.hub.settings.load_settings``);
* :class:`~gradehub.hub.runtime.Runtime`: what only exists once the hub starts (state folder,
  chosen ports, the Python that runs the services). ``gradehub.hub.runtime.prepare_runtime``
  makes it; tests make their own.

Who may do what (JupyterHub RBAC, see :func:`hub_roles`):

=================  =============================================================================
group              rights
=================  =============================================================================
``students``       their own server, the exchange service (fetch, submit, feedback: their own) and
                   the grades service (their own results)
``students-<G>``   the same; only used to scope what the tutors of group G may see
``tutors``         the grading service (their own groups' answers only), the exchange service,
                   the grades service (their own groups' results pages)
``tutors-<G>``     list/read the users and group of ``students-<G>``
``instructors``    course admin: the admin page, all users, servers, groups, every service
=================  =============================================================================
"""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

from ..course import Course, Student
from .accounts import (
    GROUP_INSTRUCTORS,
    GROUP_STUDENTS,
    GROUP_TUTORS,
    Accounts,
    build_accounts,
    hub_groups,
)
from .isolation import default_homes_root, effective_mode
from .runtime import Runtime
from .settings import HubSettings

EXCHANGE_SERVICE = "gradehub-exchange"
FORMGRADER_SERVICE = "formgrader"
CULLER_SERVICE = "idle-culler"
ADMIN_SERVICE = "gradehub-admin"
GRADING_SERVICE = "grading"  # the tutors' grading service (gradehub.tutoring)
GRADES_SERVICE = "grades"  # students' results (gradehub.hub.grades)

PROXY_TIMEOUT_MS = 24 * 3600 * 1000
HUB_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "frame-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)

INSTRUCTOR_SCOPES = (
    "admin-ui",
    "admin:users",
    "admin:servers",
    "admin:groups",
    "list:users",
    "read:users",
    "list:groups",
    "read:groups",
    "access:servers",
    "access:services",
    "list:services",
    "read:services",
    "read:roles",
    "read:hub",
)
CULLER_SCOPES = ("list:users", "read:users:activity", "read:servers", "delete:servers")
ADMIN_SERVICE_SCOPES = ("list:users", "read:users", "admin:users", "list:groups", "read:groups", "admin:groups")


def hub_roles(accounts: Accounts, settings: HubSettings) -> list[dict[str, Any]]:
    """``JupyterHub.load_roles``: what each group (and each gradehub service) may do."""
    exchange = f"access:services!service={EXCHANGE_SERVICE}"
    grades = f"access:services!service={GRADES_SERVICE}"
    roles: list[dict[str, Any]] = [
        {
            "name": "gradehub-student",
            "description": "A student: own server, the exchange for own work, own grades",
            "scopes": ["self", exchange, grades],
            "groups": [GROUP_STUDENTS],
        },
        # Not the formgrader: it shows and lets one edit every student's grades and also
        # releases and collects; nbgrader cannot limit it to a group. Tutors grade in the
        # grading service, which shows them their own groups' answers only.
        {
            "name": "gradehub-tutor",
            "description": "A tutor: the grading service, the exchange and their students' grades pages",
            "scopes": ["self", exchange, f"access:services!service={GRADING_SERVICE}", grades],
            "groups": [GROUP_TUTORS],
        },
        {
            "name": "gradehub-instructor",
            "description": "An instructor: admin of the course",
            "scopes": ["self", *INSTRUCTOR_SCOPES],
            "groups": [GROUP_INSTRUCTORS],
        },
    ]
    for group in accounts.tutors:
        students = f"students-{group}"
        roles.append(
            {
                "name": f"gradehub-tutor-{_role_slug(group)}",
                "description": f"Tutors of group {group}: see the students of group {group}",
                "scopes": [
                    f"list:users!group={students}",
                    f"read:users!group={students}",
                    f"read:groups!group={students}",
                    f"list:groups!group={students}",
                ],
                "groups": [f"tutors-{group}"],
            }
        )
    roles.append(
        {
            "name": "gradehub-admin-service",
            "description": "gradehub hub sync-roster",
            "scopes": list(ADMIN_SERVICE_SCOPES),
            "services": [ADMIN_SERVICE],
        }
    )
    if settings.culler.enabled:
        scopes = list(CULLER_SCOPES) + (["admin:users"] if settings.culler.cull_users else [])
        roles.append(
            {
                "name": "gradehub-idle-culler",
                "description": "jupyterhub-idle-culler",
                "scopes": scopes,
                "services": [CULLER_SERVICE],
            }
        )
    return roles


def _role_slug(group: str) -> str:
    slug = re.sub(r"[^a-z0-9-]", "-", group.lower()).strip("-")
    return slug or "group"


# --------------------------------------------------------------------------- runtime + services


def connect_host(settings: HubSettings) -> str:
    host = settings.hub.hub_connect_host or settings.hub.hub_ip
    return "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 - a comparison, not a bind


def exchange_client_url(settings: HubSettings, runtime: Runtime) -> str:
    """The exchange service's URL as the single-user servers see it."""
    if settings.exchange.url:
        return settings.exchange.url.rstrip("/") + "/"
    return f"http://{connect_host(settings)}:{runtime.exchange_port}/"


def hub_services(course: Course, settings: HubSettings, runtime: Runtime) -> list[dict[str, Any]]:
    """``JupyterHub.services``: exchange, formgrader, idle culler, the admin token for sync-roster."""
    listen = settings.exchange.listen_ip or settings.hub.hub_ip
    env = {**runtime.environ, "GRADEHUB_COURSE_ROOT": str(course.root), "GRADEHUB_EXCHANGE": str(runtime.exchange_dir)}
    services: list[dict[str, Any]] = [
        {
            "name": EXCHANGE_SERVICE,
            "url": f"http://{listen}:{runtime.exchange_port}",
            "command": [
                runtime.python,
                "-m",
                "gradehub.hub.exchange.service",
                "--course-root",
                str(course.root),
                "--course-id",
                course.id,
                "--exchange-root",
                str(runtime.exchange_dir),
                "--max-upload",
                str(settings.exchange.max_upload),
                "--max-files",
                str(settings.exchange.max_files),
            ],
            "environment": dict(env),
            "display": False,
            "oauth_no_confirm": True,
            "timeout": int(settings.spawner.start_timeout),
        },
    ]
    if settings.formgrader.enabled:
        services.append(
            {
                "name": FORMGRADER_SERVICE,
                "url": f"http://127.0.0.1:{runtime.formgrader_port}",
                "command": [runtime.python, "-m", "gradehub.hub.singleuser", "--formgrader"],
                "cwd": str(course.root),
                "environment": {**env, "JUPYTERHUB_DEFAULT_URL": "/formgrader"},
                "oauth_no_confirm": True,
                "timeout": int(settings.spawner.start_timeout),
                "display": True,
                "info": {"description": "nbgrader formgrader: manage, collect, grade"},
            }
        )
    if settings.culler.enabled:
        args = [
            runtime.python,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={int(settings.culler.timeout)}",
            f"--cull-every={int(settings.culler.every)}",
        ]
        if settings.culler.max_age:
            args.append(f"--max-age={int(settings.culler.max_age)}")
        if settings.culler.cull_users:
            args.append("--cull-users")
        services.append({"name": CULLER_SERVICE, "command": args})
    if runtime.admin_token:
        services.append({"name": ADMIN_SERVICE, "api_token": runtime.admin_token})
    return services


# --------------------------------------------------------------------------- the tutors' grading service


def _course_service(
    name: str,
    url: str,
    module: str,
    description: str,
    course: Course,
    accounts: Accounts,
    settings: HubSettings,
    runtime: Runtime,
) -> dict[str, Any]:
    """A hub-managed service of gradehub's that reads the course and knows its staff (the
    grading and grades services): the hub starts ``python -m module``; users log in by OAuth."""
    return {
        "name": name,
        "url": url,
        "command": [runtime.python, "-m", module, "--course-root", str(course.root)],
        "cwd": str(course.root),
        "environment": {
            **runtime.environ,
            "GRADEHUB_COURSE_ROOT": str(course.root),
            "GRADEHUB_INSTRUCTORS": ",".join(accounts.instructors),
            "GRADEHUB_TUTORS": json.dumps({g: list(t) for g, t in accounts.tutors.items()}),
        },
        "oauth_no_confirm": True,
        "timeout": int(settings.spawner.start_timeout),
        "display": True,
        "info": {"description": description},
    }


def grading_service(course: Course, accounts: Accounts, settings: HubSettings, runtime: Runtime) -> dict[str, Any]:
    """The grading service (``gradehub.tutoring.service``): tutors grade their group's answers.

    It learns the hub's tutor accounts (the demo tutor included) and instructors from the
    environment; users log in through the hub's OAuth (tutors: the role gradehub-tutor).
    """
    return _course_service(
        GRADING_SERVICE, f"http://127.0.0.1:{runtime.grading_port}", "gradehub.tutoring.service",
        "Tutors: grade the free-response answers of your group", course, accounts, settings, runtime,
    )  # fmt: skip


def grades_service(course: Course, accounts: Accounts, settings: HubSettings, runtime: Runtime) -> dict[str, Any]:
    """The grades service (``gradehub.hub.grades``): each student's results, deadlines, feedback.

    Students see their own page only; tutors their students' (the demo tutor is passed in
    like to the grading service), instructors everyone's, and release grades there.
    """
    # listening where the exchange does: the students' servers call /api/me with their own token
    listen = settings.exchange.listen_ip or settings.hub.hub_ip
    return _course_service(
        GRADES_SERVICE, f"http://{listen}:{runtime.grades_port}", "gradehub.hub.grades.service",
        "Your grades, feedback and deadlines", course, accounts, settings, runtime,
    )  # fmt: skip


def grades_client_url(settings: HubSettings, runtime: Runtime) -> str:
    """The grades service's URL as the single-user servers see it (``$GRADEHUB_GRADES_URL``)."""
    return f"http://{connect_host(settings)}:{runtime.grades_port}/services/{GRADES_SERVICE}/"


def home_announcement(base_url: str = "/") -> str:
    """A link to the grades page at the top of the hub's home page (a fixed string: no user data)."""
    href = base_url.rstrip("/") + f"/services/{GRADES_SERVICE}/"
    return f'<a href="{href}">Your grades, feedback and deadlines</a>'


# --------------------------------------------------------------------------- spawner


def profile_options(settings: HubSettings) -> list[dict[str, Any]]:
    """The profile choice as plain dicts (what the spawner's form and KubeSpawner's list use)."""
    out = []
    for p in settings.profiles:
        out.append(
            {
                "slug": p.slug,
                "display_name": p.display_name,
                "description": p.description,
                "default": p.default,
                "cpu_limit": p.cpu_limit,
                "mem_limit": p.mem_limit,
                "gpus": p.gpus,
            }
        )
    return out


def device_requests(gpus: int, settings: HubSettings) -> list[dict[str, Any]]:
    """Docker ``device_requests`` (``docker run --gpus N``) for ``gpus`` GPUs (-1: all)."""
    if gpus == 0:
        return []
    return [{"driver": settings.gpu.driver, "count": gpus, "capabilities": [list(settings.gpu.capabilities)]}]


def gpu_slot_free(active_gpu_servers: int, settings: HubSettings) -> bool:
    """Whether one more GPU server may start (the hub-wide cap)."""
    return active_gpu_servers < settings.gpu.max_servers


def singleuser_environment(course: Course, settings: HubSettings, runtime: Runtime) -> dict[str, str]:
    """What every spawned server gets: where the exchange (and the grades service) is, the
    course id, the lab's layout."""
    env = {
        "GRADEHUB_EXCHANGE_URL": exchange_client_url(settings, runtime),
        "GRADEHUB_COURSE_ID": course.id,
        "GRADEHUB_LAB_ROLE": "student",
        "JUPYTERHUB_DEFAULT_URL": "/lab",
    }
    if runtime.grades_port:
        env["GRADEHUB_GRADES_URL"] = grades_client_url(settings, runtime)
    return env


def server_token_scopes() -> list[str]:
    """$JUPYTERHUB_API_TOKEN in a user's server: the usual two, plus the exchange service and the
    grades service (the lab asks ``$GRADEHUB_GRADES_URL/api/me`` for the student's deadlines)."""
    return [
        "users:activity!user",
        "access:servers!server",
        f"access:services!service={EXCHANGE_SERVICE}",
        f"access:services!service={GRADES_SERVICE}",
    ]


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
        c.JupyterHub.spawner_class = "gradehub.hub.spawners.LocalCourseSpawner"
        c.LocalCourseSpawner.local_users = s.local_users
        c.LocalCourseSpawner.homes_root = str(local_homes_root(course, settings, runtime))
        c.LocalCourseSpawner.cmd = [runtime.python, "-m", "gradehub.hub.singleuser"]
        c.LocalCourseSpawner.environment = env
        c.LocalCourseSpawner.profiles = profiles
        c.LocalCourseSpawner.gpu_max_servers = settings.gpu.max_servers
    elif settings.hub.mode == "docker":
        c.JupyterHub.spawner_class = "gradehub.hub.spawners.CourseDockerSpawner"
        d = c.CourseDockerSpawner
        d.image = s.image
        d.cmd = list(s.cmd)
        d.environment = env
        d.network_name = s.network_name
        d.use_internal_ip = True  # no port bindings (on "host" they are an error)
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
    if settings.spawner.homes_root:
        return Path(settings.spawner.homes_root)
    if effective_mode(settings.spawner.local_users) == "system":
        return default_homes_root(course.id, runtime.state_dir)
    return runtime.state_dir / "homes"


def kubespawner_profiles(settings: HubSettings) -> list[dict[str, Any]]:
    """``KubeSpawner.profile_list`` for the same profiles (GPU: an ``nvidia.com/gpu`` limit)."""
    out = []
    for p in settings.profiles:
        override: dict[str, Any] = {
            "cpu_limit": p.cpu_limit,
            "mem_limit": p.mem_limit,
            "cpu_guarantee": min(p.cpu_limit, 0.5),
            "mem_guarantee": min(p.mem_limit, 1 * 2**30),
        }
        if p.gpus:
            override["extra_resource_limits"] = {"nvidia.com/gpu": str(p.gpus)}
            override["extra_resource_guarantees"] = {"nvidia.com/gpu": str(p.gpus)}
        out.append(
            {
                "display_name": p.display_name,
                "slug": p.slug,
                "description": p.description,
                "default": p.default,
                "kubespawner_override": override,
            }
        )
    return out


# --------------------------------------------------------------------------- the whole config


def apply_config(c: Any, course: Course, settings: HubSettings, runtime: Runtime, *, roster: list[Student]) -> Any:
    """Fill ``c`` (a traitlets Config) with the whole hub configuration; returns ``c``.

    ``roster``: the students (``course.roster()``, or ``[]`` without a roster file), read by the
    caller; this function reads no file.
    """
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
    if runtime.grades_port:
        base_url = urllib.parse.urlparse(h.bind_url).path or "/"
        c.JupyterHub.template_vars = {**c.JupyterHub.template_vars, "announcement_home": home_announcement(base_url)}
    # the hub's own pages: nothing from another origin, no plugins, no framing (JupyterHub's
    # templates need their inline scripts; they render no student content). The formgrader and
    # the grading service, which do, send stricter policies: gradehub.hub.formgrader, tutoring.service.
    tornado_settings = dict(c.JupyterHub.tornado_settings) if "tornado_settings" in c.JupyterHub else {}
    tornado_settings["headers"] = {**tornado_settings.get("headers", {}), "Content-Security-Policy": HUB_CSP}
    c.JupyterHub.tornado_settings = tornado_settings

    a = settings.accounts
    if a.authenticator == "gradehub":
        c.JupyterHub.authenticator_class = "gradehub.hub.auth.CoursePasswordAuthenticator"
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
        c.JupyterHub.services = _merge_named(
            c.JupyterHub, "services", [grading_service(course, accounts, settings, runtime)]
        )
    if runtime.grades_port:
        c.JupyterHub.services = _merge_named(
            c.JupyterHub, "services", [grades_service(course, accounts, settings, runtime)]
        )
    apply_spawner(c, course, settings, runtime)
    return c


def _merge_named(section: Any, key: str, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    existing = section[key] if key in section and isinstance(section[key], list) else []
    names = {item["name"] for item in new}
    return [item for item in existing if item.get("name") not in names] + new
