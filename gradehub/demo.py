"""``gradehub demo``: the whole pipeline on a synthetic class, in a throwaway course root.

The class is built from ``roster.example.csv``. Every student gets an archetype, so that the
report shows each way a real submission can end: correct, partly answered, blank, missing,
late, a kernel that crashes, a loop that never ends, a file that is not a notebook, a
student who edited the tests to pass, and one who handed in a neighbour's notebook.

week01 has per-student variants: every student fetches their own copy (their own lifetime and
decays) with the local exchange's fetch, and types their own measurement into Part 7. The
copier's notebook is a neighbour's, typed numbers included: the grader runs it on the copier's
own variant, so the data-dependent points are lost, and the summary says so.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import nbformat
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .course import CourseError, load_course, read_roster
from .presentation import print_summary
from .sanitize import is_solution, nbgrader_meta
from .variants import Variant, create_secret, student_variants

TEMPLATE = Path(__file__).resolve().parent.parent
ASSIGNMENT = "week01"
ARCHETYPES = (  # (name, share of the class); the remainder is "correct"
    ("partial", 0.17),
    ("blank", 0.08),
    ("missing", 0.08),
    ("late", 0.08),
    ("crash", 0.06),
    ("loop", 0.06),
    ("invalid", 0.06),
    ("tampered", 0.06),
    ("copied", 0.06),  # hands in a correct neighbour's notebook (with the neighbour's numbers)
)
MEASUREMENT = "measurement"  # week01's Part 7: numbers from the student's own data
_DEMO_LIMITS = """
[limits]
cell_timeout = 15
notebook_timeout = 60
memory = "2GiB"
cpus = 1.0
pids = 256
output_cap = "1MiB"
max_notebook_size = "20MiB"
"""

console = Console()


def reference_answer(cell) -> str:
    """The source cell with its solution markers removed: what a perfect student writes."""
    lines = [ln for ln in cell.source.splitlines() if ln.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")]
    return "\n".join(lines)


def build_course(root: Path, n_students: int, secret: Path) -> None:
    """A course root with week01 only, demo limits, the example roster, and a course secret of its
    own at ``secret`` (outside the root, as in a real course)."""
    if n_students < 30:
        raise CourseError("the demo class needs at least 30 students")
    for name in ("nbgrader_config.py", "roster.example.csv"):
        if not (TEMPLATE / name).is_file():
            raise CourseError(f"{TEMPLATE / name} is missing: run the demo from a gradehub checkout")
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(TEMPLATE / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(TEMPLATE / "source" / ASSIGNMENT, root / "source" / ASSIGNMENT, dirs_exist_ok=True)
    template = (TEMPLATE / "course.toml").read_text(encoding="utf-8")
    head = template.split("[limits]")[0]
    week = re.search(r"\[\[assignment\]\]\s*\nid = \"week01\".*?(?=\n\[\[|\Z)", template, re.S)
    if week is None:
        raise CourseError(f"{TEMPLATE / 'course.toml'} has no [[assignment]] week01 to build the demo from")
    (root / "course.toml").write_text(
        head
        + _DEMO_LIMITS
        + "\n[late_policy]\ngrace = \"15min\"\npenalty_per_day = 0.10\ncap = 0.5\n\n"
        + week.group(0).strip()
        + f'\n\n[variants]\nsecret = "{secret}"\n',
        encoding="utf-8",
    )
    students = read_roster(TEMPLATE / "roster.example.csv")
    lines = ["id,first_name,last_name,email,group"]
    groups = sorted({s.group for s in students})
    for i in range(n_students):
        if i < len(students):
            s = students[i]
            lines.append(f"{s.id},{s.first_name},{s.last_name},{s.email},{s.group}")
        else:
            lines.append(f"s{i + 1:03d},Student,{i + 1},s{i + 1:03d}@students.example.edu,{groups[i % len(groups)]}")
    (root / "roster.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def assign_archetypes(student_ids: list[str]) -> dict[str, str]:
    n = len(student_ids)
    plan: list[str] = []
    for name, share in ARCHETYPES:
        plan += [name] * max(1, round(share * n))
    plan += ["correct"] * (n - len(plan))
    # interleave so every tutor group sees every kind
    order = sorted(range(n), key=lambda i: (i % 7, i))
    return {student_ids[j]: plan[k] for k, j in enumerate(order)}


def typed_measurement(variant: Variant) -> str:
    """Part 7 as a student types it: the numbers of their own measurement (computed here on the
    host from their variant, as the sheet draws them: 5 significant digits)."""
    import numpy as np
    from scipy.optimize import brentq

    values = variant.parameters
    n = int(values["N_EVENTS"])
    t = np.random.default_rng(variant.seed).exponential(values["TRUE_TAU"], size=n)
    tau = float(t.mean())

    def excess(x: float) -> float:
        return n * (np.log(x / tau) + tau / x - 1.0) - 0.5

    low, high = brentq(excess, tau / 1000, tau, xtol=1e-14), brentq(excess, tau, 1000 * tau, xtol=1e-14)
    return (
        "# my measurement (us)\n"
        f"MY_TAU_HAT = {tau:.5g}\nMY_SIGMA_HAT = {tau / np.sqrt(n):.5g}\nMY_INTERVAL = ({low:.5g}, {high:.5g})"
    )


def make_submission(
    kind: str, source, release, index: int, typed: dict[str, str] | None = None
) -> nbformat.NotebookNode | str | None:
    """The notebook a student of this archetype hands in (None: nothing; str: a broken file).

    ``typed``: answers the student types instead of the model answer (grade id -> text)."""
    if kind == "missing":
        return None
    if kind == "invalid":
        return '{"cells": [ {"cell_type": "code", "source": "print(1)" '  # truncated upload
    nb = nbformat.from_dict(release)
    answers = {m["grade_id"]: c for c in source.cells if (m := nbgrader_meta(c)) and is_solution(c)}
    code_answers = [gid for gid, c in answers.items() if c.cell_type == "code"]
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if not meta or meta["grade_id"] not in answers:
            continue
        gid = meta["grade_id"]
        if kind == "blank":
            continue
        if kind == "partial" and gid in code_answers and code_answers.index(gid) % 2 == index % 2:
            continue
        if answers[gid].cell_type == "markdown":
            cell.source = (
                "The 68% coverage is a frequentist statement about the procedure: over many "
                "repeated experiments the interval contains the true lifetime in 68% of them. "
                "A credible interval is a statement about our belief in tau given this data."
            )
            continue
        if kind == "tampered":
            continue  # answers nothing, edits the tests instead (below)
        cell.source = (typed or {}).get(gid) or reference_answer(answers[gid])
        if kind == "crash" and gid == code_answers[len(code_answers) // 2]:
            cell.source += "\nimport os\nos._exit(1)  # a student's stray exit"
        if kind == "loop" and gid == code_answers[len(code_answers) // 2]:
            cell.source += "\nwhile True:  # waiting for a convergence that never comes\n    pass"
    if kind == "tampered":
        for cell in nb.cells:
            meta = nbgrader_meta(cell)
            if meta and meta.get("grade") and not meta.get("solution"):
                cell.source = "pass  # tests? what tests?"
            if meta and is_solution(cell) and cell.cell_type == "code":
                cell.source = re.sub(r"raise NotImplementedError\(\)", "return None", cell.source)
    return nb


def print_copied(summary, copied_from: dict[str, str]) -> None:
    """The copiers next to the neighbours they copied: the data-dependent points are lost."""
    by_student = {r.student: r for r in summary.results}

    def measured(student: str) -> str:
        result = by_student.get(student)
        found = [v for v in (result.verdicts if result else []) if v.grade_id == f"{MEASUREMENT}_tests"]
        return f"{found[0].points or 0:g}/{found[0].max_points:g}" if found else "-"

    table = Table(title="copied from a neighbour: graded on the copier's own data")
    for col in ("student", "copied from", "Part 7 (own data)", "neighbour's Part 7", "score"):
        table.add_column(col)
    for student, neighbour in sorted(copied_from.items()):
        result = by_student.get(student)
        score = f"{result.score:g} / {result.max_score:g}" if result else "-"
        table.add_row(escape(student), escape(neighbour), measured(student), measured(neighbour), score)
    console.print(table)
    lost = sum(1 for s in copied_from if measured(s).startswith("0/"))
    console.print(f"copied submissions: {lost} of {len(copied_from)} lost the points of their own measurement")


def run_demo(course_root: str | None, sandbox: str | None = None, jobs: int | None = None, students: int = 36) -> int:
    from .exchange import collect, fetch, publish, submit
    from .grading import autograde
    from .release import release
    from .report import build_frames, write_reports
    from .sandbox.default import default_sandbox

    started = time.monotonic()
    root = Path(course_root) if course_root else Path(tempfile.mkdtemp(prefix="gradehub-demo-"))
    if course_root and (root / "course.toml").exists() and (root / "gradebook.db").exists():
        raise CourseError(f"{root} already holds a course with a gradebook; give an empty directory")
    console.print(f"[bold]gradehub demo[/bold] in {root}")
    secret = Path(tempfile.mkdtemp(prefix="gradehub-demo-secret-")) / "demo.secret"
    build_course(root, students, secret)
    course = load_course(root)
    create_secret(course)
    release(course, ASSIGNMENT)
    outbound = publish(course, ASSIGNMENT)
    console.print(f"released {ASSIGNMENT} and published it to the exchange ({outbound})")
    console.print(f"per-student variants: the course secret is {secret} (outside the course root)")

    source = nbformat.read(course.source_dir(ASSIGNMENT) / f"{ASSIGNMENT}.ipynb", as_version=4)
    kinds = assign_archetypes([s.id for s in course.roster()])
    due = course.assignment(ASSIGNMENT).due
    if due is None:
        raise CourseError(f"the demo's {ASSIGNMENT} needs a due date in course.toml")
    work = root / ".demo-students"
    # every student fetches their own variant and types their own measurement ...
    handed_in: dict[str, nbformat.NotebookNode | str | None] = {}
    for i, (sid, kind) in enumerate(kinds.items()):
        fetched_dir = fetch(course, sid, ASSIGNMENT, work / "fetched" / sid)
        fetched = nbformat.read(fetched_dir / f"{ASSIGNMENT}.ipynb", as_version=4)
        typed = {MEASUREMENT: typed_measurement(student_variants(course, sid, ASSIGNMENT)[ASSIGNMENT])}
        handed_in[sid] = None if kind == "copied" else make_submission(kind, source, fetched, i, typed)
    # ... except the copiers, who hand in the notebook of a correct neighbour
    correct = [sid for sid, kind in kinds.items() if kind == "correct"]
    copied_from = {
        sid: correct[k % len(correct)] for k, sid in enumerate(s for s, kind in kinds.items() if kind == "copied")
    }
    for sid, neighbour in copied_from.items():
        handed_in[sid] = handed_in[neighbour]
    for i, (sid, kind) in enumerate(kinds.items()):
        nb = handed_in[sid]
        if nb is None:
            continue
        folder = work / sid
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{ASSIGNMENT}.ipynb"
        if isinstance(nb, str):
            path.write_text(nb, encoding="utf-8")
        else:
            nbformat.write(nb, path)
        when = due + (dt.timedelta(days=2, hours=3) if kind == "late" else -dt.timedelta(hours=5, minutes=i))
        submit(course, sid, ASSIGNMENT, folder, when)
    shutil.rmtree(work, ignore_errors=True)
    collected = collect(course, ASSIGNMENT)
    console.print(f"{len(collected)} students submitted; collected into {course.submitted_dir()}")
    console.print("archetypes: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(kinds.values()).items())))

    chosen, docker_missing = (sandbox, None) if sandbox else default_sandbox(fall_back_without_image=True)
    if chosen == "local":
        console.print(
            "[yellow]warning: grading in the local sandbox (no filesystem isolation; fine for "
            "this synthetic class)[/yellow]"
        )
        if docker_missing:
            console.print(f"[yellow]not using docker: {escape(docker_missing)}[/yellow]")
    summary = autograde(course, ASSIGNMENT, jobs=jobs, sandbox=chosen)
    print_summary(summary)
    print_copied(summary, copied_from)
    files = write_reports(course, root / "reports")
    frames = build_frames(course)
    counts = Counter(s.split(":")[0] for s in frames.submissions["status"])
    table = Table(title="demo: what the report says")
    table.add_column("status")
    table.add_column("students", justify="right")
    for status, n in sorted(counts.items()):
        table.add_row(status, str(n))
    console.print(table)
    overview = frames.overview
    console.print(f"class mean {overview['total'].mean():.2f} of {overview['max_total'].iloc[0]:g} points")
    for f in files:
        console.print(f"wrote {f}")
    console.print(f"course root: {root}  ({time.monotonic() - started:.0f} s)")
    return 1 if summary.platform_failed else 0
