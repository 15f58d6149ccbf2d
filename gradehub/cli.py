"""The ``gradehub`` command line: a thin layer over the library; no grading logic lives here."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .course import CourseError, load_course
from .presentation import console, out, print_summary


def _course(args):
    return load_course(args.course_root)


def cmd_validate(args) -> int:
    from .authoring import validate

    course = _course(args)
    ids = [args.assignment] if args.assignment else [a.id for a in course.assignments]
    failed = 0
    for aid in ids:
        if course.assignment(aid).format == "otter":
            from .otter.release import validate_otter

            report = validate_otter(course, aid, execute=not args.lint_only)
        else:
            report = validate(course, aid, execute=not args.lint_only)
        for line in report.lines():
            out.print(line, markup=False, highlight=False)
        failed += not report.ok
    return 1 if failed else 0


def cmd_release(args) -> int:
    from .release import check_release, release

    course = _course(args)
    if course.assignment(args.assignment).format == "otter":
        return _release_otter(course, args)
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


def _release_otter(course, args) -> int:
    from .otter.assign import OtterUnsupported
    from .otter.release import check_otter_release, release_otter

    try:
        if args.check:
            report = check_otter_release(course, args.assignment)
            for d in report.differences:
                out.print(f"stale: {d}", markup=False)
            if report.stale:
                out.print(f"{args.assignment} is stale: run `gradehub release {args.assignment}` and commit it")
                return 1
            out.print(f"release/{args.assignment} is up to date")
            return 0
        done = release_otter(course, args.assignment)
    except OtterUnsupported as exc:
        out.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        return 2
    _print_otter_questions(f"released {args.assignment} (otter) to {course.release_dir(args.assignment)}", done)
    return 0


def _print_otter_questions(headline: str, done) -> None:
    """An otter release or import: its questions with their points, then otter's notes."""
    points = ", ".join(f"{q} {p:g}" for q, p in done.questions.items())
    out.print(f"{headline}: {points}", markup=False)
    for note in done.notes:
        out.print(f"note: {note}", markup=False)


def cmd_import_otter(args) -> int:
    from .otter.assign import OtterUnsupported
    from .otter.importer import import_graded, import_master

    course = _course(args)
    try:
        if args.tests:
            done = import_graded(course, Path(args.source), Path(args.tests), args.assignment)
        else:
            done = import_master(course, Path(args.source), args.assignment)
    except OtterUnsupported as exc:
        out.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        return 2
    if done.added_to_course_toml:
        out.print(f'course.toml: added assignment {done.assignment} (format = "otter"); set its due date', markup=False)
    _print_otter_questions(f"imported {done.assignment}", done)
    return 0


def cmd_otter_grades(args) -> int:
    from .otter.grades import write_final_grades

    course = _course(args)
    output = Path(args.output) if args.output else course.root / "reports" / args.assignment / "final_grades.csv"
    write_final_grades(course, args.assignment, output)
    out.print(f"wrote {output} (otter's final_grades.csv layout)", markup=False)
    return 0


def cmd_collect(args) -> int:
    from .exchange import collect

    course = _course(args)
    collected = collect(course, args.assignment)
    out.print(f"collected {len(collected)} submission(s) of {args.assignment} into {course.submitted_dir()}")
    return 0


def cmd_fetch(args) -> int:
    from .exchange import fetch

    course = _course(args)
    path = fetch(course, args.student, args.assignment, Path(args.to))
    out.print(f"{args.student}'s copy of {args.assignment} is in {path}", markup=False)
    return 0


