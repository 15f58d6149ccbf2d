"""How many submissions to grade at once: jobs = cores, cores + 1, 1.5 × cores, 2 × cores (on demand).

    .venv/bin/python benchmarks/bench_jobs.py [--students 16] [--sandbox docker|local] [--rounds 2] [--dask]
                                              [--output benchmarks/results/jobs_docker_16.txt]

Grades the same synthetic class of the torch sheet of ``bench_autograde.py`` (fit a line and a
small MLP with autograd) with each number of jobs, ``--rounds`` times in rotated order (so a
change of the machine's load hits every setting alike), with the reference run cached
beforehand. Prints per setting the wall times, their median, the ratio to jobs = cores,
submissions per hour per core, and the load average before and after each run: the machine
may be shared, and a figure without its load means little. The default of ``gradehub
autograde --jobs`` (``gradehub.grading.default_jobs``) is chosen from these figures.

``--dask`` adds a setting "dask": the same class through ``gradehub autograde --cluster`` on a
Dask scheduler and one worker (``--nthreads default_jobs(cores)``) started on this machine, so
the cost of the cluster path itself shows against the local pool with the same number of jobs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_autograde import build, torch_sheet  # noqa: E402

import nbformat  # noqa: E402

from gradehub.course import load_course  # noqa: E402
from gradehub.cluster.runner import DaskRunner  # noqa: E402
from gradehub.grading import autograde, default_jobs  # noqa: E402
from gradehub.release import release  # noqa: E402


def settings(cores: int) -> list[int]:
    return sorted({cores, cores + 1, math.ceil(1.5 * cores), 2 * cores})


def start_dask(tmp: Path, nthreads: int) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and one worker on loopback (what ``dask scheduler`` / ``dask worker`` start)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    sched_file = tmp / "scheduler.json"
    log = open(tmp / "dask.log", "wb")  # noqa: SIM115 - kept open for the processes
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file", str(sched_file)],
                              stdout=log, stderr=log, env=env)]
    while not sched_file.is_file():
        time.sleep(0.2)
    address = json.loads(sched_file.read_text())["address"]
    procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads",
                                   str(nthreads), "--no-dashboard"], stdout=log, stderr=log, env=env))
    import distributed
    with distributed.Client(address, timeout=60) as client:
        client.wait_for_workers(1, timeout=120)
    return address, procs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=16)
    parser.add_argument("--sandbox", choices=("docker", "local"), default="docker")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", type=Path, default=None, help="also write the report here")
    parser.add_argument("--dask", action="store_true", help="also grade through a one-worker Dask cluster here")
    parser.add_argument("--jobs", default="", help="comma-separated job counts instead of cores, cores+1, 1.5x, 2x")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    say(f"bench_jobs: {args.students} submissions of the torch sheet, {args.sandbox} sandbox, {cores} cores, "
        f"{args.rounds} rounds, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    with tempfile.TemporaryDirectory(prefix="gradehub-bench-jobs-") as tmp:
        root = Path(tmp) / "course"
        students = build(root, args.students)
        nbformat.write(torch_sheet(host_checks=True), root / "source" / "bench" / "bench.ipynb")
        release(load_course(root), "bench")
        jobs_list: list[int | str] = (
            [int(j) for j in args.jobs.split(",")] if args.jobs else list(settings(cores))
        )
        procs: list[subprocess.Popen] = []
        address = ""
        if args.dask:
            address, procs = start_dask(Path(tmp), default_jobs(cores))
            jobs_list.append("dask")

        def grade(jobs: int | str, **kw):
            runner = DaskRunner(address) if jobs == "dask" else None
            n = None if jobs == "dask" else int(jobs)
            return autograde(load_course(root), "bench", jobs=n, sandbox=args.sandbox, force=True, runner=runner, **kw)

        for jobs in jobs_list:  # the reference run, once per thread count, outside the timings
            grade(jobs, students=students[:1])
        walls: dict[int | str, list[float]] = {j: [] for j in jobs_list}
        totals: dict[int | str, list[float]] = {j: [] for j in jobs_list}
        for r in range(args.rounds):
            order = jobs_list[r % len(jobs_list):] + jobs_list[: r % len(jobs_list)]
            for jobs in order:
                load_before = os.getloadavg()[0]
                started = time.monotonic()
                summary = grade(jobs)
                wall = time.monotonic() - started
                load_after = os.getloadavg()[0]
                walls[jobs].append(wall)
                totals[jobs].append(round(sum(x.score for x in summary.results), 3))
                bad = [x.student for x in summary.results if x.status in ("error",) or x.platform_error]
                say(f"  round {r + 1}, jobs {jobs!s:>4}: {wall:6.1f} s  (load {load_before:4.1f} -> {load_after:4.1f})"
                    + (f"  PLATFORM ERRORS {bad}" if bad else ""))
        base = statistics.median(walls[cores if cores in walls else jobs_list[0]])
        say("")
        say(f"{'jobs':>6} {'median s':>9} {'vs cores':>9} {'subs/h/core':>12}  all runs")
        for jobs in jobs_list:
            med = statistics.median(walls[jobs])
            per_hour_core = args.students / med * 3600 / cores
            say(f"{jobs!s:>6} {med:>9.1f} {base / med:>8.2f}x {per_hour_core:>12.0f}  "
                + ", ".join(f"{w:.1f}" for w in walls[jobs]))
        same = len({t for ts in totals.values() for t in ts}) == 1
        say(f"class total identical in every run: {same}")
        best = min((j for j in jobs_list if j != "dask"), key=lambda j: statistics.median(walls[j]))
        load_now = os.getloadavg()[0]
        say(f"fastest: jobs = {best}; gradehub's default: default_jobs({cores}) = {default_jobs(cores)} idle, "
            f"{default_jobs(cores, load_now)} at load {load_now:.1f}")
        if args.dask:
            say(f"dask: one worker with --nthreads {default_jobs(cores)} on this machine, through DaskRunner")
        say(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
    if args.output:
        args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
