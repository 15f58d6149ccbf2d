"""How often does the reference solution of a sheet get full marks over many training seeds?

Sheets with stochastic training put ``TRAINING_SEED = <int>`` on a line of their own in a
read-only setup cell and seed every random generator of the training from it. This script
runs the sheet once as it is (the reference a grader compares with), then with that value
replaced by 0..N-1, and counts the runs in which every autograded test passes against the
reference: a correct solution whose training draws other random numbers must pass.

A sheet with per-student variants (a variant cell, docs/authoring.md) is run on the preview
variants 0..N-1 instead: run i is graded against the reference run on the same variant, as
grading does (with ``TRAINING_SEED = i`` as well where the sheet trains; without training the
reference's own run must score full marks on every variant). Run on demand (minutes per sheet):

    .venv/bin/python benchmarks/pass_rate.py week07 week08 --seeds 20

Results are appended to ``benchmarks/results/pass_rate.json`` and printed as a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import re
import sys
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gradehub.authoring import _run, kernel_copy  # noqa: E402
from gradehub.checks import notebook_verdicts  # noqa: E402
from gradehub.course import load_course  # noqa: E402
from gradehub.sandbox.executor import grade_id_statuses, test_records  # noqa: E402
from gradehub.variants import notebook_spec, personalize, preview_seed  # noqa: E402

SEED_LINE = re.compile(r"^TRAINING_SEED\s*=\s*\d+\s*$", re.M)


def _variant_spec(course, assignment: str):
    return notebook_spec(nbformat.read(course.source_dir(assignment) / f"{assignment}.ipynb", as_version=4))


def _run_source(course, assignment: str, seed: int | None, variant: int | None = None):
    path = course.source_dir(assignment) / f"{assignment}.ipynb"
    source = nbformat.read(path, as_version=4)
    if variant is not None:
        source = personalize(source, notebook_spec(source).draw(preview_seed(variant)))
    nb = kernel_copy(source)
    if seed is not None:
        hits = [c for c in nb.cells if c.cell_type == "code" and SEED_LINE.search(c.source)]
        if not hits:
            raise SystemExit(f"{assignment}: no 'TRAINING_SEED = <int>' line in a code cell")
        for c in hits:
            c.source = SEED_LINE.sub(f"TRAINING_SEED = {seed}", c.source)
    started = time.monotonic()
    run = _run(nb, course, timeout=600, data_dir=course.source_dir(assignment))
    return source, run, time.monotonic() - started


def reference_records(course, assignment: str, variant: int | None = None):
    """The sheet as released (its own seed): what a grader's reference run records."""
    _, run, _ = _run_source(course, assignment, None, variant)
    return test_records(run)


def run_seed(course, assignment: str, seed: int, ref, variant: int | None = None) -> tuple[bool, float, list[str]]:
    sheet = nbformat.read(course.source_dir(assignment) / f"{assignment}.ipynb", as_version=4)
    trains = any(c.cell_type == "code" and SEED_LINE.search(c.source) for c in sheet.cells)
    if variant is not None and trains:        # the reference on this variant, trained as released
        ref = reference_records(course, assignment, variant)
    source, run, elapsed = _run_source(course, assignment, seed if trains or variant is None else None, variant)
    if ref is None:                           # no training: the reference's own run on this variant
        ref = test_records(run)
    verdicts, problems = notebook_verdicts(assignment, source, run.executed, grade_id_statuses(run),
                                           test_records(run), ref)
    failed = [v.grade_id for v in verdicts if v.points is not None and v.points < v.max_points]
    return not failed and not problems, elapsed, failed + problems


def record(out: Path, assignment: str, entry: dict) -> None:
    """Merge one sheet's result into the JSON file. Runs of other sheets may finish meanwhile
    (each takes minutes), so the file is re-read under a lock right before writing."""
    with open(out.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        history = json.loads(out.read_text()) if out.exists() else {}
        history[assignment] = entry
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(history, indent=1, sort_keys=True) + "\n")
        tmp.replace(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="+")
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    course = load_course(REPO)
    out = REPO / "benchmarks" / "results" / "pass_rate.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    worst = 0
    for aid in args.assignments:
        passed, times, failures = 0, [], {}
        variants = _variant_spec(course, aid) is not None
        ref = None if variants else reference_records(course, aid)
        for seed in range(args.seeds):
            ok, elapsed, failed = run_seed(course, aid, seed, ref, seed if variants else None)
            passed += ok
            times.append(elapsed)
            if failed:
                failures[str(seed)] = failed
            print(f"{aid} seed {seed:2d}: {'pass' if ok else 'FAIL ' + ', '.join(failed)} ({elapsed:.1f} s)", flush=True)
        entry = {"passed": passed, "seeds": args.seeds, "failures": failures,
                 "mean_seconds": round(sum(times) / len(times), 1), "measured": dt.date.today().isoformat()}
        record(out, aid, entry)
        print(f"{aid}: reference passes {passed}/{args.seeds} seeds, mean {entry['mean_seconds']} s")
        worst = max(worst, args.seeds - passed)
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