def cmd_variants(args) -> int:
    from .variants import VariantError, assignment_specs, create_secret, secret_path, student_variants

    course = _course(args)
    try:
        if args.variants_command == "init":
            path = create_secret(course)
            out.print(f"created the course secret {path} (mode 0600); copy it to every machine that fetches or grades")
            return 0
        specs = assignment_specs(course, args.assignment)
        if not specs:
            out.print(f"{args.assignment} has no per-student variants", markup=False)
            return 0
        students = args.student or [s.id for s in course.roster()]
        table = Table(title=f"{args.assignment}: per-student variants (secret {secret_path(course)})")
        table.add_column("student")
        table.add_column("notebook")
        table.add_column("variant")
        for sid in students:
            for name, variant in student_variants(course, sid, args.assignment, specs).items():
                table.add_row(escape(sid), escape(name), escape(variant.describe()))
        console.print(table)
        return 0
    except VariantError as exc:
        raise CourseError(str(exc)) from None


def cmd_autograde(args) -> int:
    from .cluster.runner import DaskRunner
    from .course import parse_cluster_address
    from .grading import autograde
    from .sandbox.base import SandboxUnavailable, get_sandbox
    from .sandbox.default import default_sandbox

    course = _course(args)
    cluster = None if args.local else (args.cluster or course.grading.cluster or None)
    if cluster:
        cluster = parse_cluster_address(cluster, "--cluster")
        # the nodes run the jobs: each has its own engine and grader image (checked on each node)
        sandbox, docker_missing = args.sandbox or "docker", None
    else:
        sandbox, docker_missing = (args.sandbox, None) if args.sandbox else default_sandbox()
    if sandbox == "local":
        console.print(
            "[yellow]sandbox: local: student code runs as this user and can read its files; "
            "use --sandbox docker for real submissions[/yellow]"
        )
        if docker_missing:
            console.print(f"[yellow]not using docker: {escape(docker_missing)}[/yellow]")
    runner = DaskRunner(cluster) if cluster else None
    try:
        if runner is not None:
            if args.jobs:
                console.print("[yellow]--jobs is ignored on a cluster: each worker's --nthreads decides[/yellow]")
            console.print(f"connecting to the Dask scheduler at {escape(cluster or '')} ...")
            runner.preflight(sandbox, {})
            console.print(f"grading on the {escape(runner.description)}")
        else:
            get_sandbox(sandbox).preflight()
    except SandboxUnavailable as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        if runner is not None:
            runner.close()
        return 2
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(f"grading {args.assignment}", total=None, last="")

        def on_result(student, result, done, total):
            progress.update(task, completed=done, total=total, last=f"{student}: {result.status}")

        summary = autograde(
            course,
            args.assignment,
            students=args.student or None,
            jobs=args.jobs,
            sandbox=sandbox,
            force=args.force,
            gpus=args.gpus,
            progress=on_result,
            runner=runner,
        )
    print_summary(summary)
    return 1 if summary.platform_failed else 0


def cmd_report(args) -> int:
    from .report import LARGE_GRADEBOOK, gradebook_size, write_reports

    course = _course(args)
    output = Path(args.output) if args.output else course.root / "reports"
    formats: list[str] = args.format or ["xlsx"]
    html_report, plots = not args.no_html, not args.no_plots

    def note(what, done, total):
        if what.startswith("could not"):
            console.print(f"[yellow]warning:[/yellow] {what}", highlight=False)

    if gradebook_size(course) >= LARGE_GRADEBOOK:
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True
        ) as progress:
            task = progress.add_task("report", total=1.0)

            def on_step(what, done, total):
                note(what, done, total)
                progress.update(task, completed=done / max(total, 1), description=what)

            files = write_reports(
                course, output, progress=on_step, formats=formats, html_report=html_report, plots=plots
            )
    else:
        files = write_reports(course, output, progress=note, formats=formats, html_report=html_report, plots=plots)
    for f in files:
        out.print(f"wrote {f}")
    return 0


