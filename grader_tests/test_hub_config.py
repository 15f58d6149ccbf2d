"""The hub configuration as data: every role, group, profile, limit and service, without a hub.

Also the exchange's access rules (``gradehub.hub.exchange.store.ExchangeStore``) on a temp folder,
and the Jupyter config that ``gradehub.hub.singleuser`` writes for students and the formgrader.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from traitlets.config import Config

from conftest import REPO
from hubtools import with_tutors
from gradehub.course import Student, load_course
from gradehub.hub.accounts import DEMO_INSTRUCTOR, DEMO_STUDENT, DEMO_TUTOR, build_accounts, hub_groups
from gradehub.hub.config import (ADMIN_SERVICE, CULLER_SERVICE, EXCHANGE_SERVICE, FORMGRADER_SERVICE, apply_config,
                                 device_requests, gpu_slot_free, kubespawner_profiles, server_token_scopes)
from gradehub.hub.exchange.store import ExchangeRejected, ExchangeStore
from gradehub.hub.runtime import Runtime
from gradehub.hub.settings import HubSettings, HubSettingsError, env_overrides, load_settings

GiB = 2**30
ROSTER = [Student("s1", "A", "A", "a@x", "A"), Student("s2", "B", "B", "b@x", "B"),
          Student("s3", "C", "C", "c@x", "A")]


@pytest.fixture
def course(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    (root / "course.toml").write_text(with_tutors((REPO / "course.toml").read_text(),
                                                  '\n[tutors]\nA = ["tina"]\nB = ["tom", "tess"]\n'))
    return load_course(root)


def runtime(course, **kw):
    base = dict(course_root=course.root, state_dir=course.root / ".gradehub" / "hub", python="/venv/bin/python",
                hub_port=18081, proxy_api_port=18001, exchange_port=18101, formgrader_port=18102,
                admin_token="t0ken", proxy_command=("/venv/bin/configurable-http-proxy",))
    base.update(kw)
    return Runtime(**base)


def config(course, settings=None, **kw):
    return apply_config(Config(), course, settings or HubSettings(), runtime(course, **kw), roster=ROSTER)


def role(c, name):
    [r] = [r for r in c.JupyterHub.load_roles if r["name"] == name]
    return r


def service(c, name):
    [s] = [s for s in c.JupyterHub.services if s["name"] == name]
    return s


# --------------------------------------------------------------------------- settings


def test_shipped_settings_file_is_exactly_the_defaults():
    assert load_settings(REPO / "hub" / "settings.toml", environ={}) == HubSettings()


def test_defaults_are_the_embedded_hub():
    s = HubSettings()
    assert s.hub.mode == "local"
    assert s.hub.bind_url == "http://127.0.0.1:8000/"
    assert s.hub.hub_ip == "127.0.0.1" and s.hub.db_url == ""
    assert s.accounts.demo is True
    assert not s.profiles_offered            # no CPU/GPU choice on a laptop


def test_environment_overrides_every_kind_of_value():
    env = {"GRADEHUB_HUB__SPAWNER__MEM_LIMIT": "3GiB", "GRADEHUB_HUB__SPAWNER__CPU_LIMIT": "1.5",
           "GRADEHUB_HUB__HUB__MODE": "docker", "GRADEHUB_HUB__GPU__MAX_SERVERS": "4",
           "GRADEHUB_HUB__ACCOUNTS__INSTRUCTORS": '["prof", "assistant"]',
           "GRADEHUB_HUB__CULLER__TIMEOUT": "30min", "GRADEHUB_HUB__ACCOUNTS__DEMO": "false",
           "GRADEHUB_HUB__PROFILES": '[{slug = "big", display_name = "Big", gpus = 2, mem_limit = "64GiB"}]',
           "UNRELATED": "x"}
    s = load_settings(None, environ=env)
    assert s.spawner.mem_limit == 3 * GiB and s.spawner.cpu_limit == 1.5
    assert s.hub.mode == "docker" and s.gpu.max_servers == 4
    assert s.accounts.instructors == ("prof", "assistant") and s.accounts.demo is False
    assert s.culler.timeout == 1800
    assert [(p.slug, p.gpus, p.mem_limit) for p in s.profiles] == [("big", 2, 64 * GiB)]
    assert env_overrides({"GRADEHUB_HUB__HUB__LOG_LEVEL": "DEBUG"}) == {"hub": {"log_level": "DEBUG"}}


@pytest.mark.parametrize("env, words", [
    ({"GRADEHUB_HUB__SPAWNER__MEMORY": "2GiB"}, "unknown key(s) 'memory'"),
    ({"GRADEHUB_HUB__NOPE__X": "1"}, "unknown section(s) 'nope'"),
    ({"GRADEHUB_HUB__HUB__MODE": "swarm"}, "not one of local, docker, kubernetes"),
    ({"GRADEHUB_HUB__GPU__MAX_SERVERS": "two"}, "expected an integer"),
    ({"GRADEHUB_HUB__SPAWNER__MEM_LIMIT": "100MiB"}, "below 256MiB"),
    ({"GRADEHUB_HUB__SPAWNER": "x"}, "GRADEHUB_HUB__<SECTION>__<KEY>"),
    ({"GRADEHUB_HUB__PROFILES": '[{slug = "Bad Slug", display_name = "x"}]'}, "not a valid slug"),
    ({"GRADEHUB_HUB__PROFILES": '[{slug = "a", display_name = "a", default = true},'
                                '{slug = "b", display_name = "b", default = true}]'}, "at most one profile"),
])
def test_bad_settings_name_the_key(env, words):
    with pytest.raises(HubSettingsError, match=None) as err:
        load_settings(None, environ=env)
    assert words in str(err.value)


def test_settings_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "settings.toml"
    bad.write_text("[spawner]\nmem_limit = 4\nimage = 3\n")
    with pytest.raises(HubSettingsError) as err:
        load_settings(bad, environ={})
    assert str(bad) in str(err.value)


# --------------------------------------------------------------------------- accounts, groups, roles


def test_groups_follow_the_roster_and_the_tutors_table(course):
    accounts = build_accounts(course, ROSTER, HubSettings())
    groups = {name: sorted(spec["users"]) for name, spec in hub_groups(accounts).items()}
    assert groups == {
        "students": ["demo-student", "s1", "s2", "s3"],
        "students-A": ["demo-student", "s1", "s3"],
        "students-B": ["s2"],
        "tutors": ["demo-tutor", "tess", "tina", "tom"],
        "tutors-A": ["demo-tutor", "tina"],
        "tutors-B": ["tess", "tom"],
        "instructors": ["demo-instructor"],
    }


def test_without_demo_accounts_only_the_course_people_exist(course):
    s = HubSettings().replace(accounts={"demo": False, "instructors": ["prof"]})
    accounts = build_accounts(course, ROSTER, s)
    assert accounts.usernames == ["prof", "s1", "s2", "s3", "tess", "tina", "tom"]
    assert accounts.demo == {}


def test_student_and_staff_accounts_may_not_overlap(course):
    s = HubSettings().replace(accounts={"instructors": ["s1"]})
    with pytest.raises(HubSettingsError, match="both students and staff"):
        build_accounts(course, ROSTER, s)


def test_student_role_is_own_server_the_exchange_and_the_grades_page_only(course):
    c = config(course)
    r = role(c, "gradehub-student")
    assert r["groups"] == ["students"]
    assert sorted(r["scopes"]) == sorted(["self", f"access:services!service={EXCHANGE_SERVICE}",
                                          "access:services!service=grades"])
    assert not any("formgrader" in s for s in r["scopes"])


def test_tutor_roles_give_the_grading_service_and_their_own_group_not_the_formgrader(course):
    from gradehub.hub.config import GRADING_SERVICE
    c = config(course)
    t = role(c, "gradehub-tutor")
    assert t["groups"] == ["tutors"]
    assert f"access:services!service={GRADING_SERVICE}" in t["scopes"]
    assert f"access:services!service={EXCHANGE_SERVICE}" in t["scopes"]
    assert not any("formgrader" in s for s in t["scopes"])     # it would show every student
    assert not any(s.startswith(("admin", "access:servers")) for s in t["scopes"])
    a = role(c, "gradehub-tutor-a")
    assert a["groups"] == ["tutors-A"]
    assert sorted(a["scopes"]) == sorted(["list:users!group=students-A", "read:users!group=students-A",
                                          "read:groups!group=students-A", "list:groups!group=students-A"])
    assert role(c, "gradehub-tutor-b")["groups"] == ["tutors-B"]


def test_instructor_role_is_course_admin(course):
    c = config(course)
    r = role(c, "gradehub-instructor")
    assert r["groups"] == ["instructors"]
    for scope in ("admin-ui", "admin:users", "admin:servers", "admin:groups", "access:services", "access:servers"):
        assert scope in r["scopes"]
    assert c.Authenticator.admin_users == set()     # scoped admin, not JupyterHub's full admin


def test_service_roles(course):
    c = config(course)
    culler = role(c, "gradehub-idle-culler")
    assert culler["services"] == [CULLER_SERVICE]
    assert sorted(culler["scopes"]) == sorted(["list:users", "read:users:activity", "read:servers", "delete:servers"])
    admin = role(c, "gradehub-admin-service")
    assert admin["services"] == [ADMIN_SERVICE]
    assert "admin:groups" in admin["scopes"] and "admin:servers" not in admin["scopes"]
    assert service(c, ADMIN_SERVICE) == {"name": ADMIN_SERVICE, "api_token": "t0ken"}


def test_everyone_on_the_roster_is_allowed_and_nobody_else(course):
    c = config(course)
    assert c.Authenticator.allowed_users == {"s1", "s2", "s3", "tina", "tom", "tess",
                                             DEMO_STUDENT, DEMO_TUTOR, DEMO_INSTRUCTOR}
    assert c.JupyterHub.authenticator_class == "gradehub.hub.auth.CoursePasswordAuthenticator"
    assert c.CoursePasswordAuthenticator.accounts_file.endswith("accounts.json")


def test_another_authenticator_gets_its_traits(course):
    s = HubSettings().replace(accounts={"authenticator": "oauthenticator.generic.GenericOAuthenticator",
                                        "authenticator_config": {"login_service": "Uni SSO"}})
    c = config(course, s)
    assert c.JupyterHub.authenticator_class == "oauthenticator.generic.GenericOAuthenticator"
    assert c.Authenticator.login_service == "Uni SSO"


# --------------------------------------------------------------------------- the embedded hub


def test_embedded_hub_is_local_sqlite_loopback(course):
    c = config(course)
    state = course.root / ".gradehub" / "hub"
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8000/"
    assert c.JupyterHub.hub_ip == "127.0.0.1" and c.JupyterHub.hub_port == 18081
    assert c.JupyterHub.db_url == f"sqlite:///{state / 'jupyterhub.sqlite'}"
    assert c.JupyterHub.spawner_class == "gradehub.hub.spawners.LocalCourseSpawner"
    from gradehub.hub.isolation import default_homes_root, is_root
    assert c.LocalCourseSpawner.local_users == "auto"
    # as root, homes outside the course root (its private folders are closed to the servers' users)
    assert c.LocalCourseSpawner.homes_root == str(default_homes_root("nat3008", state) if is_root()
                                                  else state / "homes")
    assert c.LocalCourseSpawner.cmd == ["/venv/bin/python", "-m", "gradehub.hub.singleuser"]
    assert c.LocalCourseSpawner.profiles == []
    assert c.ConfigurableHTTPProxy.command == ["/venv/bin/configurable-http-proxy", "--proxy-timeout=86400000"]
    assert c.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:18001"


def test_servers_reach_the_exchange_and_get_a_token_for_it(course):
    c = config(course)
    env = c.LocalCourseSpawner.environment
    assert env["GRADEHUB_EXCHANGE_URL"] == "http://127.0.0.1:18101/"
    assert env["GRADEHUB_COURSE_ID"] == "nat3008"
    assert c.Spawner.server_token_scopes == server_token_scopes()
    assert f"access:services!service={EXCHANGE_SERVICE}" in c.Spawner.server_token_scopes


def test_exchange_formgrader_and_culler_services(course):
    c = config(course)
    ex = service(c, EXCHANGE_SERVICE)
    assert ex["url"] == "http://127.0.0.1:18101"
    assert ex["command"][:3] == ["/venv/bin/python", "-m", "gradehub.hub.exchange.service"]
    assert ex["display"] is False
    assert ex["environment"]["GRADEHUB_EXCHANGE"] == str(course.root / "exchange")
    fg = service(c, FORMGRADER_SERVICE)
    assert fg["command"] == ["/venv/bin/python", "-m", "gradehub.hub.singleuser", "--formgrader"]
    assert fg["cwd"] == str(course.root) and fg["display"] is True
    assert fg["environment"]["JUPYTERHUB_DEFAULT_URL"] == "/formgrader"
    assert fg["url"] == "http://127.0.0.1:18102"
    cull = service(c, CULLER_SERVICE)
    assert cull["command"] == ["/venv/bin/python", "-m", "jupyterhub_idle_culler", "--timeout=3600", "--cull-every=600"]


def test_culler_limits_and_switches(course):
    s = HubSettings().replace(culler={"timeout": "20min", "every": "2min", "max_age": "8h", "cull_users": True})
    c = config(course, s)
    assert service(c, CULLER_SERVICE)["command"][3:] == ["--timeout=1200", "--cull-every=120", "--max-age=28800",
                                                         "--cull-users"]
    assert "admin:users" in role(c, "gradehub-idle-culler")["scopes"]
    off = config(course, HubSettings().replace(culler={"enabled": False}, formgrader={"enabled": False}))
    names = [x["name"] for x in off.JupyterHub.services]
    assert CULLER_SERVICE not in names and FORMGRADER_SERVICE not in names
    assert not any(r["name"] == "gradehub-idle-culler" for r in off.JupyterHub.load_roles)


# --------------------------------------------------------------------------- Docker and Kubernetes


def docker_settings(**spawner):
    return HubSettings().replace(hub={"mode": "docker", "hub_ip": "0.0.0.0", "hub_connect_host": "hub",
                                      "db_url": "postgresql://hub@db/hub"},
                                 spawner=spawner)


def test_docker_spawner_limits_volume_network(course):
    c = config(course, docker_settings(mem_limit="3GiB", cpu_limit=1.5))
    d = c.CourseDockerSpawner
    assert c.JupyterHub.spawner_class == "gradehub.hub.spawners.CourseDockerSpawner"
    assert d.image == "gradehub/notebook:latest"
    assert d.cmd == ["python3", "-m", "gradehub.singleuser"]
    assert d.volumes == {"gradehub-home-{username}": "/home/jovyan"}
    assert d.notebook_dir == "/home/jovyan"
    assert d.mem_limit == 3 * GiB and d.cpu_limit == 1.5
    assert d.network_name == "gradehub" and d.use_internal_ip is True and d.remove is True
    assert d.environment["GRADEHUB_EXCHANGE_URL"] == "http://hub:18101/"
    assert c.JupyterHub.hub_connect_ip == "hub"
    assert c.JupyterHub.db_url == "postgresql://hub@db/hub"


def test_docker_profiles_cpu_and_gpu_with_the_gpu_cap(course):
    c = config(course, docker_settings())
    d = c.CourseDockerSpawner
    assert [(p["slug"], p["cpu_limit"], p["mem_limit"], p["gpus"], p["default"]) for p in d.profiles] == [
        ("cpu", 4.0, 8 * GiB, 0, True), ("gpu", 8.0, 32 * GiB, 1, False)]
    assert d.gpu_max_servers == 2
    assert d.gpu_driver == "nvidia" and d.gpu_capabilities == ["gpu"]


def test_device_requests_and_cap_are_plain_functions():
    s = HubSettings()
    assert device_requests(0, s) == []
    assert device_requests(1, s) == [{"driver": "nvidia", "count": 1, "capabilities": [["gpu"]]}]
    assert device_requests(-1, s)[0]["count"] == -1
    assert gpu_slot_free(0, s) and gpu_slot_free(1, s) and not gpu_slot_free(2, s)
    assert not gpu_slot_free(0, s.replace(gpu={"max_servers": 0}))


def test_kubespawner_profiles_request_gpus(course):
    s = HubSettings().replace(hub={"mode": "kubernetes"})
    c = config(course, s)
    assert c.JupyterHub.spawner_class == "kubespawner.KubeSpawner"
    cpu, gpu = c.KubeSpawner.profile_list
    assert cpu["kubespawner_override"]["cpu_limit"] == 4.0 and "extra_resource_limits" not in cpu["kubespawner_override"]
    assert gpu["kubespawner_override"]["extra_resource_limits"] == {"nvidia.com/gpu": "1"}
    assert gpu["kubespawner_override"]["mem_limit"] == 32 * GiB
    assert kubespawner_profiles(s) == c.KubeSpawner.profile_list


def test_z2jh_values_match_the_settings():
    yaml = pytest.importorskip("yaml")
    values = yaml.safe_load((REPO / "hub" / "z2jh-values.yaml").read_text())
    s = HubSettings()
    assert values["singleuser"]["image"]["name"] == s.spawner.image.split(":")[0]
    assert values["singleuser"]["cmd"] == list(s.spawner.cmd)
    slugs = [p["slug"] for p in values["singleuser"]["profileList"]]
    assert slugs == [p.slug for p in s.profiles]
    gpu = values["singleuser"]["profileList"][1]["kubespawner_override"]
    assert gpu["extra_resource_limits"] == {"nvidia.com/gpu": "1"}
    assert values["cull"]["enabled"] is True and values["cull"]["timeout"] == int(s.culler.timeout)
    assert values["hub"]["image"]["name"] == "gradehub/hub"


# --------------------------------------------------------------------------- spawner classes


class FakeUser:
    def __init__(self, name):
        self.name = name
        self.id = 1
        self.url = f"/user/{name}/"
        self.server = None
        self.settings = {}

    def __getattr__(self, item):
        return None


def _spawner(cls, name, profiles, cap=1, options=None):
    sp = cls(user=FakeUser(name), config=Config(), _deprecated_db_session=None)
    sp.profiles = profiles
    sp.gpu_max_servers = cap
    sp.user_options = options or {}
    return sp


def test_spawner_profile_choice_form_and_gpu_cap():
    pytest.importorskip("jupyterhub")
    from tornado import web

    from gradehub.hub.spawners import LocalCourseSpawner, ProfilesMixin
    from gradehub.hub.config import profile_options

    ProfilesMixin._gpu_holders.clear()
    profiles = profile_options(HubSettings())
    a = _spawner(LocalCourseSpawner, "a", profiles, options={"profile": "gpu"})
    b = _spawner(LocalCourseSpawner, "b", profiles, options={"profile": "gpu"})
    c = _spawner(LocalCourseSpawner, "c", profiles)
    form = a.render_options_form()
    assert 'value="cpu" checked' in form and 'value="gpu"' in form and "1 of 1 free" in form
    assert a.run_options_from_form({"profile": ["gpu"]}) == {"profile": "gpu"}
    assert c.selected_profile()["slug"] == "cpu"
    a._take_gpu_slot(a.selected_profile())
    with pytest.raises(web.HTTPError) as err:
        b._take_gpu_slot(b.selected_profile())
    assert err.value.status_code == 409 and "GPU servers are in use" in err.value.log_message
    c._take_gpu_slot(c.selected_profile())            # CPU servers never wait
    assert "0 of 1 free" in b.render_options_form()
    a._release_gpu_slot()
    b._take_gpu_slot(b.selected_profile())
    bad = _spawner(LocalCourseSpawner, "d", profiles, options={"profile": "nope"})
    with pytest.raises(web.HTTPError):
        bad.selected_profile()
    ProfilesMixin._gpu_holders.clear()


def test_gpu_slot_survives_a_hub_restart_through_state():
    pytest.importorskip("jupyterhub")
    from gradehub.hub.spawners import LocalCourseSpawner, ProfilesMixin
    from gradehub.hub.config import profile_options

    ProfilesMixin._gpu_holders.clear()
    sp = _spawner(LocalCourseSpawner, "a", profile_options(HubSettings()), options={"profile": "gpu"})
    sp._current_profile = sp.selected_profile()
    state = sp.get_state()
    assert state["gradehub_profile"] == "gpu" and state["gradehub_gpu"] is True
    again = _spawner(LocalCourseSpawner, "a", profile_options(HubSettings()))
    again.load_state(state)
    assert ProfilesMixin._gpu_holders == {"a/"}
    ProfilesMixin._gpu_holders.clear()


def test_docker_spawner_applies_limits_and_device_requests():
    pytest.importorskip("dockerspawner")
    from gradehub.hub.spawners import CourseDockerSpawner
    from gradehub.hub.config import profile_options

    profiles = profile_options(HubSettings())
    sp = _spawner(CourseDockerSpawner, "a", profiles)
    sp.apply_profile(profiles[1])
    assert sp.mem_limit == 32 * GiB and sp.cpu_limit == 8.0
    assert sp.extra_host_config["device_requests"] == [{"driver": "nvidia", "count": 1, "capabilities": [["gpu"]]}]
    sp.apply_profile(profiles[0])
    assert "device_requests" not in sp.extra_host_config
    assert sp.mem_limit == 8 * GiB and sp.cpu_limit == 4.0


# --------------------------------------------------------------------------- single-user config


def test_student_lab_has_the_assignment_list_only(tmp_path):
    from gradehub.hub.singleuser import write_config
    folder = write_config(tmp_path / "cfg", "student", "nat3008")
    conf = json.loads((folder / "jupyter_server_config.json").read_text())
    assert conf["ZMQChannelsWebsocketConnection"] == {"kernel_ws_protocol": ""}   # text frames through the proxy
    server = conf["ServerApp"]["jpserver_extensions"]
    assert server["nbgrader.server_extensions.assignment_list"] is True
    assert server["nbgrader.server_extensions.formgrader"] is False
    assert server["nbgrader.server_extensions.course_list"] is False
    page = json.loads((folder / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert page == {"@jupyter/nbgrader:formgrader": True, "@jupyter/nbgrader:course-list": True,
                    "@jupyter/nbgrader:create-assignment": True,
                    "@jupyterlab/apputils-extension:announcements": True}
    nbconf = (folder / "nbgrader_config.py").read_text()
    assert "gradehub.hub.exchange.client.HubExchangeSubmit" in nbconf and "'nat3008'" in nbconf


def test_formgrader_service_config_and_xsrf_patch(tmp_path):
    pytest.importorskip("nbgrader")
    from nbgrader.server_extensions.formgrader import handlers

    from gradehub.hub.singleuser import patch_formgrader_static, write_config
    folder = write_config(tmp_path / "cfg", "formgrader", "nat3008")
    server = json.loads((folder / "jupyter_server_config.json").read_text())["ServerApp"]["jpserver_extensions"]
    assert server == {"nbgrader.server_extensions.formgrader": True,
                      "nbgrader.server_extensions.assignment_list": False,
                      "nbgrader.server_extensions.course_list": False,
                      "nbgrader.server_extensions.validate_assignment": False,
                      "jupyter_server_mathjax": True}      # formulas offline (gradehub.hub.formgrader)
    # the course's own config applies; this one only records release/unrelease (gradehub.hub.releases)
    nbconf = (folder / "nbgrader_config.py").read_text()
    assert "gradehub.hub.releases.RecordingList" in nbconf and "CourseDirectory" not in nbconf
    original = handlers.static_path
    try:
        static = patch_formgrader_static(folder)
        js = (static / "js" / "backbone_xsrf.js").read_text()
        assert "$.ajaxPrefilter" in js and "X-XSRFToken" in js
        assert 'toLowerCase() === "post"' not in js           # every method, GETs included
        assert (static / "js" / "formgrade.js").read_bytes() == (Path(original) / "js" / "formgrade.js").read_bytes()
        assert not any(p.is_symlink() for p in static.rglob("*"))   # Jupyter Server refuses links out
    finally:
        handlers.static_path = original


# --------------------------------------------------------------------------- exchange rules


NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


@pytest.fixture
def store(tmp_path):
    clock = iter(dt.datetime(2026, 10, 20, 12, 0, i, tzinfo=dt.timezone.utc) for i in range(100))
    st = ExchangeStore(tmp_path / "exchange", "nat3008", max_upload=10_000, max_files=5, clock=lambda: next(clock))
    (st.outbound / "week01").mkdir(parents=True)
    (st.outbound / "week01" / "week01.ipynb").write_bytes(NB)
    (st.outbound / "week01" / "data.csv").write_text("1,2\n")
    return st


def test_store_lists_and_serves_released_assignments(store):
    assert store.released() == [{"assignment_id": "week01", "notebooks": ["week01"]}]
    assert store.release_files("week01") == {"week01.ipynb": NB, "data.csv": b"1,2\n"}
    with pytest.raises(ExchangeRejected) as err:
        store.release_files("week02")
    assert err.value.status == 404


def test_store_stamps_time_itself_and_keeps_every_submission(store):
    t1 = store.submit("alice", "week01", {"week01.ipynb": NB, "timestamp.txt": b"2000-01-01 00:00:00 UTC"})
    t2 = store.submit("alice", "week01", {"week01.ipynb": NB})
    assert t1 == "2026-10-20 12:00:00.000000 UTC" and t2 == "2026-10-20 12:00:01.000000 UTC"
    folders = sorted(store.inbound.iterdir())
    assert len(folders) == 2 and all(f.name.startswith("alice+week01+2026-10-20 12:00:0") for f in folders)
    assert (folders[0] / "timestamp.txt").read_text() == t1
    assert oct(store.inbound.stat().st_mode & 0o777) == "0o700"


def test_store_shows_each_student_only_their_own(store):
    store.submit("alice", "week01", {"week01.ipynb": NB})
    store.submit("alicia", "week01", {"week01.ipynb": NB})
    assert [s["timestamp"] for s in store.submissions("alice")] == ["2026-10-20 12:00:00.000000 UTC"]
    assert store.submissions("bob") == []
    assert store.feedback("bob", "week01") == {}
    assert store.submissions("ali") == []          # a prefix is not a name


@pytest.mark.parametrize("files, status", [
    ({"../x.ipynb": NB}, 400), ({"/etc/passwd": NB}, 400), ({"a/../../b.ipynb": NB}, 400),
    ({"a\\b.ipynb": NB}, 400), ({".ipynb_checkpoints/x.ipynb": NB}, 400), ({"notes.txt": b"x"}, 400),
    ({}, 400), ({f"{i}.ipynb": NB for i in range(6)}, 413), ({"big.ipynb": b"x" * 10_001}, 413),
])
def test_store_refuses_bad_submissions(store, files, status):
    with pytest.raises(ExchangeRejected) as err:
        store.submit("alice", "week01", files)
    assert err.value.status == status
    assert not any(store.inbound.glob("alice+*")) if store.inbound.is_dir() else True


@pytest.mark.parametrize("student", ["", "a+b", "..", "../alice", "a/b"])
def test_store_refuses_odd_names(store, student):
    with pytest.raises(ExchangeRejected):
        store.submit(student, "week01", {"week01.ipynb": NB})


def test_store_refuses_unreleased_assignments(store):
    with pytest.raises(ExchangeRejected) as err:
        store.submit("alice", "week02", {"week02.ipynb": NB})
    assert err.value.status == 404


def test_store_finds_feedback_released_by_nbgrader(store):
    from nbgrader.utils import notebook_hash
    ts = store.submit("alice", "week01", {"week01.ipynb": NB})
    [folder] = list(store.inbound.iterdir())
    secret = (folder / "submission_secret.txt").read_text()
    store.feedback_dir.mkdir(parents=True, exist_ok=True)
    (store.feedback_dir / f"{notebook_hash(secret=secret, notebook_id='week01')}.html").write_text("<p>well done</p>")
    assert store.feedback("alice", "week01") == {ts: {"week01": b"<p>well done</p>"}}
    assert store.submissions("alice")[0]["notebooks"][0]["has_exchange_feedback"] is True
    assert store.feedback("bob", "week01") == {}


def test_b64_round_trip_of_the_wire_format():
    from gradehub.hub.exchange.store import decode_files as _unb64
    from gradehub.hub.exchange.store import encode_files as _b64
    assert _unb64(_b64({"a.ipynb": NB})) == {"a.ipynb": NB}
    with pytest.raises(ExchangeRejected):
        _unb64({"a": "not base64!"})
    assert base64.b64decode(_b64({"x": b"\x00"})["x"]) == b"\x00"


# --------------------------------------------------------------------------- deployment files


def _compose():
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _default_of(value: str) -> str:
    """``${NAME:-default}`` → default (what compose uses when .env leaves it out)."""
    import re
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", re.sub(r"\$\{[A-Z_]+(:\?[^}]*)?\}", "x", value))


def test_compose_hub_settings_are_valid_settings():
    hub = _compose()["services"]["hub"]
    env = {k: _default_of(str(v)) for k, v in hub["environment"].items()}
    s = load_settings(None, environ=env)
    assert s.hub.mode == "docker" and s.hub.hub_ip == "0.0.0.0" and s.hub.hub_connect_host == "hub"
    # the hub image has psycopg2; SQLAlchemy 2.1 would take plain postgresql:// for psycopg 3
    assert s.hub.db_url.startswith("postgresql+psycopg2://") and "@db:5432/jupyterhub" in s.hub.db_url
    assert env["GRADEHUB_GRADEBOOK_URL"].startswith("postgresql+psycopg2://")
    assert env["GRADEHUB_GRADEBOOK_URL"].endswith("@db:5432/gradebook")
    assert s.spawner.network_name == "gradehub" and s.exchange.port == 10101
    assert s.accounts.demo is False


def test_compose_keeps_the_exchange_to_the_hub():
    compose = _compose()
    mounts = compose["services"]["hub"]["volumes"]
    assert "gradehub-exchange:/srv/exchange" in mounts
    assert "/var/run/docker.sock:/var/run/docker.sock" in mounts
    assert compose["services"]["hub"]["environment"]["GRADEHUB_EXCHANGE"] == "/srv/exchange"
    # the spawner joins the servers to the network compose made, by its (unprefixed) name
    assert _default_of(compose["networks"]["gradehub"]["name"]) == "gradehub"
    assert compose["networks"]["gradehub"]["name"] == compose["services"]["hub"]["environment"][
        "GRADEHUB_HUB__SPAWNER__NETWORK_NAME"]
    assert compose["services"]["hub"]["build"]["context"] == "."
    assert "${GRADEHUB_COURSE_DIR:-.}:/srv/course" in mounts
    db = compose["services"]["db"]
    assert db["ports"] == ["127.0.0.1:${GRADEHUB_DB_PORT:-5432}:5432"]
    # Debian 12's docker-compose 1.29 rejects a top-level name (.env's COMPOSE_PROJECT_NAME does it)
    assert "name" not in compose


def test_compose_offline_override():
    yaml = pytest.importorskip("yaml")
    offline = yaml.safe_load((REPO / "docker-compose.offline.yml").read_text())
    db = offline["services"]["db"]
    assert db["image"].startswith("gradehub/postgres-standin:")
    assert db["build"]["network"] == "host" and db["build"]["context"] == "images/postgres-standin"
    assert (REPO / db["build"]["context"] / "Dockerfile").is_file()
    assert offline["services"]["hub"]["pull_policy"] == "never"
    # CI builds that image before the tests (and the compose test uses it)
    assert f"-t {db['image']} images/postgres-standin" in (REPO / ".ci" / "hub-setup.sh").read_text()


def test_env_example_documents_every_compose_variable():
    import re
    text = (REPO / "docker-compose.yml").read_text() + (REPO / "docker-compose.offline.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", text)) | {"COMPOSE_PROJECT_NAME"}
    documented = {line.split("=", 1)[0] for line in (REPO / ".env.example").read_text().splitlines()
                  if re.match(r"^[A-Z_]+=", line)}
    assert used <= documented, sorted(used - documented)
