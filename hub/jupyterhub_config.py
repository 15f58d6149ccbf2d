"""JupyterHub configuration of the course: translates hub/settings.toml into traits, nothing else.

Every decision lives in ``gradehub.hub.config`` (pure functions, tested without a hub). The usual way
to run it is ``gradehub hub``, which also prepares the state this file expects (accounts with
passwords, the published sheets, the demo student in the gradebook). To run JupyterHub by
hand after that::

    GRADEHUB_COURSE_ROOT=/path/to/course jupyterhub -f hub/jupyterhub_config.py

Zero-to-JupyterHub runs the same lines from ``hub.extraConfig`` (hub/z2jh-values.yaml).
"""

import os
from pathlib import Path

from gradehub.course import load_course
from gradehub.hub.config import apply_config
from gradehub.hub.runtime import prepare_runtime
from gradehub.hub.settings import load_settings, settings_path

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file

course = load_course(os.environ.get("GRADEHUB_COURSE_ROOT") or Path(__file__).resolve().parent.parent)
settings = load_settings(settings_path(course.root))
roster = course.roster() if course.roster_path.is_file() else []
# the one step that touches the machine: the state folder, the admin token, free ports
runtime = prepare_runtime(course, settings)
apply_config(c, course, settings, runtime, roster=roster)
