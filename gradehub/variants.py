"""Per-student variants of a sheet: every student their own data, the method the same.

A sheet opts in with one **variant cell** in its source notebook: a locked, ungraded nbgrader
code cell whose gradehub metadata declares the parameters, e.g.::

    "metadata": {
      "nbgrader": {"grade": false, "solution": false, "locked": true, "grade_id": "variant", ...},
      "gradehub": {"variant": {"parameters": [
        {"name": "TRUE_TAU", "uniform": [1.6, 2.8], "digits": 2},
        {"name": "N_EVENTS", "integers": [800, 1200]},
        {"name": "DETECTOR", "choice": ["A", "B"]}
      ]}}
    }

The cell's text is written by gradehub (:func:`render_source`): Python assignments of
``VARIANT_SEED`` and of each parameter, which the cells below read like any variable
(``rng = np.random.default_rng(VARIANT_SEED)``, ``TRUE_TAU``). Which variant a student has:

- **the seed** is ``HMAC-SHA256(course secret, [student id, assignment id])`` (63 bits), computed
  on the host only (:func:`variant_seed`); the secret is a file outside the course root
  (``[variants].secret`` in course.toml, created 0600 by ``gradehub variants init``) and never
  enters a container or a student's server;
- **the parameters** are drawn from the seed by hashing (:func:`draw`), not by a random
  generator whose stream could change with a library version: the same seed gives the same
  values on every machine, for ever; adding a parameter leaves the others as they were.

Where it is used: fetch writes the student's variant into their copy (:func:`personalize`), the
sanitizer restores it from the secret whatever the submission says, the reference run that
decides verdicts runs on the student's variant, and staff see the parameters
(:func:`variant_record`, kept in ``gradehub-result.json``).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import keyword
import math
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .course import Course
from .metadata import nbgrader_meta

VARIANT_KEY = "variant"  # cell.metadata.gradehub.variant
SEED_NAME = "VARIANT_SEED"
KINDS = ("uniform", "integers", "choice")
SECRET_BYTES = 32
HEADER = (
    "# Your own variant of this sheet: your data differ from your neighbour's.\n"
    "# This cell is locked. The grader always uses the variant of your account, whatever this\n"
    "# cell says: editing it only makes your answers disagree with your data.\n"
)


class VariantError(Exception):
    """A variant cannot be made: no secret, a bad parameter list, two variant cells, ..."""


# ----------------------------------------------------------------------------- the secret


def secret_path(course: Course) -> Path:
    return course.variant_secret or Path(os.path.expanduser(f"~/.gradehub/{course.id}.secret"))


def create_secret(course: Course) -> Path:
    """Create the course secret (mode 0600, its folder 0700); refuse to replace one."""
    path = secret_path(course)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise VariantError(
            f"{path} exists already; a new secret would give every student other data for every sheet "
            "they have fetched. Delete it by hand only before the first sheet with variants is out."
        ) from None
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secrets.token_hex(SECRET_BYTES) + "\n")
    return path


def read_secret(course: Course) -> bytes:
    """The course secret; :class:`VariantError` saying what to do when it is missing or exposed."""
    path = secret_path(course)
    try:
        info = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        raise VariantError(
            f"the course secret {path} is missing ({course.id} has sheets with per-student variants). "
            "Create it once with `gradehub variants init` and copy it (mode 0600) to every machine that "
            "fetches or grades; its location is [variants].secret in course.toml"
        ) from None
    except OSError as exc:
        raise VariantError(f"cannot read the course secret {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise VariantError(f"the course secret {path} is not a regular file")
    if info.st_mode & 0o077:
        raise VariantError(
            f"the course secret {path} is readable by other users (mode {stat.S_IMODE(info.st_mode):o}); "
            f"run chmod 600 {path}"
        )
    text = path.read_text(encoding="ascii", errors="replace").strip()
    if len(text) < 2 * SECRET_BYTES:
        raise VariantError(f"the course secret {path} is too short; create it with `gradehub variants init`")
    return text.encode("ascii")


def variant_seed(secret: bytes, student: str, assignment: str) -> int:
    """HMAC-SHA256(secret, [student, assignment]) as a 63-bit seed (numpy takes it as it is)."""
    message = json.dumps(["gradehub-variant-v1", student, assignment]).encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def preview_seed(index: int) -> int:
    """Seeds for authoring (the release's own variant is index 0, validate takes 0..n-1); they
    come from no secret, so they are public, and no student's HMAC seed is one of them."""
    digest = hashlib.sha256(f"gradehub-preview-variant/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


# ----------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # uniform | integers | choice
    args: tuple[Any, ...]
    digits: int = 3  # uniform only: decimals kept

    def value(self, seed: int) -> Any:
        u = _unit(seed, self.name)
        if self.kind == "uniform":
            lo, hi = self.args
            return round(lo + u * (hi - lo), self.digits)
        if self.kind == "integers":
            lo, hi = self.args
            return lo + min(int(u * (hi - lo + 1)), hi - lo)
        return self.args[min(int(u * len(self.args)), len(self.args) - 1)]


def _unit(seed: int, name: str) -> float:
    """A number in [0, 1) from the seed and the parameter's name: hashing, stable for ever."""
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _scalar(x: Any) -> bool:
    return x is None or isinstance(x, (bool, int, str)) or (isinstance(x, float) and math.isfinite(x))


def _parse_parameter(item: Any, where: str) -> Parameter:
    if not isinstance(item, dict):
        raise VariantError(f"{where}: expected an object with a name and one of {', '.join(KINDS)}")
    name = item.get("name")
    if not (isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)) or name == SEED_NAME:
        raise VariantError(f"{where}: {name!r} is not a usable Python name (nor may it be {SEED_NAME})")
    kinds = [k for k in KINDS if k in item]
    unknown = set(item) - {"name", "digits", *KINDS}
    if len(kinds) != 1 or unknown:
        raise VariantError(f"{where} ({name}): give exactly one of {', '.join(KINDS)} (and digits for uniform)")
    kind, args = kinds[0], item[kinds[0]]
    if not isinstance(args, list) or not args:
        raise VariantError(f"{where} ({name}): {kind} takes a non-empty list")
    if kind in ("uniform", "integers"):
        number = (int,) if kind == "integers" else (int, float)
        if len(args) != 2 or not all(isinstance(a, number) and not isinstance(a, bool) for a in args):
            raise VariantError(
                f"{where} ({name}): {kind} takes [low, high] ({'integers' if kind == 'integers' else 'numbers'})"
            )
        if not args[0] < args[1]:
            raise VariantError(f"{where} ({name}): {kind} needs low < high")
    elif not all(_scalar(a) for a in args):
        raise VariantError(f"{where} ({name}): choice takes numbers, strings, booleans or null")
    digits = item.get("digits", 3)
    if (
        (kind != "uniform" and "digits" in item)
        or not isinstance(digits, int)
        or isinstance(digits, bool)
        or not 0 <= digits <= 12
    ):
        raise VariantError(f"{where} ({name}): digits (uniform only) is an integer from 0 to 12")
    return Parameter(name, kind, tuple(float(a) if kind == "uniform" else a for a in args), digits)


@dataclass(frozen=True)
class VariantSpec:
    """The parameters one notebook declares in its variant cell."""

    grade_id: str
    parameters: tuple[Parameter, ...]

    def draw(self, seed: int) -> Variant:
        return Variant(seed, tuple((p.name, p.value(seed)) for p in self.parameters))


@dataclass(frozen=True)
class Variant:
    """One student's variant of one notebook: the seed and the parameters drawn from it."""

    seed: int
    values: tuple[tuple[str, Any], ...]

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.values)

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "parameters": self.parameters}

    def to_wire(self) -> dict[str, Any]:
        """For a worker job (JSON keeps the parameters' order as a list of pairs)."""
        return {"seed": self.seed, "values": [list(pair) for pair in self.values]}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Variant:
        return cls(int(data["seed"]), tuple((str(k), v) for k, v in data["values"]))

    @property
    def tag(self) -> str:
        """A short name for this variant (the reference cache keeps one folder per tag)."""
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]

    def describe(self) -> str:
        """``seed 123…, TRUE_TAU=2.37, N_EVENTS=1000`` for people."""
        return ", ".join([f"seed {self.seed}"] + [f"{k}={v!r}" for k, v in self.values])


