"""Autograde many submissions: plan, execute in parallel workers, score, write (one writer).

Per submission: a worker process sanitizes each notebook and executes it in the sandbox
(see :mod:`gradehub.sandbox.worker`); this process scores the executed cells, writes
``autograded/<student>/<assignment>/`` atomically and the gradebook in one transaction.
Every submission ends as a :class:`GradeResult`; nothing a student wrote can stop the run.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import queue
import selectors
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol
from collections.abc import Callable, Iterable, Iterator

import nbformat
from nbgrader.utils import parse_utc

from .course import Course, CourseError, is_valid_id
from .gradebook import StatusRow, open_gradebook, read_extensions, read_status, sync_roster, write_submission
from .late import late_penalty
from .checks import notebook_verdicts
from .metadata import is_solution, nbgrader_meta
from .protocol import (
    UNVERIFIED,
    DataFile,
    Job,
    JobRun,
    NotebookJob,
    NotebookRun,
    Verdict,
    read_records,
    verdicts_to_json,
)
from .reference import (
    REFERENCE_ID,
    Reference,
    ReferenceError,  # noqa: A004 - gradehub's, not the builtin
    load_cached,
    reference_key,
    run_reference,
    variants_tag,
)
from .sandbox.base import Outcome, SandboxUnavailable, get_sandbox
from .variants import Variant, VariantError, assignment_specs, student_variants, variant_record

RESULT_FILE = "gradehub-result.json"


class GradingError(Exception):
    """The platform cannot grade at all (locked course, unusable sandbox, broken source)."""


# ----------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Submission:
    student: str
    assignment: str
    path: Path
    timestamp: dt.datetime | None  # naive UTC, as nbgrader stores it


@dataclass
class Skipped:
    name: str
    reason: str


def _read_timestamp(path: Path) -> dt.datetime | None:
    ts_file = path / "timestamp.txt"
    try:
        if ts_file.is_file() and not ts_file.is_symlink() and ts_file.stat().st_size < 200:
            return parse_utc(ts_file.read_text(encoding="utf-8").strip())
    except (ValueError, OSError, OverflowError):
        return None
    return None


def find_submissions(
    course: Course, assignment: str, students: list[str] | None = None
) -> tuple[list[Submission], list[Skipped]]:
    """Submissions in ``submitted/`` for one assignment, and entries that cannot be graded."""
    root = course.submitted_dir()
    found: list[Submission] = []
    skipped: list[Skipped] = []
    if not root.is_dir():
        return found, skipped
    wanted = set(students) if students else None
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        name = entry.name
        if wanted is not None and name not in wanted:
            continue
        if not is_valid_id(name):
            skipped.append(Skipped(name, "not a valid student id (spaces, odd characters or '..')"))
            continue
        if entry.is_symlink() or not entry.is_dir():
            skipped.append(Skipped(name, "not a directory (symlinks are not followed)"))
            continue
        sub = entry / assignment
        if not sub.exists():
            continue
        if sub.is_symlink() or not sub.is_dir():
            skipped.append(Skipped(name, f"{assignment} is not a directory (symlinks are not followed)"))
            continue
        found.append(Submission(name, assignment, sub, _read_timestamp(sub)))
    return found, skipped


def _iso(ts: dt.datetime | None) -> str | None:
    return ts.isoformat() if ts else None


def needs_grading(course: Course, sub: Submission, status: dict, force: bool) -> bool:
    """Whether ``sub`` still has to be graded: it is done only when its status row and its
    autograded folder are of the same grading (a run killed between the gradebook's commit and
    the folder's swap leaves a row whose folder is an older grading's, or none) and of this
    submission."""
    if force:
        return True
    row = status.get((sub.assignment, sub.student))
    if row is None or row.submitted_at != _iso(sub.timestamp):
        return True
    try:
        done = json.loads((course.autograded_dir(sub.student, sub.assignment) / RESULT_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return True
    if not isinstance(done, dict):
        return True
    # A folder written before gradings were stamped has no graded_at: it counts as the row's.
    return (done.get("submitted_at"), done.get("graded_at", row.graded_at)) != (row.submitted_at, row.graded_at)


# ----------------------------------------------------------------------------- scoring


@dataclass
class CellScore:
    notebook: str
    grade_id: str
    points: float
    max_points: float | None
    needs_manual: bool


@dataclass
class GradeResult:
    student: str
    assignment: str
    status: str  # graded | needs_manual | failed | invalid | error
    message: str
    score: float = 0.0
    max_score: float = 0.0
    cells: list[CellScore] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    duration: float = 0.0
    late_penalty: float = 0.0
    platform_error: bool = False
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def unverified_points(self) -> float:
        """Points awarded by old-style tests, which the kernel itself decided."""
        return sum(v.points or 0.0 for v in self.verdicts if v.kind == UNVERIFIED)


def _graded_cells_of(nb: nbformat.NotebookNode) -> list[tuple[str, float, bool]]:
    return [
        (m["grade_id"], float(m.get("points", 0) or 0), is_solution(c))
        for c in nb.cells
        if (m := nbgrader_meta(c)) and m.get("grade")
    ]


# ----------------------------------------------------------------------------- workers


class WorkerProcess:
    """One long-lived ``gradehub.sandbox.worker`` process, used by one thread at a time."""

    def __init__(self, log_path: Path):
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        with open(self.log_path, "ab") as log:  # the worker keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gradehub.sandbox.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                env=env,
                close_fds=True,
            )
        return self.proc

    def run(self, job: Job, timeout: float) -> JobRun:
        proc = self.proc if self.proc and self.proc.poll() is None else self._start()
        stdin, stdout = proc.stdin, proc.stdout
        if stdin is None or stdout is None:
            raise RuntimeError("the grading worker was started without pipes")
        try:
            stdin.write((job.to_json() + "\n").encode())
            stdin.flush()
            # a selector, not select.select: that fails for a descriptor number >= 1024, which a
            # long-running coordinator (a hub, a test session, a Dask client) can reach
            with selectors.DefaultSelector() as waiting:
                waiting.register(stdout, selectors.EVENT_READ)
                ready = waiting.select(timeout)
            line = stdout.readline() if ready else b""
        except (BrokenPipeError, OSError):
            line = b""
        if line:
            return JobRun.from_json(line)
        code = proc.poll()
        self.stop()
        if code is None:
            return JobRun(job.key, crash=f"the grading worker did not answer within {timeout:.0f} s")
        return JobRun(job.key, crash=f"the grading worker stopped (exit code {code}) while executing this submission")

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is None:
                    continue
                try:
                    stream.close()
                except OSError:
                    pass
            self.proc = None


class WorkerPool:
    def __init__(self, size: int, log_dir: Path):
        log_dir.mkdir(parents=True, exist_ok=True)
        self._idle: queue.Queue[WorkerProcess] = queue.Queue()
        self._all = [WorkerProcess(log_dir / f"worker-{i}.log") for i in range(size)]
        for w in self._all:
            self._idle.put(w)

    def run(self, job: Job, timeout: float) -> JobRun:
        worker = self._idle.get()
        try:
            return worker.run(job, timeout)
        finally:
            self._idle.put(worker)

    def close(self) -> None:
        for w in self._all:
            w.stop()


def default_jobs(cores: int, load: float = 0.0) -> int:
    """How many submissions to grade at once on a machine with ``cores`` cores, when the
    1-minute load average of other work is ``load``.

    A submission's container start and stop, sanitizing and scoring leave its core idle for a
    while; one job more than cores fills those gaps on an otherwise idle machine (measured: 16
    torch submissions on 2 cores, 3 jobs 21.3 s against 2 jobs 24.1 s). When other work keeps the
    cores busy (a load of one core or more), it already fills them, and the extra job only
    competes: on this project's shared 2-core machine at load 4 to 10, 3 jobs were as fast or
    slower than 2 in every pair of runs (``benchmarks/bench_jobs.py``, figures with their load in
    ``benchmarks/results/jobs_docker_16_*.txt``). So: cores + 1 when idle, cores when busy, and at
    least 2 on one idle core (nothing to overlap with otherwise).
    """
    cores = max(1, cores)
    return cores if load >= 1.0 else max(2, cores + 1)


class JobRunner(Protocol):
    """Where worker jobs run: a :class:`LocalRunner` here, or a cluster (:mod:`gradehub.cluster`).

    ``run`` and ``run_all`` answer with :class:`JobRun` whose files (executed notebook, records)
    lie at the job's ``out_dir`` on this machine, wherever the job ran.
    """

    description: str  # where the jobs run, for the summary ("" for this machine)

    def preflight(self, sandbox: str, options: dict) -> None:
        """Raise :class:`SandboxUnavailable` when the sandbox cannot run where the jobs will."""

    def open(self, slots: int, log_dir: Path) -> int:
        """Get ready for up to ``slots`` jobs at once; return the threads each kernel may use."""

    def run(self, job: Job, timeout: float) -> JobRun: ...

    def run_all(self, jobs: list[Job], timeout: float) -> Iterator[tuple[int, JobRun]]:
        """Each job's index and answer, in the order they finish; exactly one answer per job."""

    def close(self) -> None: ...


