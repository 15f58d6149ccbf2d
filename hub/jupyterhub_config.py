"""JupyterHub configuration of the course: translates hub/settings.toml into traits, nothing else.

Every decision lives in ``gradehub.hub`` (pure functions, tested without a hub). The usual way
to run it is ``gradehub hub``, which also prepares the state this file expects (accounts with
passwords, the published sheets, the demo student in the gradebook). To run JupyterHub by
hand after that::

    GRADEHUB_COURSE_ROOT=/path/to/course jupyterhub -f hub/jupyterhub_config.py

Zero-to-JupyterHub runs the same lines from ``hub.extraConfig`` (hub/z2jh-values.yaml).
"""

import os
from pathlib import Path

from gradehub.course import load_course
from gradehub.hub import apply_config, load_settings, settings_path
from gradehub.hubapp import prepare_runtime

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file

course = load_course(os.environ.get("GRADEHUB_COURSE_ROOT") or Path(__file__).resolve().parent.parent)
settings = load_settings(settings_path(course.root))
apply_config(c, course, settings, prepare_runtime(course, settings))