def render_source(variant: Variant) -> str:
    """The variant cell's text: a fixed header and one assignment per name."""
    lines = [f"{SEED_NAME} = {variant.seed!r}"] + [f"{k} = {v!r}" for k, v in variant.values]
    return HEADER + "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- notebooks


def variant_meta(cell: Any) -> dict | None:
    """The cell's ``metadata.gradehub.variant`` table, if it declares one."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    gh = meta.get("gradehub") if isinstance(meta, dict) else None
    found = gh.get(VARIANT_KEY) if isinstance(gh, dict) else None
    return found if isinstance(found, dict) else None


def notebook_spec(nb: Any) -> VariantSpec | None:
    """The variant declared by a (source or release) notebook, None if it has none.

    Read from trusted notebooks only (source/, release/): a submission's metadata decides nothing.
    """
    cells = [c for c in nb.cells if variant_meta(c) is not None]
    if not cells:
        return None
    if len(cells) > 1:
        raise VariantError("a notebook has at most one variant cell (metadata gradehub.variant)")
    cell = cells[0]
    nbg = nbgrader_meta(cell)
    if (
        cell.get("cell_type") != "code"
        or nbg is None
        or not nbg.get("locked")
        or nbg.get("grade")
        or nbg.get("solution")
    ):
        raise VariantError("the variant cell must be a locked, ungraded code cell (nbgrader: Read-only)")
    params = (variant_meta(cell) or {}).get("parameters")
    if not isinstance(params, list):
        raise VariantError("the variant cell's gradehub.variant.parameters must be a list")
    parsed = tuple(_parse_parameter(p, f"variant parameter {i + 1}") for i, p in enumerate(params))
    names = [p.name for p in parsed]
    if len(set(names)) != len(names):
        raise VariantError(f"variant parameters repeat a name: {names}")
    return VariantSpec(nbg["grade_id"], parsed)


def personalize(nb: Any, variant: Variant) -> Any:
    """A copy of ``nb`` whose variant cell holds ``variant`` (its nbgrader checksum updated, so
    nbgrader's Validate does not call the cell edited)."""
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if variant_meta(cell) is not None:
            cell.source = render_source(variant)
            nbg = nbgrader_meta(cell)
            if nbg is not None and "checksum" in nbg:
                from nbgrader.utils import compute_checksum  # only when there is a checksum to keep

                nbg["checksum"] = compute_checksum(cell)
    return out


def variant_record(variants: dict[str, Variant]) -> dict[str, Any] | None:
    """What staff see of a student's variant (notebook -> seed and parameters), or None."""
    if not variants:
        return None
    return {name: v.to_json() for name, v in sorted(variants.items())}


def graded_variants(course: Course, student: str, assignment: str) -> dict[str, Variant]:
    """The variants a graded submission was graded on, from ``autograded/<student>/<assignment>/
    gradehub-result.json`` (written by the grader); empty when there are none or nothing is graded."""
    path = course.autograded_dir(student, assignment) / "gradehub-result.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8")).get("variant")
        return {
            str(name): Variant(int(v["seed"]), tuple((str(k), x) for k, x in v["parameters"].items()))
            for name, v in (record or {}).items()
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def describe_variants(variants: dict[str, Variant]) -> str:
    """``TRUE_TAU=2.11, N_EVENTS=818 (seed 3849…)``, one part per notebook when there are several."""
    parts = []
    for name, v in sorted(variants.items()):
        text = ", ".join(f"{k}={x!r}" for k, x in v.values) + f" (seed {v.seed})"
        parts.append(text if len(variants) == 1 else f"{name}: {text}")
    return "; ".join(parts)


# ----------------------------------------------------------------------------- a course's view


def assignment_specs(course: Course, assignment: str) -> dict[str, VariantSpec]:
    """notebook name -> its variant spec, for the notebooks of ``source/<assignment>`` that have one."""
    import nbformat

    specs: dict[str, VariantSpec] = {}
    for path in sorted(course.source_dir(assignment).glob("*.ipynb")):
        try:
            spec = notebook_spec(nbformat.read(path, as_version=4))
        except VariantError as exc:
            raise VariantError(f"{assignment}/{path.name}: {exc}") from None
        if spec is not None:
            specs[path.stem] = spec
    return specs


def student_variants(
    course: Course, student: str, assignment: str, specs: dict[str, VariantSpec] | None = None
) -> dict[str, Variant]:
    """notebook name -> the student's variant; empty for a sheet without variants (no secret read)."""
    specs = assignment_specs(course, assignment) if specs is None else specs
    if not specs:
        return {}
    seed = variant_seed(read_secret(course), student, assignment)
    return {name: spec.draw(seed) for name, spec in specs.items()}


def preview_variants(specs: dict[str, VariantSpec], index: int) -> dict[str, Variant]:
    seed = preview_seed(index)
    return {name: spec.draw(seed) for name, spec in specs.items()}


__all__ = [
    "SEED_NAME",
    "Parameter",
    "Variant",
    "VariantError",
    "VariantSpec",
    "assignment_specs",
    "create_secret",
    "describe_variants",
    "graded_variants",
    "notebook_spec",
    "personalize",
    "preview_seed",
    "preview_variants",
    "read_secret",
    "render_source",
    "secret_path",
    "student_variants",
    "variant_meta",
    "variant_record",
    "variant_seed",
]
