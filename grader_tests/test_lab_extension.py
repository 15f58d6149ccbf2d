"""The prebuilt JupyterLab extension ``@gradehub/lab`` matches its sources and ships with the package.

The bundle in ``gradehub/hub/labextensions/@gradehub/lab`` is committed (CI and the images need
no node); ``lab/build.sh`` rebuilds it from ``lab/`` and stamps it with the hash of the sources.
A change to ``lab/`` without a rebuild fails here.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

from gradehub.hub import labextension
from gradehub.hub.labextension import BUNDLE, NAME, read_stamp, sources_root, stale_reason, write_stamp

REPO = Path(__file__).resolve().parent.parent


def test_the_committed_bundle_was_built_from_the_committed_sources():
    assert sources_root() == REPO / "lab"
    assert stale_reason() is None


def test_the_bundle_is_a_prebuilt_extension_jupyterlab_can_load():
    package = json.loads((BUNDLE / "package.json").read_text())
    assert package["name"] == NAME
    build = package["jupyterlab"]["_build"]
    assert (BUNDLE / build["load"]).is_file()
    assert build["extension"] == "./extension" and build["style"] == "./style"
    # every file the stamp lists is there, and nothing else
    assert read_stamp()["files"] == labextension.bundle_files()
    assert build["load"] in read_stamp()["files"]


def test_a_change_to_the_sources_without_a_rebuild_is_caught(tmp_path):
    sources = tmp_path / "lab"
    for name in labextension.SOURCE_FILES:
        sources.mkdir(exist_ok=True)
        shutil.copy(REPO / "lab" / name, sources / name)
    for folder in labextension.SOURCE_DIRS:
        shutil.copytree(REPO / "lab" / folder, sources / folder)
    assert stale_reason(sources) is None
    index = sources / "src" / "index.ts"
    index.write_text(index.read_text() + "\n// changed\n")
    assert "other sources" in stale_reason(sources)
    # a stray file in the bundle is caught too
    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle)
    write_stamp(sources, bundle)
    assert stale_reason(sources, bundle) is None
    (bundle / "static" / "stray.js").write_text("1")
    assert "other files" in stale_reason(sources, bundle)
    (bundle / labextension.STAMP).unlink()
    assert "no build-stamp.json" in stale_reason(sources, bundle)


def test_the_bundle_is_package_data():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["gradehub"]
    package = REPO / "gradehub"
    shipped = {p for pattern in patterns for p in package.glob(pattern) if p.is_file()}
    assert {BUNDLE / f for f in labextension.bundle_files()} <= shipped