def cmd_extend(args) -> int:
    from .extensions import default_granter, grant_extension, parse_until, revoke_extension
    from .gradebook import extension_history, gradebook_engine
    from zoneinfo import ZoneInfo

    course = _course(args)
    tz = ZoneInfo(course.timezone)
    if args.list is not None:
        engine = gradebook_engine(course)
        try:
            history = extension_history(engine, args.list or None)
        finally:
            engine.dispose()
        table = Table(title="extensions (newest last; the last row per student and assignment is in force)")
        for col in ("assignment", "student", "until", "by", "reason", "when"):
            table.add_column(col, overflow="fold")
        for e in history:
            table.add_row(
                e.assignment,
                e.student,
                e.until.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if e.until else "revoked",
                e.granted_by,
                e.reason,
                e.granted_at,
            )
        out.print(table)
        return 0
    if not (args.student and args.assignment):
        console.print("[red]error:[/red] give STUDENT and ASSIGNMENT (or --list)")
        return 2
    by = args.by or default_granter()
    if args.revoke:
        changes = revoke_extension(course, args.student, args.assignment, granted_by=by, reason=args.reason or "")
        out.print(f"revoked the extension of {args.student} for {args.assignment} ({by}: {args.reason})")
    else:
        if not args.until:
            console.print("[red]error:[/red] --until TIME is needed (e.g. 2026-10-30T23:59+01:00 or +3d)")
            return 2
        until = parse_until(args.until, course.assignment(args.assignment).due)
        ext, changes = grant_extension(
            course, args.student, args.assignment, until, granted_by=by, reason=args.reason or ""
        )
        due = ext.until.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if ext.until else "(no deadline)"
        out.print(
            f"{args.student}: {args.assignment} now due {due} (granted by {ext.granted_by}: {ext.reason})", markup=False
        )
    for c in changes:
        out.print(f"late penalty of {c.student} for {c.assignment}: {c.before:g} -> {c.after:g} points", markup=False)
    return 0


def cmd_feedback(args) -> int:
    from .feedback import generate_feedback

    course = _course(args)
    if args.release:
        return _release_feedback(course, args)
    run = generate_feedback(course, args.assignment, students=args.student or None)
    for path in run.written:
        out.print(f"wrote {path}", markup=False)
    for student, reason in run.skipped:
        console.print(f"[yellow]skipped {student}:[/yellow] {reason}", highlight=False)
    out.print(f"feedback for {len(run.written)} student(s) of {args.assignment} in {course.root / 'feedback'}")
    return 1 if any("hidden-test" in r for _, r in run.skipped) else 0


def _release_feedback(course, args) -> int:
    from .exchange import feedback_dir, feedback_release_lines, release_feedback

    run = release_feedback(course, args.assignment, args.student or None)
    for line in feedback_release_lines(run):
        out.print(line, markup=False, highlight=False)
    out.print(
        f"feedback of {args.assignment} released to {len(run.released)} student(s) in {feedback_dir(course)}",
        markup=False,
    )
    return 1 if args.student and not run.released else 0


def cmd_grades(args) -> int:
    from .results import grade_release_states, release_grades

    course = _course(args)
    if args.grades_command == "release":
        result = release_grades(course, args.assignment, undo=args.undo, by=args.by)
        for line in result.lines():
            out.print(line, markup=False, highlight=False)
        return 0
    table = Table(title=f"grades of {course.id}: what the students see")
    for col in ("assignment", "grades", "by", "at", "feedback given"):
        table.add_column(col)
    for row in grade_release_states(course):
        table.add_row(
            row["assignment"],
            "released" if row["released"] else "not released",
            escape(row["by"]),
            row["at"],
            str(row["feedback_given"]),
        )
    out.print(table)
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(args.course_root_given, sandbox=args.sandbox, jobs=args.jobs, students=args.students)


def cmd_images(args) -> int:
    from .images import ImagesError, build_images

    try:
        result = build_images(
            offline=args.offline,
            base_image=args.base_image,
            rebuild_base=args.rebuild_base,
            log=lambda line: console.print(line, markup=False, highlight=False),
        )
    except ImagesError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        return 2
    for tag, image_id in result.images.items():
        out.print(f"built {tag} ({image_id[7:19]}, {result.sizes.get(tag, 0) / 2**30:.2f} GiB)")
    out.print(f"base image: {result.base_image or 'the Dockerfile default'}; {result.seconds.get('total', 0):.0f} s")
    return 0


