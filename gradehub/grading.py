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
import select
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterator

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
    reference_key,
    run_reference,
)
from .sandbox.base import Outcome, SandboxUnavailable, get_sandbox

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
    if force:
        return True
    row = status.get((sub.assignment, sub.student))
    done = course.autograded_dir(sub.student, sub.assignment) / RESULT_FILE
    return row is None or row.submitted_at != _iso(sub.timestamp) or not done.is_file()


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


class _Worker:
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
            ready, _, _ = select.select([stdout], [], [], timeout)
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
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all = [_Worker(log_dir / f"worker-{i}.log") for i in range(size)]
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


# ----------------------------------------------------------------------------- the run


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
    return [
        DataFile(str(p.relative_to(release)), str(p))
        for p in sorted(release.rglob("*"))
        if p.is_file() and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in p.parts
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
) -> Job:
    notebooks = []
    for name in names:
        candidate = sub.path / f"{name}.ipynb"
        notebooks.append(
            NotebookJob(
                name=name,
                submitted=str(candidate) if (candidate.exists() or candidate.is_symlink()) else None,
                source=str(course.grading_source_dir(sub.assignment) / f"{name}.ipynb"),
                release=str(course.release_dir(sub.assignment) / f"{name}.ipynb"),
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
                # work-dir paths (executed, records) are gone after the run; the verdicts are what stays
                "notebooks": [{**asdict(run), "executed": None, "records": None} for run in reply.notebooks],
                "verdicts": verdicts_to_json(result.verdicts),
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
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
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
) -> RunSummary:
    """Grade every (or the given) submission of ``assignment`` that is not graded yet."""
    course.assignment(assignment)
    names = _notebook_names(course, assignment)
    backend = get_sandbox(sandbox, **(sandbox_options or {}))
    backend.preflight()
    jobs = max(1, jobs or os.cpu_count() or 1)
    summary = RunSummary(assignment, sandbox)
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
        threads = max(1, (os.cpu_count() or 1) // min(jobs, len(todo)))
        work_root = course.state_dir / "work"
        shutil.rmtree(work_root, ignore_errors=True)
        pool = WorkerPool(min(jobs, len(todo)), course.state_dir / "logs")
        timeout = course.limits.notebook_timeout * len(names) + 120
        sources = {n: nbformat.read(course.grading_source_dir(assignment) / f"{n}.ipynb", as_version=4) for n in names}
        try:
            # The reference run: once per run (or from the cache), in the same sandbox and with the
            # same thread count as the students' runs, before any of them.
            ref_sub = Submission(REFERENCE_ID, assignment, course.grading_source_dir(assignment), None)
            ref_out = work_root / "reference"
            ref_job = _job(course, ref_sub, names, ref_out, sandbox, sandbox_options or {}, threads, gpus)
            ref_job.label = f"{assignment}-reference"
            key = reference_key(
                course, assignment, names, ref_job.data_files, {**backend.describe(), "threads": threads, "gpus": gpus}
            )
            try:
                reference = run_reference(course, assignment, names, key, lambda: pool.run(ref_job, timeout))
            except ReferenceError as exc:
                raise GradingError(str(exc)) from None
            summary.reference_duration = reference.duration
            summary.reference_cached = reference.cached
            with ThreadPoolExecutor(max_workers=min(jobs, len(todo)), thread_name_prefix="grade") as ex:
                futures = {}
                for sub in todo:
                    out_dir = work_root / f"{sub.student}-{sub.assignment}"
                    job = _job(course, sub, names, out_dir, sandbox, sandbox_options or {}, threads, gpus)
                    futures[ex.submit(pool.run, job, timeout)] = (sub, out_dir)
                for done, future in enumerate(as_completed(futures), start=1):
                    sub, out_dir = futures[future]
                    reply = future.result()
                    try:
                        ext = extensions.get((assignment, sub.student))
                        result = _finish(
                            course, sub, reply, out_dir, sandbox, gb, reference, sources, ext.until if ext else None
                        )
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
                    if progress:
                        progress(sub.student, result, done, len(todo))
        finally:
            pool.close()
            shutil.rmtree(work_root, ignore_errors=True)
    summary.results.sort(key=lambda r: r.student)
    summary.duration = time.monotonic() - started
    return summary


__all__ = [
    "CourseError",
    "GradeResult",
    "GradingError",
    "RunSummary",
    "SandboxUnavailable",
    "autograde",
    "find_submissions",
]
