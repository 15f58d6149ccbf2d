"""The ``gradehub`` command line: a thin layer over the library; no grading logic lives here."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .course import CourseError, load_course

console = Console(stderr=True)
out = Console()

_STATUS_STYLE = {"graded": "green", "needs_manual": "cyan", "failed": "yellow",
                 "invalid": "red", "error": "bold red", "missing": "dim"}


def _course(args):
    return load_course(args.course_root)


def _default_sandbox() -> str:
    from .sandbox.base import SandboxUnavailable, get_sandbox
    try:
        get_sandbox("docker").preflight()
        return "docker"
    except SandboxUnavailable:
        return "local"


def cmd_validate(args) -> int:
    from .authoring import validate
    course = _course(args)
    ids = [args.assignment] if args.assignment else [a.id for a in course.assignments]
    failed = 0
    for aid in ids:
        report = validate(course, aid, execute=not args.lint_only)
        for line in report.lines():
            out.print(line, markup=False, highlight=False)
        failed += not report.ok
    return 1 if failed else 0


def cmd_release(args) -> int:
    from .release import check_release, release
    course = _course(args)
    if args.check:
        report = check_release(course, args.assignment)
        if report.stale:
            for d in report.differences:
                out.print(f"stale: {d}", markup=False)
            out.print(f"release/{args.assignment} is stale: run `gradehub release {args.assignment}` and commit it")
            return 1
        out.print(f"release/{args.assignment} is up to date")
        return 0
    path = release(course, args.assignment)
    out.print(f"released {args.assignment} to {path}")
    return 0


def cmd_collect(args) -> int:
    from .exchange import collect
    course = _course(args)
    collected = collect(course, args.assignment)
    out.print(f"collected {len(collected)} submission(s) of {args.assignment} into {course.submitted_dir()}")
    return 0


def cmd_autograde(args) -> int:
    from .grading import autograde
    from .sandbox.base import SandboxUnavailable, get_sandbox
    course = _course(args)
    sandbox = args.sandbox or _default_sandbox()
    if sandbox == "local":
        console.print("[yellow]sandbox: local: student code runs as this user and can read its files; "
                      "use --sandbox docker for real submissions[/yellow]")
    try:
        get_sandbox(sandbox).preflight()
    except SandboxUnavailable as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[last]}"), TimeElapsedColumn(), TextColumn("ETA"),
                  TimeRemainingColumn(), console=console, transient=False) as progress:
        task = progress.add_task(f"grading {args.assignment}", total=None, last="")

        def on_result(student, result, done, total):
            progress.update(task, completed=done, total=total, last=f"{student}: {result.status}")

        summary = autograde(course, args.assignment, students=args.student or None, jobs=args.jobs,
                            sandbox=sandbox, force=args.force, gpus=args.gpus, progress=on_result)
    print_summary(summary)
    return 1 if summary.platform_failed else 0


def _row_message(result) -> str:
    parts = [result.message] if result.status not in ("graded", "needs_manual") else []
    restored = [n for n in result.notes if "restored cell" in n]
    if restored:
        parts.append(f"{len(restored)} test/read-only cell(s) restored from source")
    if result.flags:
        parts.append("flagged: " + "; ".join(result.flags))
    return "; ".join(parts)


def print_summary(summary) -> None:
    table = Table(title=f"{summary.assignment}: {len(summary.results)} graded, "
                        f"{summary.up_to_date} already up to date, sandbox {summary.sandbox}, "
                        f"{summary.duration:.1f} s")
    for col in ("student", "status", "score", "late", "time", "message"):
        table.add_column(col, overflow="fold")
    for r in summary.results:
        style = _STATUS_STYLE.get(r.status, "")
        table.add_row(r.student, f"[{style}]{r.status}[/{style}]" if style else r.status,
                      f"{r.score:g} / {r.max_score:g}", f"-{r.late_penalty:g}" if r.late_penalty else "",
                      f"{r.duration:.1f} s", _row_message(r))
    for s in summary.skipped:
        table.add_row(s.name, "[red]skipped[/red]", "", "", "", s.reason)
    out.print(table)


def cmd_report(args) -> int:
    from .reports import write_reports
    course = _course(args)
    output = Path(args.output) if args.output else course.root / "reports"
    files = write_reports(course, output)
    for f in files:
        out.print(f"wrote {f}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo
    return run_demo(args.course_root_given, sandbox=args.sandbox, jobs=args.jobs, students=args.students)


def cmd_images(args) -> int:
    from .images import ImagesError, build_images
    try:
        result = build_images(offline=args.offline, base_image=args.base_image,
                              rebuild_base=args.rebuild_base,
                              log=lambda line: console.print(line, markup=False, highlight=False))
    except ImagesError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 2
    for tag, image_id in result.images.items():
        out.print(f"built {tag} ({image_id[7:19]}, {result.sizes.get(tag, 0) / 2**30:.2f} GiB)")
    out.print(f"base image: {result.base_image or 'the Dockerfile default'}; "
              f"{result.seconds.get('total', 0):.0f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradehub",
        description="Autograded, sandboxed exercise sheets for NAT3008 (on top of nbgrader).")
    parser.add_argument("--version", action="version", version="gradehub 0.1.0")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--course-root", default=os.environ.get("GRADEHUB_COURSE_ROOT", "."),
                        metavar="DIR", help="the course root (default: the current directory)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("validate", parents=[common], help="lint and execute source notebooks",
                       description="Lint source notebooks, then check that the reference solution scores "
                                   "full marks, the student version scores zero, and the reference run "
                                   "stays within the sheet's time budget.")
    p.add_argument("assignment", nargs="?", help="one assignment (default: all in course.toml)")
    p.add_argument("--lint-only", action="store_true", help="skip executing the notebooks")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("release", parents=[common], help="generate release/ and sync the gradebook")
    p.add_argument("assignment")
    p.add_argument("--check", action="store_true",
                   help="exit non-zero when the committed release/ differs from a fresh one")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("collect", parents=[common], help="collect submissions from the exchange into submitted/")
    p.add_argument("assignment")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser(
        "autograde", parents=[common], help="execute and score submissions in a sandbox",
        description="Grade submissions in parallel. Each notebook is sanitized (test and read-only cells "
                    "restored from source/), executed in a sandbox, then scored on the host. "
                    "--sandbox docker: a locked-down container per submission (the default when a "
                    "Docker engine answers). --sandbox local: a separate process with time, memory "
                    "and output limits; it does NOT isolate the filesystem or the network, so student "
                    "code can read what the grading user can read.")
    p.add_argument("assignment")
    p.add_argument("--student", action="append", metavar="ID", help="grade only this student (repeatable)")
    p.add_argument("--jobs", "-j", type=int, default=None, help="submissions at once (default: CPU cores)")
    p.add_argument("--sandbox", choices=("local", "docker"), default=None,
                   help="where student code runs (default: docker if an engine answers, else local)")
    p.add_argument("--force", action="store_true", help="regrade submissions that are already graded")
    p.add_argument("--gpus", action="store_true", help="give the sandbox the GPU(s) (docker only)")
    p.set_defaults(func=cmd_autograde)

    p = sub.add_parser("images", help="build the notebook and grader container images",
                       description="Container images for the docker sandbox (images/notebook, images/grader).")
    images_sub = p.add_subparsers(dest="images_command", metavar="ACTION", required=True)
    b = images_sub.add_parser(
        "build", help="build gradehub/notebook, then gradehub/grader FROM it",
        description="Build gradehub/notebook (the student image) and gradehub/grader (FROM it). "
                    "Production: FROM the jupyter docker-stacks base, packages from PyPI (GPU torch). "
                    "--offline: FROM a Debian bookworm stand-in made with debootstrap + docker import "
                    "(needs root and debootstrap; cached), packages from a host-side wheelhouse "
                    "(.gradehub/wheels, CPU torch) served on 127.0.0.1 during the build.")
    b.add_argument("--offline", action="store_true",
                   help="no registry pulls, no pip inside the build except from the host wheelhouse")
    b.add_argument("--base-image", metavar="IMAGE", default=None,
                   help="base for images/notebook (default: docker-stacks; with --offline: the stand-in)")
    b.add_argument("--rebuild-base", action="store_true", help="with --offline: rebuild the stand-in base")
    b.set_defaults(func=cmd_images)

    p = sub.add_parser("report", parents=[common], help="write grades.csv and grades.xlsx")
    p.add_argument("--output", metavar="DIR", help="where to write (default: COURSE_ROOT/reports)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("demo", help="run the whole pipeline on a synthetic class",
                       description="Build a synthetic class of 36 students (correct, partly wrong, blank, "
                                   "missing, late, crashing, looping, invalid), release week01, submit "
                                   "through the local exchange, collect, autograde and write the report. "
                                   "Runs in a throwaway course root unless --course-root is given.")
    p.add_argument("--course-root", dest="course_root_given", metavar="DIR", default=None,
                   help="where to build the demo course (default: a new temporary directory)")
    p.add_argument("--sandbox", choices=("local", "docker"), default=None)
    p.add_argument("--jobs", "-j", type=int, default=None)
    p.add_argument("--students", type=int, default=36, help="class size (at least 30)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .grading import GradingError
    from .release import ReleaseError
    from .sandbox.base import SandboxUnavailable
    try:
        return args.func(args)
    except (CourseError, GradingError, ReleaseError, SandboxUnavailable) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; run the same command again to finish the rest[/yellow]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