def cmd_hub(args) -> int:
    from .hub.app import run_hub
    from .hub.roster import sync_roster

    course = _course(args)
    say = lambda line: out.print(line, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    if getattr(args, "hub_command", None) == "sync-roster":
        report = sync_roster(course, settings_file=args.settings, api_url=args.api_url, dry_run=args.dry_run)
        for line in report.lines():
            say(("would: " if args.dry_run else "") + line)
        return 0
    return run_hub(course, settings_file=args.settings, port=args.port, ip=args.ip, out=say)


def cmd_tutors(args) -> int:
    from .tutoring.commands import run

    return run(args, out, console)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradehub", description="Autograded, sandboxed exercise sheets for NAT3008 (on top of nbgrader)."
    )
    parser.add_argument("--version", action="version", version="gradehub 0.1.0")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--course-root",
        default=os.environ.get("GRADEHUB_COURSE_ROOT", "."),
        metavar="DIR",
        help="the course root (default: the current directory)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "validate",
        parents=[common],
        help="lint and execute source notebooks",
        description="Lint source notebooks, then check that the reference solution scores "
        "full marks, the student version scores zero, and the reference run "
        "stays within the sheet's time budget.",
    )
    p.add_argument("assignment", nargs="?", help="one assignment (default: all in course.toml)")
    p.add_argument("--lint-only", action="store_true", help="skip executing the notebooks")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("release", parents=[common], help="generate release/ and sync the gradebook")
    p.add_argument("assignment")
    p.add_argument(
        "--check", action="store_true", help="exit non-zero when the committed release/ differs from a fresh one"
    )
    p.set_defaults(func=cmd_release)

    p = sub.add_parser(
        "import-otter",
        parents=[common],
        help="import an otter-grader assignment (master notebook, or notebook + tests/ or autograder.zip)",
        description="With a master notebook: check it, copy it (and the files its config names) to "
        "source/ASSIGNMENT/, list it in course.toml and release it with otter assign. With --tests: "
        "otter's graded form, a student notebook and a tests/ directory or autograder.zip.",
    )
    p.add_argument("source", help="the otter master notebook (or, with --tests, the student notebook)")
    p.add_argument("assignment")
    p.add_argument("--tests", help="a tests/ directory or autograder.zip (otter's graded form)")
    p.set_defaults(func=cmd_import_otter)

    p = sub.add_parser("otter-grades", parents=[common], help="write otter's final_grades.csv for an assignment")
    p.add_argument("assignment")
    p.add_argument("-o", "--output", help="default: reports/ASSIGNMENT/final_grades.csv")
    p.set_defaults(func=cmd_otter_grades)

    p = sub.add_parser("collect", parents=[common], help="collect submissions from the exchange into submitted/")
    p.add_argument("assignment")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser(
        "fetch",
        parents=[common],
        help="a student's copy of a released sheet (their variant written in), without the hub",
        description="The local exchange's fetch: copy release/ASSIGNMENT for STUDENT into DIR/ASSIGNMENT, "
        "with the student's variant written into the variant cell of a sheet that has per-student "
        "variants (needs the course secret). Students on the hub fetch in JupyterLab instead.",
    )
    p.add_argument("assignment")
    p.add_argument("student")
    p.add_argument("--to", metavar="DIR", default=".", help="where to put the ASSIGNMENT folder (default: here)")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser(
        "variants",
        help="per-student variants: create the course secret, show students' parameters",
        description="Sheets with a variant cell give every student their own data, derived from "
        "HMAC(course secret, student, assignment). `init` creates the secret ([variants].secret "
        "in course.toml, mode 0600; never inside the course root); `show` prints each student's "
        "seed and parameters.",
    )
    variants_sub = p.add_subparsers(dest="variants_command", metavar="ACTION", required=True)
    variants_sub.add_parser("init", parents=[common], help="create the course secret (refuses to replace one)")
    v = variants_sub.add_parser("show", parents=[common], help="students' seeds and parameters for one sheet")
    v.add_argument("assignment")
    v.add_argument("--student", action="append", metavar="ID", help="only these students (default: the roster)")
    p.set_defaults(func=cmd_variants)

    p = sub.add_parser(
        "autograde",
        parents=[common],
        help="execute and score submissions in a sandbox",
        description="Grade submissions in parallel. Each notebook is sanitized (test and read-only cells "
        "restored from source/), executed in a sandbox, then scored on the host. "
        "--sandbox docker: a locked-down container per submission (the default when a "
        "Docker engine answers). --sandbox local: a separate process with time, memory "
        "and output limits; it does NOT isolate the filesystem or the network, so student "
        "code can read what the grading user can read.",
    )
    p.add_argument("assignment")
    p.add_argument("--student", action="append", metavar="ID", help="grade only this student (repeatable)")
    p.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        help="submissions at once on this machine (default: CPU cores + 1; the cores at a load average of 1 or more)",
    )
    p.add_argument(
        "--sandbox",
        choices=("local", "docker"),
        default=None,
        help="where student code runs (default: docker if an engine answers, else local)",
    )
    p.add_argument("--force", action="store_true", help="regrade submissions that are already graded")
    p.add_argument("--gpus", action="store_true", help="give the sandbox the GPU(s) (docker only)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--cluster",
        metavar="ADDRESS",
        default=None,
        help="run the jobs on the workers of this Dask scheduler (tcp://HOST:8786; default: [grading] cluster "
        "of course.toml); this machine scores and writes the gradebook",
    )
    where.add_argument("--local", action="store_true", help="grade on this machine even if course.toml names a cluster")
    p.set_defaults(func=cmd_autograde)

    p = sub.add_parser(
        "images",
        help="build the notebook and grader container images",
        description="Container images for the docker sandbox (images/notebook, images/grader).",
    )
    images_sub = p.add_subparsers(dest="images_command", metavar="ACTION", required=True)
    b = images_sub.add_parser(
        "build",
        help="build gradehub/notebook, then gradehub/grader FROM it",
        description="Build gradehub/notebook (the student image) and gradehub/grader (FROM it). "
        "Production: FROM the jupyter docker-stacks base, packages from PyPI (GPU torch). "
        "--offline: FROM a Debian bookworm stand-in made with debootstrap + docker import "
        "(needs root and debootstrap; cached), packages from a host-side wheelhouse "
        "(.gradehub/wheels, CPU torch) served on 127.0.0.1 during the build.",
    )
    b.add_argument(
        "--offline",
        action="store_true",
        help="no registry pulls, no pip inside the build except from the host wheelhouse",
    )
    b.add_argument(
        "--base-image",
        metavar="IMAGE",
        default=None,
        help="base for images/notebook (default: docker-stacks; with --offline: the stand-in)",
    )
    b.add_argument("--rebuild-base", action="store_true", help="with --offline: rebuild the stand-in base")
    b.set_defaults(func=cmd_images)

    p = sub.add_parser(
        "extend",
        parents=[common],
        help="give one student a later deadline (recorded with who and why)",
        description="Record a per-student extension in the gradebook (who granted it, why, when; "
        "revocations are recorded too). Late penalties are recomputed from the submission "
        "times at once, also in nbgrader's columns that the formgrader shows.",
    )
    p.add_argument("student", nargs="?")
    p.add_argument("assignment", nargs="?")
    p.add_argument(
        "--until",
        metavar="TIME",
        help="the new deadline: ISO time with offset (2026-10-30T23:59+01:00) or +3d / +36h after the course deadline",
    )
    p.add_argument("--reason", metavar="TEXT", help="why (required)")
    p.add_argument("--by", metavar="NAME", help="who grants it (default: $JUPYTERHUB_USER or the login name)")
    p.add_argument("--revoke", action="store_true", help="take the extension back")
    p.add_argument(
        "--list",
        nargs="?",
        const="",
        metavar="ASSIGNMENT",
        default=None,
        help="list every extension granted or revoked (optionally for one assignment)",
    )
    p.set_defaults(func=cmd_extend)

    p = sub.add_parser(
        "feedback",
        parents=[common],
        help="write per-student HTML feedback (no hidden test code)",
        description="Write feedback/<student>/<assignment>/<assignment>.html for every graded submission: "
        "the student's answers, points per task, visible tests and their output, hidden tests "
        "only as passed/failed, tutor comments, the late penalty and the policy applied, and "
        "what happened when a notebook did not run to the end.",
    )
    p.add_argument("assignment")
    p.add_argument("--student", action="append", metavar="ID", help="only this student (repeatable)")
    p.add_argument(
        "--release",
        action="store_true",
        help="also give the pages to the students through the exchange (the Assignment List's Fetch "
        "Feedback); tutor points and comments only once the grades are released; again: replaces them",
    )
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser(
        "grades",
        help="release an assignment's grades to the students (tutor points, comments, totals)",
        description="Students see an assignment's tutor points and comments, its total and the course "
        "total on the grades page (/services/grades/) and in released feedback only after "
        "`gradehub grades release ASSIGNMENT`; `--undo` withdraws them. Feedback already "
        "given out for the assignment is given out again for the new state.",
    )
    grades_sub = p.add_subparsers(dest="grades_command", metavar="ACTION", required=True)
    g = grades_sub.add_parser("release", parents=[common], help="release (or --undo: withdraw) one assignment's grades")
    g.add_argument("assignment")
    g.add_argument("--undo", action="store_true", help="withdraw: the students no longer see them")
    g.add_argument("--by", metavar="NAME", default=None, help="who releases (default: your login)")
    grades_sub.add_parser("status", parents=[common], help="which assignments' grades are released")
    p.set_defaults(func=cmd_grades)

    p = sub.add_parser(
        "report",
        parents=[common],
        help="write grades.xlsx, grades.csv and report.html",
        description="Build pandas frames from the gradebook and write grades.xlsx (overview, "
        "questions, groups, items, submissions, scores, policies, extensions), "
        "grades.csv for the grade import ([export] in course.toml) and report.html "
        "with plots. Late penalties are recomputed from course.toml and extensions.",
    )
    p.add_argument("--output", metavar="DIR", help="where to write (default: COURSE_ROOT/reports)")
    p.add_argument(
        "--format",
        action="append",
        choices=("xlsx", "parquet"),
        default=None,
        help="table format (repeatable; default xlsx); parquet writes DIR/parquet/<frame>.parquet",
    )
    p.add_argument("--no-html", action="store_true", help="skip report.html")
    p.add_argument("--no-plots", action="store_true", help="report.html without plots (no matplotlib needed)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "hub",
        parents=[common],
        help="run the course's JupyterHub (embedded default: local, 127.0.0.1)",
        description="Start JupyterHub for the course: students work in JupyterLab and fetch/submit "
        "through the exchange service; instructors and tutors grade in the formgrader "
        "service. Settings: hub/settings.toml in the course root (or --settings, or "
        "$GRADEHUB_HUB_SETTINGS) and GRADEHUB_HUB__<SECTION>__<KEY> variables. The "
        "default is the embedded hub: 127.0.0.1:8000, local single-user processes, "
        "SQLite, the course's exchange folder, demo accounts printed on start.",
    )
    p.add_argument("--settings", metavar="FILE", default=None, help="the hub settings file")
    p.add_argument("--port", type=int, default=None, help="public port (default: from the settings, 8000)")
    p.add_argument("--ip", default=None, help="public address (default: from the settings, 127.0.0.1)")
    p.set_defaults(func=cmd_hub, hub_command=None)
    hub_sub = p.add_subparsers(dest="hub_command", metavar="ACTION")
    h = hub_sub.add_parser(
        "sync-roster",
        help="apply a changed roster to the running hub (idempotent)",
        description="Create hub users and groups for new roster students and course.toml [tutors], "
        "move changed students between groups, take departed ones out of the course "
        "groups (their files stay). Running it twice changes nothing the second time.",
    )
    h.add_argument(
        "--course-root",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="the course root (default: as given before `sync-roster`, else the current directory)",
    )
    h.add_argument("--settings", metavar="FILE", default=argparse.SUPPRESS, help="the hub settings file")
    h.add_argument(
        "--api-url",
        metavar="URL",
        default=None,
        help="the hub's API (default: the one `gradehub hub` recorded in its state folder)",
    )
    h.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    h.set_defaults(func=cmd_hub, hub_command="sync-roster")

    p = sub.add_parser(
        "tutors",
        help="tutor groups: grading progress, move, split, moderation",
        description="Tutors grade the free-response answers of their group in the grading "
        "service (a hub service). `status` prints graded / to grade per tutor and "
        "week; the instructor moves a student to another tutor, splits a group "
        "between two tutors (both for every week), and draws a random sample of "
        "graded answers for a second marking.",
    )
    tutors_sub = p.add_subparsers(dest="tutors_command", metavar="ACTION", required=True)
    t = tutors_sub.add_parser("status", parents=[common], help="graded / to grade per tutor and week")
    t.add_argument("assignment", nargs="?", help="one week (default: all)")
    t = tutors_sub.add_parser("move", parents=[common], help="give a student to another tutor")
    t.add_argument("student")
    t.add_argument("tutor", nargs="?", help="the tutor's account")
    t.add_argument("--back", action="store_true", help="back to the tutors of the student's roster group")
    t = tutors_sub.add_parser("split", parents=[common], help="split a group's students between two tutors")
    t.add_argument("group")
    t.add_argument("tutor1")
    t.add_argument("tutor2")
    t = tutors_sub.add_parser(
        "moderate", parents=[common], help="draw graded answers for a second marking; show where marks disagree"
    )
    t.add_argument("assignment")
    t.add_argument("--sample", type=int, metavar="N", help="draw N more graded answers")
    t.add_argument("--marker", metavar="ACCOUNT", help="who second-marks them (default: another tutor)")
    t.add_argument("--seed", type=int, default=None, help="random seed (reproducible sample)")
    p.set_defaults(func=cmd_tutors)

    p = sub.add_parser(
        "demo",
        help="run the whole pipeline on a synthetic class",
        description="Build a synthetic class of 36 students (correct, partly wrong, blank, "
        "missing, late, crashing, looping, invalid), release week01, submit "
        "through the local exchange, collect, autograde and write the report. "
        "Runs in a throwaway course root unless --course-root is given.",
    )
    p.add_argument(
        "--course-root",
        dest="course_root_given",
        metavar="DIR",
        default=None,
        help="where to build the demo course (default: a new temporary directory)",
    )
    p.add_argument("--sandbox", choices=("local", "docker"), default=None)
    p.add_argument("--jobs", "-j", type=int, default=None)
    p.add_argument("--students", type=int, default=36, help="class size (at least 30)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CourseError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; run the same command again to finish the rest[/yellow]")
        return 130
    except Exception as exc:
        # Imported only now: `report` and `hub` need not load the grading stack to start.
        from .grading import GradingError
        from .release import ReleaseError
        from .sandbox.base import SandboxUnavailable

        if isinstance(exc, (GradingError, ReleaseError, SandboxUnavailable)):
            console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            return 2
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError):
            # the gradebook's database is down or refuses us: the instructor's setup, not a bug
            reason = " ".join(str(exc.orig).split())
            console.print(f"[red]error:[/red] cannot use the gradebook database: {escape(reason)}", highlight=False)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
