"""When students see an assignment: ``release`` dates in ``course.toml`` and the instructor's choice.

An assignment is listed and handed out by the hub's exchange when

* the instructor released it in the formgrader (even before its release date), or
* the instructor did not unrelease it, and its ``release`` time in ``course.toml`` has come
  (no ``release`` key: as soon as it is published).

The formgrader's *Release* and *Unrelease* buttons are recorded in
``<course root>/.gradehub/releases.json`` (:class:`RecordingReleaseAssignment`,
:class:`RecordingList`, configured by ``gradehub.hub.singleuser`` for the formgrader service), so an
unreleased sheet stays unreleased when the hub restarts. Standard library only (plus nbgrader
for the two formgrader classes).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

STATE_FILE = "releases.json"
RELEASED = "released"
UNRELEASED = "unreleased"


def state_path(course_root: str | Path) -> Path:
    return Path(course_root) / ".gradehub" / STATE_FILE


def read_overrides(course_root: str | Path) -> dict[str, dict[str, Any]]:
    """``{assignment: {"state": "released"|"unreleased", "by": ..., "at": ...}}``; {} if none."""
    try:
        data = json.loads(state_path(course_root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict) and v.get("state") in (RELEASED, UNRELEASED)}


def record(course_root: str | Path, assignment: str, state: str, by: str = "") -> None:
    """Store the instructor's release (``released``) or unrelease (``unreleased``) of a sheet."""
    if state not in (RELEASED, UNRELEASED):
        raise ValueError(f"state must be {RELEASED!r} or {UNRELEASED!r}")
    path = state_path(course_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = read_overrides(course_root)
    data[assignment] = {"state": state, "by": by, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)


def is_released(
    course: Any, assignment: str, now: dt.datetime, overrides: dict[str, dict[str, Any]] | None = None
) -> bool:
    """Whether students may see ``assignment`` at ``now`` (``course`` may be None: no dates)."""
    state = (overrides or {}).get(assignment, {}).get("state")
    if state == UNRELEASED:
        return False
    if state == RELEASED or course is None:
        return True
    when = next((a.release for a in course.assignments if a.id == assignment), None)
    return when is None or now >= when


try:
    from nbgrader.exchange.default import ExchangeList as _List
    from nbgrader.exchange.default import ExchangeReleaseAssignment as _Release
except ImportError:  # pragma: no cover - nbgrader is only needed in the formgrader
    _List = None

if _List is not None:

    def _course_root(app) -> str:
        return os.environ.get("GRADEHUB_COURSE_ROOT") or app.coursedir.root

    def _who() -> str:
        return os.environ.get("JUPYTERHUB_USER", "") or os.environ.get("USER", "")

    class RecordingReleaseAssignment(_Release):
        """nbgrader's release_assignment, and the release is remembered (also before the date)."""

        def start(self):
            result = super().start()
            record(_course_root(self), self.coursedir.assignment_id, RELEASED, _who())
            return result

    class RecordingList(_List):
        """nbgrader's list; ``--remove`` (the formgrader's Unrelease) is remembered."""

        def start(self):
            result = super().start()
            if self.remove and self.coursedir.assignment_id:
                record(_course_root(self), self.coursedir.assignment_id, UNRELEASED, _who())
            return result
