"""gradehub's JupyterLab extension, ``@gradehub/lab``, shipped prebuilt inside the package.

The TypeScript sources are in ``lab/`` at the repository root; ``lab/build.sh`` builds them
(npm, ``jupyter labextension build``) into ``gradehub/hub/labextensions/@gradehub/lab`` and
stamps the bundle with the hash of the sources it was built from (``build-stamp.json``). The
bundle is committed, so neither CI nor the images need node; a test checks that the stamp
matches the sources (a change to ``lab/`` without a rebuild fails it).

Students' servers find the bundle through ``LabApp.extra_labextensions_path``
(:func:`gradehub.hub.singleuser.server_config`): it is installed wherever gradehub is, as
package data, with no ``jupyter labextension install`` step.

``python -m gradehub.hub.labextension stamp`` writes the stamp (``lab/build.sh`` does);
``python -m gradehub.hub.labextension check`` exits 1 when the bundle is stale.

Standard library only: this runs in the notebook image.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

NAME = "@gradehub/lab"
LABEXTENSIONS = Path(__file__).resolve().parent / "labextensions"
BUNDLE = LABEXTENSIONS / NAME
STAMP = "build-stamp.json"
# what the bundle is built from, relative to lab/ (node_modules and build output excluded)
SOURCE_FILES = ("package.json", "package-lock.json", "tsconfig.json")
SOURCE_DIRS = ("src", "style")


def sources_root() -> Path:
    """``lab/`` of a source checkout (absent in an installed package)."""
    return Path(__file__).resolve().parents[2] / "lab"


def source_paths(root: Path) -> list[Path]:
    paths = [root / name for name in SOURCE_FILES]
    for folder in SOURCE_DIRS:
        paths += sorted(p for p in (root / folder).rglob("*") if p.is_file())
    return paths


def sources_digest(root: Path) -> str:
    """sha256 over the sources' relative paths and contents, in a fixed order."""
    digest = hashlib.sha256()
    for path in source_paths(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def bundle_files(bundle: Path = BUNDLE) -> list[str]:
    return sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file() and p.name != STAMP)


def write_stamp(root: Path | None = None, bundle: Path = BUNDLE) -> dict:
    root = root or sources_root()
    stamp = {"name": NAME, "sources_sha256": sources_digest(root), "files": bundle_files(bundle)}
    (bundle / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
    return stamp


def read_stamp(bundle: Path = BUNDLE) -> dict:
    return json.loads((bundle / STAMP).read_text())


def stale_reason(root: Path | None = None, bundle: Path = BUNDLE) -> str | None:
    """Why the committed bundle does not match ``lab/`` (None: it does)."""
    root = root or sources_root()
    if not (bundle / STAMP).is_file():
        return f"{bundle} has no {STAMP}: run lab/build.sh"
    stamp = read_stamp(bundle)
    if stamp.get("sources_sha256") != sources_digest(root):
        return f"{bundle} was built from other sources than {root}: run lab/build.sh and commit the bundle"
    if stamp.get("files") != bundle_files(bundle):
        return f"{bundle} holds other files than its build wrote: run lab/build.sh and commit the bundle"
    return None


def main(argv: list[str]) -> int:
    if argv == ["stamp"]:
        print(json.dumps(write_stamp(), indent=1))
        return 0
    if argv == ["check"]:
        reason = stale_reason()
        print(reason or f"{NAME}: the bundle matches lab/")
        return 1 if reason else 0
    print("usage: python -m gradehub.hub.labextension stamp|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