class LocalRunner:
    """Grading worker processes on this machine, ``slots`` at a time.

    One thread pool for the whole run (the reference runs and the submissions): a worker
    process dies with the thread that started it (``PR_SET_PDEATHSIG``), so no thread that may
    have started a worker ends before :meth:`close`.
    """

    description = ""

    def __init__(self) -> None:
        self._pool: WorkerPool | None = None
        self._threads: ThreadPoolExecutor | None = None

    def preflight(self, sandbox: str, options: dict) -> None:
        get_sandbox(sandbox, **options).preflight()

    def open(self, slots: int, log_dir: Path) -> int:
        self._pool = WorkerPool(slots, log_dir)
        self._threads = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="grade")
        return max(1, (os.cpu_count() or 1) // slots)

    def run(self, job: Job, timeout: float) -> JobRun:
        if self._pool is None:
            raise RuntimeError("LocalRunner.run before open")
        return self._pool.run(job, timeout)

    def run_all(self, jobs: list[Job], timeout: float) -> Iterator[tuple[int, JobRun]]:
        if self._threads is None:
            raise RuntimeError("LocalRunner.run_all before open")
        futures = {self._threads.submit(self.run, job, timeout): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            yield futures[future], future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)


# ----------------------------------------------------------------------------- the run


def _references(
    course: Course,
    assignment: str,
    names: list[str],
    runner: JobRunner,
    work_root: Path,
    timeout: float,
    variant_sets: Iterable[dict[str, Variant]],
    make_job: Callable[[Submission, Path, dict[str, Variant]], Job],
    describe: dict,
) -> dict[str | None, Reference | ReferenceError]:
    """The reference of every variant in ``variant_sets`` (one, tag None, on a sheet without
    variants): from the cache, or run on the source through ``runner`` (all at once, before any
    submission: the same sandbox and thread count as the students' runs). A broken reference is
    a result for its variant's students, not an exception."""
    wanted = {variants_tag(v): v for v in variant_sets}
    planned: dict[str | None, tuple[Job, str]] = {}
    for tag, variants in wanted.items():
        ref_sub = Submission(REFERENCE_ID, assignment, course.grading_source_dir(assignment), None)
        job = make_job(ref_sub, work_root / ("reference" + (f"-{tag}" if tag else "")), variants)
        job.label = f"{assignment}-reference"
        planned[tag] = (job, reference_key(course, assignment, names, job.data_files, describe, variants))
    pending = [tag for tag, (_, key) in planned.items() if load_cached(course, assignment, names, key, tag) is None]
    replies = {pending[i]: reply for i, reply in runner.run_all([planned[t][0] for t in pending], timeout)}
    references: dict[str | None, Reference | ReferenceError] = {}
    for tag, (_, key) in planned.items():
        try:
            references[tag] = run_reference(course, assignment, names, key, lambda t=tag: replies[t], tag)  # type: ignore[misc]
        except ReferenceError as exc:
            references[tag] = exc
    return references


@dataclass
class RunSummary:
    assignment: str
    sandbox: str
    results: list[GradeResult] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    up_to_date: int = 0
    duration: float = 0.0
    reference_duration: float = 0.0
    reference_cached: bool = False
    reference_runs: int = 0  # references run (not from the cache): one per variant on a sheet with variants
    where: str = ""  # where the jobs ran, when not on this machine (a cluster's address)

    @property
    def platform_failed(self) -> bool:
        return any(r.platform_error for r in self.results)


@contextmanager
def course_lock(course: Course) -> Iterator[None]:
    course.state_dir.mkdir(parents=True, exist_ok=True)
    with open(course.state_dir / "autograde.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GradingError("another `gradehub autograde` is running on this course root") from None
        yield


def _notebook_names(course: Course, assignment: str) -> list[str]:
    source = course.grading_source_dir(assignment)
    names = sorted(p.stem for p in source.glob("*.ipynb"))
    if not names:
        raise GradingError(f"source/{assignment}/ holds no notebook")
    for name in names:
        if not (course.release_dir(assignment) / f"{name}.ipynb").is_file():
            raise GradingError(f"release/{assignment}/{name}.ipynb is missing; run `gradehub release {assignment}`")
    return names


def _data_files(course: Course, assignment: str) -> list[DataFile]:
    release = course.release_dir(assignment)
    # an otter notebook's first cell, `otter.Notebook("x.ipynb")`, reads the notebook beside it:
    # the release (public tests only) is in the job directory, as in the student's JupyterLab
    notebooks = course.assignment(assignment).format == "otter"
    return [
        DataFile(str(p.relative_to(release)), str(p))
        for p in sorted(release.rglob("*"))
        if p.is_file() and (notebooks or p.suffix != ".ipynb") and ".ipynb_checkpoints" not in p.parts
    ]


def _job(
    course: Course,
    sub: Submission,
    names: list[str],
    out_dir: Path,
    sandbox_name: str,
    sandbox_options: dict,
    threads: int,
    gpus: bool,
    variants: dict[str, Variant] | None = None,
) -> Job:
    notebooks = []
    variants = variants or {}
    for name in names:
        candidate = sub.path / f"{name}.ipynb"
        notebooks.append(
            NotebookJob(
                name=name,
                submitted=str(candidate) if (candidate.exists() or candidate.is_symlink()) else None,
                source=str(course.grading_source_dir(sub.assignment) / f"{name}.ipynb"),
                release=str(course.release_dir(sub.assignment) / f"{name}.ipynb"),
                variant=variants[name].to_wire() if name in variants else None,
            )
        )
    return Job(
        key=f"{sub.student}/{sub.assignment}",
        label=f"{sub.assignment}-{sub.student}",
        notebooks=notebooks,
        data_files=_data_files(course, sub.assignment),
        out_dir=str(out_dir),
        limits=asdict(course.limits),
        sandbox={"name": sandbox_name, "options": sandbox_options},
        threads=threads,
        gpus=gpus,
    )


def _finish(
    course: Course,
    sub: Submission,
    reply: JobRun,
    out_dir: Path,
    sandbox_name: str,
    gb,
    reference: Reference,
    sources: dict[str, nbformat.NotebookNode],
    extension_until: dt.datetime | None = None,
    variants: dict[str, Variant] | None = None,
) -> GradeResult:
    """Score one worker reply, then write autograded/ and the gradebook."""
    assignment = course.assignment(sub.assignment)
    result = GradeResult(sub.student, sub.assignment, "graded", "")
    if reply.failed:
        result.platform_error = reply.error is not None
        result.status = "error" if reply.error is not None else "failed"
        result.message = reply.failure()
        # Grade as nothing ran, so the gradebook still shows a zero with a reason.
        reply = JobRun(
            reply.key,
            [NotebookRun(n, Outcome.INVALID.value, result.message) for n in _notebook_names(course, sub.assignment)],
        )
    scores: dict[str, dict[str, tuple[float | None, bool]]] = {}
    comments: dict[str, dict[str, str | None]] = {}
    messages: list[str] = []
    for run in reply.notebooks:
        name = run.name
        result.notes.extend(f"{name}: {n}" for n in run.notes)
        result.flags.extend(run.flags)
        if run.message:
            messages.append(run.message)
        if run.output_capped:
            result.notes.append(f"{name}: output was cut at {course.limits.output_bytes} bytes")
        if run.executed:
            nb = nbformat.read(run.executed, as_version=4)
            verdicts, _problems = notebook_verdicts(
                name, sources[name], nb, run.statuses, read_records(run.records), reference.records.get(name, {})
            )
        else:
            verdicts = [
                Verdict(name, gid, 0.0, pts, "manual" if solution else UNVERIFIED, False, run.message or "not run")
                for gid, pts, solution in _graded_cells_of(sources[name])
            ]
        result.verdicts.extend(verdicts)
        scores[name] = {v.grade_id: (v.points, v.needs_manual) for v in verdicts}
        comments[name] = {v.grade_id: None for v in verdicts}
        for v in verdicts:
            result.cells.append(CellScore(name, v.grade_id, v.points or 0.0, v.max_points, v.needs_manual))
    if result.unverified_points:
        # Old-style tests (asserts in the kernel): the kernel decided these points itself.
        result.notes.append(
            f"{result.unverified_points:g} point(s) unverified: old-style tests decided in the student's kernel"
        )
    result.max_score = sum(c.max_points or 0 for c in result.cells)
    result.score = sum(c.points for c in result.cells)
    result.duration = reply.duration
    outcomes = {Outcome(run.outcome) for run in reply.notebooks}
    if result.status == "graded":
        if Outcome.INVALID in outcomes:
            result.status = "invalid"
        elif outcomes - {Outcome.COMPLETED}:
            result.status = "failed"
        elif any(c.needs_manual for c in result.cells):
            result.status = "needs_manual"
    result.message = result.message or "; ".join(m for m in messages if m) or "graded"
    if Outcome.SANDBOX_ERROR in outcomes:
        result.platform_error = True

    penalty = late_penalty(assignment.late_policy, assignment.due, sub.timestamp, result.max_score, extension_until)
    result.late_penalty = penalty.points
    # the same in the status row and the result file: together they say which grading is in place
    graded_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    # 1. the autograded folder, built aside ...
    staging = course.state_dir / "tmp" / f"{sub.student}-{sub.assignment}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for run in reply.notebooks:
        if run.executed:
            shutil.copyfile(run.executed, staging / f"{run.name}.ipynb")
    if (sub.path / "timestamp.txt").is_file() and sub.timestamp is not None:
        (staging / "timestamp.txt").write_text(str(sub.timestamp), encoding="utf-8")
    # the secret that names this submission's feedback in the exchange (gradehub.exchange.release_feedback):
    # kept with the graded copy, since submitted/ may hold a newer submission by the time feedback is released
    secret = sub.path / "submission_secret.txt"
    if secret.is_file() and not secret.is_symlink() and secret.stat().st_size <= 4096:
        shutil.copyfile(secret, staging / "submission_secret.txt")
    (staging / RESULT_FILE).write_text(
        json.dumps(
            {
                "student": sub.student,
                "assignment": sub.assignment,
                "status": result.status,
                "message": result.message,
                "score": result.score,
                "max_score": result.max_score,
                "late_penalty": result.late_penalty,
                "late_policy": penalty.policy,
                "notes": result.notes,
                "flags": result.flags,
                "sandbox": sandbox_name,
                "submitted_at": _iso(sub.timestamp),
                "graded_at": graded_at,
                # work-dir paths (executed, records) are gone after the run; the verdicts are what stays
                "notebooks": [{**asdict(run), "executed": None, "records": None} for run in reply.notebooks],
                "verdicts": verdicts_to_json(result.verdicts),
                # per-student variants: the seed and parameters this submission was graded on
                "variant": variant_record(variants or {}),
            },
            indent=1,
            default=str,
        ),
        encoding="utf-8",
    )
    # 2. ... the gradebook in one transaction ...
    write_submission(
        gb,
        assignment=sub.assignment,
        student=sub.student,
        timestamp=sub.timestamp,
        scores=scores,
        comments=comments,
        late_penalty=penalty.points,
        extension=(penalty.due - assignment.due) if penalty.extended and penalty.due and assignment.due else None,
        status=StatusRow(
            sub.assignment,
            sub.student,
            result.status,
            result.message,
            result.notes,
            result.flags,
            sandbox_name,
            result.duration,
            _iso(sub.timestamp),
            graded_at,
        ),
    )
    # 3. ... then swapped into place, so autograded/ never holds half a submission.
    final = course.autograded_dir(sub.student, sub.assignment)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        trash = staging.with_name(staging.name + ".old")
        shutil.rmtree(trash, ignore_errors=True)
        final.rename(trash)
        staging.rename(final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        staging.rename(final)
    return result


ProgressCallback = Callable[[str, "GradeResult | None", int, int], None]


def autograde(
    course: Course,
    assignment: str,
    *,
    students: list[str] | None = None,
    jobs: int | None = None,
    sandbox: str = "local",
    sandbox_options: dict | None = None,
    force: bool = False,
    gpus: bool = False,
    progress: ProgressCallback | None = None,
    runner: JobRunner | None = None,
) -> RunSummary:
    """Grade every (or the given) submission of ``assignment`` that is not graded yet.

    ``runner`` says where the jobs run (default: worker processes on this machine, ``jobs`` at
    once); scoring and every write stay in this process whatever the runner.
    """
    course.assignment(assignment)
    names = _notebook_names(course, assignment)
    runner = runner or LocalRunner()
    backend = get_sandbox(sandbox, **(sandbox_options or {}))
    runner.preflight(sandbox, sandbox_options or {})
    jobs = max(1, jobs or default_jobs(os.cpu_count() or 1, os.getloadavg()[0]))
    summary = RunSummary(assignment, sandbox, where=runner.description)
    started = time.monotonic()
    with course_lock(course), open_gradebook(course) as gb:
        shutil.rmtree(course.state_dir / "tmp", ignore_errors=True)
        # The penalty written now must already count `gradehub extend`; reports recompute it anyway.
        extensions = read_extensions(gb.engine, assignment)
        if course.roster_path.is_file():
            sync_roster(gb, course)
        subs, summary.skipped = find_submissions(course, assignment, students)
        known = {s.id for s in gb.students}
        for sub in list(subs):
            if sub.student not in known:
                gb.update_or_create_student(sub.student)
        status = read_status(gb, assignment)
        todo = [s for s in subs if needs_grading(course, s, status, force)]
        summary.up_to_date = len(subs) - len(todo)
        if not todo:
            summary.duration = time.monotonic() - started
            return summary
        work_root = course.state_dir / "work"
        shutil.rmtree(work_root, ignore_errors=True)
        timeout = course.limits.notebook_timeout * len(names) + 120
        sources = {n: nbformat.read(course.grading_source_dir(assignment) / f"{n}.ipynb", as_version=4) for n in names}
        # Per-student variants: each student's from the course secret (on this host only).
        try:
            specs = assignment_specs(course, assignment)
            variants_of = {sub.student: student_variants(course, sub.student, assignment, specs) for sub in todo}
        except VariantError as exc:
            raise GradingError(str(exc)) from None
        try:
            threads = runner.open(min(jobs, len(todo)), course.state_dir / "logs")
            references = _references(
                course, assignment, names, runner, work_root, timeout, variants_of.values(),
                lambda sub, out, v: _job(course, sub, names, out, sandbox, sandbox_options or {}, threads, gpus, v),
                {**backend.describe(), "threads": threads, "gpus": gpus},
            )  # fmt: skip
            if not specs and isinstance(references[None], ReferenceError):
                raise GradingError(str(references[None]))  # one reference for everyone: nothing can be graded
            done_refs = [r for r in references.values() if isinstance(r, Reference)]
            summary.reference_duration = sum(r.duration for r in done_refs)
            summary.reference_cached = bool(done_refs) and all(r.cached for r in done_refs)
            summary.reference_runs = sum(not r.cached for r in done_refs)
            done = 0
            gradable: list[tuple[Submission, Path, Reference, dict[str, Variant]]] = []
            for sub in todo:
                variants = variants_of[sub.student]
                reference = references[variants_tag(variants)]
                if isinstance(reference, ReferenceError):  # this variant's reference is broken
                    done += 1
                    summary.results.append(
                        GradeResult(sub.student, assignment, "error", str(reference), platform_error=True)
                    )
                    if progress:
                        progress(sub.student, summary.results[-1], done, len(todo))
                    continue
                gradable.append((sub, work_root / f"{sub.student}-{sub.assignment}", reference, variants))
            batch = [
                _job(course, sub, names, out_dir, sandbox, sandbox_options or {}, threads, gpus, variants)
                for sub, out_dir, _, variants in gradable
            ]
            for index, reply in runner.run_all(batch, timeout):
                sub, out_dir, reference, variants = gradable[index]
                try:
                    ext = extensions.get((assignment, sub.student))
                    until = ext.until if ext else None
                    result = _finish(course, sub, reply, out_dir, sandbox, gb, reference, sources, until, variants)
                except Exception as exc:  # noqa: BLE001 - one submission never stops the run
                    result = GradeResult(
                        sub.student,
                        assignment,
                        "error",
                        f"could not record the grade: {type(exc).__name__}: {exc}",
                        platform_error=True,
                    )
                finally:
                    shutil.rmtree(out_dir, ignore_errors=True)
                summary.results.append(result)
                done += 1
                if progress:
                    progress(sub.student, result, done, len(todo))
        finally:
            runner.close()
            shutil.rmtree(work_root, ignore_errors=True)
    summary.results.sort(key=lambda r: r.student)
    summary.duration = time.monotonic() - started
    return summary


__all__ = [
    "CourseError",
    "GradeResult",
    "GradingError",
    "JobRunner",
    "LocalRunner",
    "RunSummary",
    "SandboxUnavailable",
    "autograde",
    "find_submissions",
]
