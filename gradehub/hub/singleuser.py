"""Start a hub single-user server, or the formgrader service, with gradehub's Jupyter config.

``python3 -m gradehub.hub.singleuser [ARGS]`` is the command of every spawned server (local
process, Docker container, Kubernetes pod). It writes a small Jupyter config folder, puts it
on ``JUPYTER_CONFIG_PATH`` and runs ``jupyterhub-singleuser`` in this process:

* **student** (every user's own server): nbgrader's Assignments panel talks to the exchange
  service (``gradehub.hub.exchange``); the formgrader, course list and create-assignment
  parts of nbgrader are off, in the server and in the lab. The Assignment List opens in the
  left sidebar (a default of the shell's layout setting), and gradehub's lab extension
  (:mod:`gradehub.hub.labextension`) adds deadlines, a confirmation before a late submission,
  the grades page and a file browser that shows a fetched sheet at once.
* **formgrader** (``--formgrader``, the hub service ``formgrader``, run in the course root on
  the hub's machine): only nbgrader's formgrader, using the course's own ``nbgrader_config.py``.

The formgrader's pages call its API with jQuery GETs that carry no XSRF header; JupyterHub
(since 4.1) checks XSRF on such cookie-authenticated GETs and answers 403, which shows as a
blank formgrader panel. :func:`patch_formgrader_static` serves a copy of the formgrader's
static files whose ``backbone_xsrf.js`` sends the header with every request.

Only the standard library is imported before ``jupyterhub-singleuser`` takes over, so this
runs in the notebook image, where gradehub is installed without its dependencies.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from .labextension import LABEXTENSIONS

# the id of nbgrader's Assignment List widget (@jupyter/nbgrader:assignment-list)
ASSIGNMENT_LIST_WIDGET = "nbgrader-assignment-list"

# nbgrader's lab parts that nobody's own server offers (the formgrader is the hub service, the
# hub has one course, sheets are authored in source/), and JupyterLab's news pop-up.
HIDDEN_LAB_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:create-assignment",
    "@jupyterlab/apputils-extension:announcements",
)

STUDENT_NBGRADER_CONFIG = '''\
# written by gradehub.hub.singleuser: nbgrader's exchange is the hub's exchange service
c = get_config()  # noqa: F821
c.ExchangeFactory.list = "gradehub.hub.exchange.client.HubExchangeList"
c.ExchangeFactory.fetch_assignment = "gradehub.hub.exchange.client.HubExchangeFetchAssignment"
c.ExchangeFactory.fetch_feedback = "gradehub.hub.exchange.client.HubExchangeFetchFeedback"
c.ExchangeFactory.submit = "gradehub.hub.exchange.client.HubExchangeSubmit"
c.CourseDirectory.course_id = {course_id!r}
c.HubExchange.path_includes_course = False
'''

# The formgrader's Release and Unrelease buttons are remembered (gradehub.hub.releases), so a sheet
# unreleased there stays unreleased when the hub restarts and publishes release/.
FORMGRADER_NBGRADER_CONFIG = '''\
# written by gradehub.hub.singleuser: release/unrelease in the formgrader are recorded
c = get_config()  # noqa: F821
c.ExchangeFactory.release_assignment = "gradehub.hub.releases.RecordingReleaseAssignment"
c.ExchangeFactory.list = "gradehub.hub.releases.RecordingList"
'''

XSRF_JS = """\
// gradehub: send the XSRF token with every formgrader request (JupyterHub >= 4.1 checks it on
// cookie-authenticated GETs as well; without it the formgrader's panels stay blank).
function getCookie(name) {
    var r = document.cookie.match("\\\\b" + name + "=([^;]*)\\\\b");
    return r ? r[1] : undefined;
}
var oldSync = Backbone.sync;
Backbone.sync = function(method, model, options) {
    options.beforeSend = function(xhr) {
        xhr.setRequestHeader('X-XSRFToken', getCookie("_xsrf"));
    };
    return oldSync(method, model, options);
};
$.ajaxPrefilter(function(options, originalOptions, jqXHR) {
    jqXHR.setRequestHeader('X-XSRFToken', getCookie("_xsrf"));
});
"""


def server_config(role: str) -> dict:
    if role == "formgrader":
        extensions = {
            "nbgrader.server_extensions.formgrader": True,
            "nbgrader.server_extensions.assignment_list": False,
            "nbgrader.server_extensions.course_list": False,
            "nbgrader.server_extensions.validate_assignment": False,
            "jupyter_server_mathjax": True,
        }  # local MathJax (gradehub.hub.formgrader)
    else:
        extensions = {
            "nbgrader.server_extensions.formgrader": False,
            "nbgrader.server_extensions.course_list": False,
            "nbgrader.server_extensions.assignment_list": True,
            "nbgrader.server_extensions.validate_assignment": True,
            "gradehub.hub.labserver": True,  # the student's deadlines for the lab
        }
    config: dict = {"ServerApp": {"jpserver_extensions": extensions}}
    if role == "student":
        # gradehub's own lab extension (gradehub.hub.labextension), installed with the package
        config["LabApp"] = {"extra_labextensions_path": [str(LABEXTENSIONS)]}
    return config


def lab_setting_defaults() -> dict:
    """Defaults of the students' lab settings (``labconfig/default_setting_overrides.json``, which
    JupyterLab layers under the user's own settings).

    The shell's layout setting opens nbgrader's Assignment List (its widget id) in the left
    sidebar instead of the main area; JupyterLab's default for the single-document mode is kept.
    """
    in_sidebar = {ASSIGNMENT_LIST_WIDGET: {"area": "left", "options": {"rank": 150}}}
    return {
        "@jupyterlab/application-extension:shell": {
            "layout": {
                "single": {
                    "Linked Console": {"area": "down"},
                    "Inspector": {"area": "down"},
                    "Cloned Output": {"area": "down"},
                    **in_sidebar,
                },
                "multiple": dict(in_sidebar),
            }
        }
    }


def write_config(folder: Path, role: str, course_id: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "jupyter_server_config.json").write_text(json.dumps(server_config(role), indent=1))
    labconfig = folder / "labconfig"
    labconfig.mkdir(exist_ok=True)
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {name: True for name in HIDDEN_LAB_PLUGINS}}, indent=1)
    )
    if role == "student":
        (labconfig / "default_setting_overrides.json").write_text(json.dumps(lab_setting_defaults(), indent=1))
    if role == "student":
        (folder / "nbgrader_config.py").write_text(STUDENT_NBGRADER_CONFIG.format(course_id=course_id))
    else:
        (folder / "nbgrader_config.py").write_text(FORMGRADER_NBGRADER_CONFIG)
    return folder


def patch_formgrader_static(folder: Path) -> Path:
    """A copy of the formgrader's static folder (3 MB) with one file replaced; nbgrader serves it.

    A copy, not links: Jupyter Server refuses static files whose real path is outside the root.
    """
    import shutil

    from nbgrader.server_extensions.formgrader import handlers

    original = Path(handlers.static_path)
    target = folder / "formgrader-static"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(original, target)
    (target / "js" / "backbone_xsrf.js").write_text(XSRF_JS)
    handlers.static_path = str(target)
    return target


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    role = "student"
    if "--formgrader" in argv:
        argv.remove("--formgrader")
        role = "formgrader"
    role = os.environ.get("GRADEHUB_LAB_ROLE_OVERRIDE", role)
    folder = Path(tempfile.mkdtemp(prefix=f"gradehub-jupyter-{role}-"))
    write_config(folder, role, os.environ.get("GRADEHUB_COURSE_ID", ""))
    paths = [str(folder)] + [p for p in os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
    os.environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join(paths)
    if role == "formgrader":
        patch_formgrader_static(folder)
        # sanitized pages, CSP, gradehub's feedback
        from gradehub.hub.formgrader import install

        install(folder)
    try:
        from jupyterhub.singleuser import main as singleuser_main
    except ImportError:
        print(
            "gradehub.hub.singleuser: jupyterhub is not installed in this environment "
            "(the notebook image needs the jupyterhub package for jupyterhub-singleuser)",
            file=sys.stderr,
        )
        return 127
    if role == "formgrader" and hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in argv:
        # the formgrader is a hub service run by the hub's user; students' servers never run as
        # root (the embedded hub gives each an OS user of its own, containers run as uid 1000)
        argv.append("--allow-root")
    # The hub stops services and servers with SIGINT first; without a terminal Jupyter Server
    # takes that as KeyboardInterrupt and needs seconds. Make it the quick, clean SIGTERM stop.
    import signal

    signal.signal(signal.SIGINT, lambda signum, frame: os.kill(os.getpid(), signal.SIGTERM))
    sys.argv = ["jupyterhub-singleuser", *argv]
    return singleuser_main() or 0


if __name__ == "__main__":
    sys.exit(main())
