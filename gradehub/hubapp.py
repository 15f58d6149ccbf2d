"""Moved to :mod:`gradehub.hub.app` and :mod:`gradehub.hub.runtime`; kept because deployed
Zero-to-JupyterHub values import ``prepare`` from here (``hub.extraConfig``)."""

from .hub.app import prepare
from .hub.runtime import prepare_runtime

__all__ = ["prepare", "prepare_runtime"]
