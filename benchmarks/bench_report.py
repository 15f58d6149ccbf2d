"""``gradehub report`` against ``nbgrader export`` on one synthetic gradebook.

The gradebook (SQLite) holds 300 students × 12 sheets × 10 graded cells (7 autograded tests
and 3 free-response answers with tutor scores and comments), about 5% missing submissions,
some late ones, some failed or unreadable ones and a few extensions. The structure
(assignments, notebooks, cells) is created through nbgrader's Gradebook API; the 36,000
grades are inserted with plain SQL, exactly in nbgrader's schema, so the setup takes seconds.

Each runs in a fresh process from the course root, as the user runs it:

- ``gradehub report``: grades.xlsx (all sheets), grades.csv and report.html with its plots;
- ``write_reports()``: the same report through the library in a fresh interpreter, i.e. without
  what ``gradehub``'s ``main()`` imports for every command (the grading stack: nbformat,
  jsonschema, nbgrader), which is not report work;
- ``nbgrader export``: nbgrader's CSV export of assignment totals.

Wall time and CPU time (user + system, of the child process) are printed for both, with the
ratio. CPU time is the steadier number on a shared machine. With ``--baseline SRC`` (a copy of
another revision's sources, e.g. ``git archive HEAD~3 gradehub | tar -x -C SRC``) each run of
``gradehub report`` is followed by one with that revision's ``gradehub`` package, so that
both see the same load. Run:

    .venv/bin/python benchmarks/bench_report.py [--repeat 3] [--students 300] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COURSE_ID = "nat3008"            # the course id in the copied nbgrader_config.py
GROUPS = "ABCDEFGHIJ"


def _course_toml(sheets: int, start: dt.datetime) -> str:
    lines = ['[course]', f'id = "{COURSE_ID}"', 'title = "Benchmark course"', 'roster = "roster.csv"',
             'timezone = "Europe/Berlin"', "exam_bonus_threshold = 0.5", "",
             "[late_policy]", 'grace = "15min"', "penalty_per_day = 0.1", "cap = 0.5", "",
             "[export.columns]", 'Matrikelnummer = "student"', 'Nachname = "last_name"', 'Vorname = "first_name"',
             'Punkte = "total"', 'Bonus = "exam_bonus"', ""]
    for k in range(sheets):
        due = (start + dt.timedelta(weeks=k)).isoformat()
        lines += ["[[assignment]]", f'id = "week{k + 1:02d}"', f'title = "Sheet {k + 1}"', f'due = "{due}"', ""]
    return "\n".join(lines)


def build(root: Path, students: int, sheets: int, cells: int, seed: int = 7) -> dict:
    """Write a course root with a filled gradebook; returns counts."""
    started = time.monotonic()
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    start = dt.datetime(2026, 10, 23, 23, 59, tzinfo=dt.timezone.utc)
    (root / "course.toml").write_text(_course_toml(sheets, start), encoding="utf-8")
    roster = ["id,first_name,last_name,email,group"]
    for i in range(students):
        roster.append(f"s{i + 1:04d},First{i + 1},Last{i + 1},s{i + 1:04d}@students.example.edu,{GROUPS[i % len(GROUPS)]}")
    (root / "roster.csv").write_text("\n".join(roster) + "\n", encoding="utf-8")

    os.environ["PATH"] = str(BIN) + os.pathsep + os.environ.get("PATH", "")
    from nbgrader.api import Gradebook

    db = root / "gradebook.db"
    n_manual = min(3, cells)
    gb = Gradebook(f"sqlite:///{db}", course_id=COURSE_ID)
    try:
        for k in range(sheets):
            aid = f"week{k + 1:02d}"
            gb.add_assignment(aid, duedate=(start + dt.timedelta(weeks=k)).replace(tzinfo=None))
            gb.add_notebook(aid, aid)
            for c in range(cells):
                if c < cells - n_manual:
                    gb.add_solution_cell(f"answer{c + 1:02d}", aid, aid)
                    gb.add_grade_cell(f"test{c + 1:02d}", aid, aid, max_score=float(1 + c % 3), cell_type="code")
                else:
                    gb.add_grade_cell(f"essay{c + 1:02d}", aid, aid, max_score=2.0, cell_type="markdown")
                    gb.add_solution_cell(f"essay{c + 1:02d}", aid, aid)
    finally:
        gb.close()

    con = sqlite3.connect(db)
    con.execute("""CREATE TABLE IF NOT EXISTS gradehub_status (
        assignment VARCHAR(128) NOT NULL, student VARCHAR(128) NOT NULL, status VARCHAR(32) NOT NULL,
        message TEXT NOT NULL, notes TEXT NOT NULL, flags TEXT NOT NULL, sandbox VARCHAR(32) NOT NULL,
        duration FLOAT NOT NULL, submitted_at VARCHAR(64), graded_at VARCHAR(64) NOT NULL,
        PRIMARY KEY (assignment, student))""")
    con.executemany("INSERT INTO student (id, first_name, last_name, email) VALUES (?, ?, ?, ?)",
                    [(f"s{i + 1:04d}", f"First{i + 1}", f"Last{i + 1}", f"s{i + 1:04d}@students.example.edu")
                     for i in range(students)])
    assignments = dict(con.execute("SELECT name, id FROM assignment"))
    notebooks = {a: nid for a, nid in con.execute(
        "SELECT a.name, n.id FROM notebook n JOIN assignment a ON a.id = n.assignment_id")}
    grade_cells = {}
    for a, cid, name, max_score, ctype in con.execute(
            "SELECT a.name, gc.id, bc.name, gc.max_score, gc.cell_type FROM grade_cells gc "
            "JOIN base_cell bc ON bc.id = gc.id JOIN notebook n ON n.id = bc.notebook_id "
            "JOIN assignment a ON a.id = n.assignment_id"):
        grade_cells.setdefault(a, []).append((cid, name, max_score, ctype))
    solution_cells = {}
    for a, cid, name in con.execute(
            "SELECT a.name, sc.id, bc.name FROM solution_cells sc JOIN base_cell bc ON bc.id = sc.id "
            "JOIN notebook n ON n.id = bc.notebook_id JOIN assignment a ON a.id = n.assignment_id"):
        solution_cells.setdefault(a, []).append((cid, name))

    sa_rows, sn_rows, grade_rows, comment_rows, status_rows, ext_rows = [], [], [], [], [], []
    ability = [rng.betavariate(4, 2) for _ in range(students)]
    for k in range(sheets):
        aid = f"week{k + 1:02d}"
        due = start + dt.timedelta(weeks=k)
        for i in range(students):
            sid = f"s{i + 1:04d}"
            if rng.random() < 0.05:
                continue                                   # missing
            offset = rng.gauss(-30, 20) if rng.random() > 0.08 else rng.uniform(0.1, 60)
            when = (due + dt.timedelta(hours=offset)).astimezone(dt.timezone.utc).replace(tzinfo=None)
            sa_id, sn_id = uuid.uuid4().hex, uuid.uuid4().hex
            sa_rows.append((sa_id, assignments[aid], sid, when.strftime("%Y-%m-%d %H:%M:%S.%f")))
            sn_rows.append((sn_id, sa_id, notebooks[aid], 0, None))
            r = rng.random()
            status, message = ("graded", "graded")
            if r < 0.02:
                status, message = "failed", "the kernel died in cell `answer05` (exit code 1)"
            elif r < 0.03:
                status, message = "invalid", "notebook is not valid JSON (line 1, column 56)"
            for cid, name, max_score, ctype in grade_cells[aid]:
                if status == "invalid":
                    grade_rows.append((uuid.uuid4().hex, sn_id, cid, 0.0, None, None, 0))
                elif ctype == "code":
                    passed = rng.random() < ability[i] * (0.6 + 0.4 * (int(name[-2:]) % 5) / 4)
                    broken = status == "failed" and name >= "test05"
                    grade_rows.append((uuid.uuid4().hex, sn_id, cid, max_score if passed and not broken else 0.0,
                                       None, None, 0))
                else:
                    graded = rng.random() < 0.9
                    grade_rows.append((uuid.uuid4().hex, sn_id, cid, None,
                                       round(rng.uniform(0, max_score) * 2) / 2 if graded else None, None,
                                       0 if graded else 1))
            for cid, name in solution_cells[aid]:
                text = "Clear argument." if name.startswith("essay") and rng.random() < 0.3 else None
                comment_rows.append((uuid.uuid4().hex, sn_id, cid, None, text))
            status_rows.append((aid, sid, status, message, "[]", "[]", "docker", 12.0, when.isoformat(),
                                "2027-01-01T10:00:00+00:00"))
            if offset > 0 and rng.random() < 0.1:
                ext_rows.append((aid, sid, (due + dt.timedelta(days=3)).isoformat(), "instructor", "medical note",
                                 "2027-01-01T09:00:00+00:00"))
    con.executemany("INSERT INTO submitted_assignment (id, assignment_id, student_id, timestamp) VALUES (?, ?, ?, ?)",
                    sa_rows)
    con.executemany("INSERT INTO submitted_notebook (id, assignment_id, notebook_id, flagged, late_submission_penalty) "
                    "VALUES (?, ?, ?, ?, ?)", sn_rows)
    con.executemany("INSERT INTO grade (id, notebook_id, cell_id, auto_score, manual_score, extra_credit, "
                    "needs_manual_grade) VALUES (?, ?, ?, ?, ?, ?, ?)", grade_rows)
    con.executemany("INSERT INTO comment (id, notebook_id, cell_id, auto_comment, manual_comment) VALUES (?, ?, ?, ?, ?)",
                    comment_rows)
    con.executemany("INSERT INTO gradehub_status VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", status_rows)
    con.execute("""CREATE TABLE IF NOT EXISTS gradehub_extensions (id INTEGER PRIMARY KEY AUTOINCREMENT,
        assignment VARCHAR(128) NOT NULL, student VARCHAR(128) NOT NULL, until VARCHAR(64),
        granted_by VARCHAR(128) NOT NULL, reason TEXT NOT NULL, granted_at VARCHAR(64) NOT NULL)""")
    con.executemany("INSERT INTO gradehub_extensions (assignment, student, until, granted_by, reason, granted_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)", ext_rows)
    con.commit()
    con.close()
    return {"students": students, "sheets": sheets, "cells_per_sheet": cells, "submissions": len(sa_rows),
            "grades": len(grade_rows), "extensions": len(ext_rows), "setup_s": round(time.monotonic() - started, 1)}


def _timed(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) for one run; raises when the command fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


_API_GRADEHUB = """
import json, sys, time
from pathlib import Path
from gradehub.course import load_course
from gradehub.report import write_reports
import matplotlib.figure, matplotlib.backends.backend_agg   # imported up front, like pandas and nbgrader
course = load_course(sys.argv[1])
wall, cpu = time.perf_counter(), time.process_time()
write_reports(course, Path(sys.argv[1]) / "reports-api")
print(json.dumps([time.perf_counter() - wall, time.process_time() - cpu]))
"""
_API_NBGRADER = """
import json, sys, time
from nbgrader.api import Gradebook
from nbgrader.plugins.export import CsvExportPlugin
gb = Gradebook("sqlite:///" + sys.argv[1] + "/gradebook.db", course_id=sys.argv[2])
wall, cpu = time.perf_counter(), time.process_time()
CsvExportPlugin(to=sys.argv[1] + "/nbgrader-api.csv").export(gb)
print(json.dumps([time.perf_counter() - wall, time.process_time() - cpu]))
gb.close()
"""


def _api(code: str, *argv: str) -> tuple[float, float]:
    """(wall, CPU) of the export call alone, imports and start-up excluded, in a fresh process."""
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"API run failed:\n{proc.stderr[-4000:]}")
    wall, cpu = json.loads(proc.stdout.strip().splitlines()[-1])
    return wall, cpu


def _write_json(args, info: dict, results: dict) -> None:
    """With --json: every run's (wall, CPU) pairs, the medians and the load they were measured under."""
    if not args.json:
        return
    Path(args.json).write_text(json.dumps({
        **info, "gradehub_report": results["gradehub report"], "write_reports": results["write_reports()"],
        "nbgrader_export": results["nbgrader export"], "api": results.get("api"),
        "median_gradehub_wall": statistics.median(w for w, _ in results["gradehub report"]),
        "median_gradehub_cpu": statistics.median(c for _, c in results["gradehub report"]),
        **({"baseline": args.baseline, "baseline_gradehub_report": results["baseline gradehub report"],
            "median_baseline_wall": statistics.median(w for w, _ in results["baseline gradehub report"]),
            "median_baseline_cpu": statistics.median(c for _, c in results["baseline gradehub report"])}
           if args.baseline else {}),
        "loadavg": os.getloadavg(), "cpus": os.cpu_count(),
        "when": dt.datetime.now(dt.timezone.utc).isoformat()}, indent=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--sheets", type=int, default=12)
    parser.add_argument("--cells", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="runs of gradehub report (the best counts)")
    parser.add_argument("--nbgrader-repeat", type=int, default=1, help="runs of nbgrader export (0: skip)")
    parser.add_argument("--reuse", action="store_true", help="with --keep: reuse the course built there before")
    parser.add_argument("--keep", metavar="DIR", help="build the course here and keep it")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    parser.add_argument("--baseline", metavar="SRC",
                        help="a folder holding another revision's gradehub/ package: timed interleaved with this one")
    parser.add_argument("--api", action="store_true",
                        help="also time the two export calls alone (imports and start-up excluded)")
    args = parser.parse_args()

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gradehub-bench-")) / "course"
    if args.reuse and (root / "bench-info.json").is_file():
        info = json.loads((root / "bench-info.json").read_text())
    else:
        if root.exists():
            shutil.rmtree(root)
        info = build(root, args.students, args.sheets, args.cells)
        (root / "bench-info.json").write_text(json.dumps(info))
    print(f"synthetic gradebook: {info['students']} students × {info['sheets']} sheets × "
          f"{info['cells_per_sheet']} graded cells = {info['grades']} grades in {info['submissions']} "
          f"submissions, {info['extensions']} extensions (built in {info['setup_s']} s) at {root}")

    report_cmd = [str(BIN / "gradehub"), "report", "--course-root", str(root), "--output", str(root / "reports")]
    export_cmd = [str(BIN / "nbgrader"), "export", "--to", str(root / "nbgrader-grades.csv")]
    library_cmd = [sys.executable, "-c", "import sys; from pathlib import Path; from gradehub.course import "
                   "load_course; from gradehub.report import write_reports; c = load_course(sys.argv[1]); "
                   "write_reports(c, Path(sys.argv[1]) / 'reports-lib')", str(root)]
    results = {"gradehub report": [], "write_reports()": [], "nbgrader export": []}
    runs = [("gradehub report", report_cmd, None), ("write_reports()", library_cmd, None)]
    if args.baseline:
        src = str(Path(args.baseline).resolve())
        if not (Path(src) / "gradehub" / "__init__.py").is_file():
            raise SystemExit(f"--baseline {src}: no gradehub/ package there")
        results["baseline gradehub report"] = []
        runs.insert(1, ("baseline gradehub report", report_cmd[:-1] + [str(root / "reports-baseline")],
                        {"PYTHONPATH": src}))
    for i in range(args.repeat):
        for name, cmd, env in runs:
            results[name].append(_timed(cmd, root, env))
            print(f"  {name:24} run {i + 1}: {results[name][-1][0]:7.2f} s wall, "
                  f"{results[name][-1][1]:7.2f} s CPU", flush=True)
    for i in range(args.nbgrader_repeat):
        results["nbgrader export"].append(_timed(export_cmd, root))
        print(f"  nbgrader export  run {i + 1}: {results['nbgrader export'][-1][0]:7.2f} s wall, "
              f"{results['nbgrader export'][-1][1]:7.2f} s CPU", flush=True)
    # sanity: both exported every student × sheet
    if results["nbgrader export"]:
        with open(root / "nbgrader-grades.csv", encoding="utf-8") as f:
            exported = sum(1 for _ in f) - 1
        assert exported == args.students * args.sheets, exported
    for name in ("grades.xlsx", "grades.csv", "report.html"):
        assert (root / "reports" / name).stat().st_size > 0, name

    g_wall = min(w for w, _ in results["gradehub report"])
    g_cpu = min(c for _, c in results["gradehub report"])
    l_wall = min(w for w, _ in results["write_reports()"])
    l_cpu = min(c for _, c in results["write_reports()"])
    if not results["nbgrader export"]:
        print(f"gradehub report: {g_wall:.2f} s wall, {g_cpu:.2f} s CPU; write_reports(): {l_wall:.2f} s wall, "
              f"{l_cpu:.2f} s CPU (best of {args.repeat}); nbgrader skipped")
        if args.baseline:
            b, g = results["baseline gradehub report"], results["gradehub report"]
            print(f"baseline gradehub report: {min(w for w, _ in b):.2f} s wall, {min(c for _, c in b):.2f} s CPU "
                  f"(best of {args.repeat}); medians: this {statistics.median(w for w, _ in g):.2f} s wall / "
                  f"{statistics.median(c for _, c in g):.2f} s CPU, baseline {statistics.median(w for w, _ in b):.2f} "
                  f"s wall / {statistics.median(c for _, c in b):.2f} s CPU")
        print(f"load average while measuring: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
              f"on {os.cpu_count()} CPU(s)")
        _write_json(args, info, results)
        return 0
    n_wall = min(w for w, _ in results["nbgrader export"])
    n_cpu = min(c for _, c in results["nbgrader export"])
    print()
    print(f"{'':18}{'wall (best)':>14}{'CPU (best)':>14}")
    print(f"{'gradehub report':18}{g_wall:12.2f} s{g_cpu:12.2f} s   (xlsx + csv + html with plots)")
    print(f"{'write_reports()':18}{l_wall:12.2f} s{l_cpu:12.2f} s   (the same, library in a fresh process)")
    print(f"{'nbgrader export':18}{n_wall:12.2f} s{n_cpu:12.2f} s   (csv of assignment totals)")
    print(f"{'ratio, CLI':18}{n_wall / g_wall:12.1f} ×{n_cpu / g_cpu:12.1f} ×   (nbgrader export / gradehub report)")
    print(f"{'ratio, library':18}{n_wall / l_wall:12.1f} ×{n_cpu / l_cpu:12.1f} ×   (nbgrader export / write_reports())")
    for label, wall, cpu in (("gradehub report", g_wall, g_cpu), ("write_reports()", l_wall, l_cpu)):
        print(f"target for {label}: < 5 s: {'met' if wall < 5 else 'NOT met'} (wall), "
              f"{'met' if cpu < 5 else 'NOT met'} (CPU); ≥ 20× faster: "
              f"{'met' if n_wall / wall >= 20 else 'NOT met'} (wall), {'met' if n_cpu / cpu >= 20 else 'NOT met'} (CPU)")
    print(f"load average while measuring: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPU(s)")
    if args.api:
        g_api = min((_api(_API_GRADEHUB, str(root)) for _ in range(args.repeat)), key=lambda x: x[1])
        n_api = _api(_API_NBGRADER, str(root), COURSE_ID)
        print(f"API calls alone: write_reports() {g_api[0]:.2f} s wall, {g_api[1]:.2f} s CPU; "
              f"CsvExportPlugin.export() {n_api[0]:.2f} s wall, {n_api[1]:.2f} s CPU; ratio "
              f"{n_api[0] / g_api[0]:.1f} × wall, {n_api[1] / g_api[1]:.1f} × CPU")
        results["api"] = [g_api, n_api]
    _write_json(args, info, results)
    if not args.keep:
        shutil.rmtree(root.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
