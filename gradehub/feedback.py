"""``gradehub feedback ASSIGNMENT``: one HTML page per student, with no hidden test in it.

nbgrader's feedback converts the graded notebook, hidden tests included. Here the page is
built from pieces, each of which is safe on its own:

- the student's answers: the text of their answer cells (from the executed notebook);
- per task: points, the *visible* test code (from the release, which never held the hidden
  tests), and the grader's verdict: passed or failed, with the reason the grader wrote itself
  on the host (see :mod:`gradehub.checks`). No output of a test cell is shown, in any form;
- tutor comments, the late penalty with the policy and deadline that applied (extensions
  included, recomputed now), and for a failed execution what happened, in plain words.

Tutor points and comments are shown only once the instructor has released the assignment's
grades (:func:`gradehub.results.release_grades`); before that a released page shows the
automatic tests' points and says that the written answers are graded by the tutor.
``gradehub feedback`` writes the instructor's preview (everything); ``gradehub feedback
--release`` writes and gives out the page as the student may see it now
(:func:`gradehub.exchange.release_feedback`).

Outputs of the student's own cells are not shown: code can read the hidden tests of earlier
cells from the kernel's history (``In``/``_ih``) and print them. As a last line of defence
every page is checked for hidden-test lines before it is written; a page that contains one
is not written (the run reports it as skipped).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import inspect, select

from .course import Course, CourseError, format_size, is_valid_id
from .gradebook import STATUS, gradebook_engine, released_grades
from . import metadata
from .protocol import UNVERIFIED, Verdict, verdicts_from_json

# The markers without their "### ": the redactor also catches a student's output that quotes
# them in another case or spacing.
BEGIN_HIDDEN, END_HIDDEN = (m.removeprefix("### ") for m in (metadata.BEGIN_HIDDEN, metadata.END_HIDDEN))
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
MIN_MATCH = 6  # normalised characters below which a hidden line is matched only exactly


def _norm(value: str) -> str:
    """Whitespace, quotes, backslashes and escaped newlines removed: what survives repr() and reflow."""
    value = re.sub(r"\\[nrt]", "", value)
    return re.sub(r"[\s'\"`\\]", "", value)


def _strip_ansi(value: str) -> str:
    return _ANSI.sub("", value)


def _hidden_regions(source: str) -> list[list[str]]:
    regions: list[list[str]] = []
    current: list[str] | None = None
    for line in source.splitlines():
        if BEGIN_HIDDEN in line:
            current = []
            continue
        if END_HIDDEN in line:
            if current is not None:
                regions.append(current)
            current = None
            continue
        if current is not None:
            current.append(line)
    if current:
        regions.append(current)  # an unclosed region is hidden to the end of the cell
    return regions


class Redactor:
    """Removes hidden-test source from any text: exact lines, lines that contain one, fragments of one.

    ``hidden`` are the lines of the source notebooks' hidden-test regions that cannot be
    read anywhere in the release (a line that the release shows is public anyway).
    """

    def __init__(self, hidden_regions: list[list[str]], public_text: str = ""):
        public = _norm(public_text)
        lines = [ln for region in hidden_regions for ln in region if ln.strip()]
        self.exact = {ln.strip() for ln in lines if ln.strip() not in public_text}
        self.long = sorted(
            {n for ln in lines if len(n := _norm(ln)) >= MIN_MATCH and n not in public}, key=len, reverse=True
        )
        # fragments are looked for in the secret lines only: a public line is no secret, whole or in part
        self.joined = [
            "".join(n for ln in region if (n := _norm(ln)) and n not in public and ln.strip() in self.exact)
            for region in hidden_regions
        ]

    def is_secret(self, line: str) -> bool:
        stripped = line.strip()
        if not stripped:
            return False
        if BEGIN_HIDDEN in line.upper() or END_HIDDEN in line.upper() or stripped in self.exact:
            return True
        n = _norm(line)
        if any(h in n for h in self.long):
            return True
        return len(n) >= MIN_MATCH and any(n in j for j in self.joined)

    def clean(self, value: str) -> str:
        lines = _strip_ansi(value).split("\n")
        return "\n".join(ln for ln in lines if not self.is_secret(ln))

    def leaks(self, page: str) -> list[str]:
        n = _norm(html.unescape(page))
        return [h for h in self.long if h in n]


# ----------------------------------------------------------------------------- reading


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _meta(cell: dict) -> dict:
    return metadata.nbgrader_meta(cell) or {}


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def build_redactor(course: Course, assignment: str) -> Redactor:
    """Hidden-test lines of every source notebook of the assignment, minus what the release shows."""
    regions: list[list[str]] = []
    public: list[str] = []
    for path in sorted(course.grading_source_dir(assignment).glob("*.ipynb")):
        nb = _read_json(path) or {}
        for cell in nb.get("cells", []):
            regions.extend(_hidden_regions(_source(cell)))
    for path in sorted(course.release_dir(assignment).glob("*.ipynb")):
        nb = _read_json(path) or {}
        public.extend(_source(c) for c in nb.get("cells", []))
    return Redactor(regions, "\n".join(public))


def _status_rows(course: Course, assignment: str) -> dict[str, tuple[str, str]]:
    engine = gradebook_engine(course)
    try:
        if not inspect(engine).has_table(STATUS.name):
            return {}
        with engine.connect() as conn:
            rows = conn.execute(
                select(STATUS.c.student, STATUS.c.status, STATUS.c.message).where(STATUS.c.assignment == assignment)
            ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}
    finally:
        engine.dispose()


# ----------------------------------------------------------------------------- plain words


def explain_failure(course: Course, status: str, message: str, outcome: str | None) -> str:
    """What happened to a submission that did not run to the end, for the student."""
    limits = course.limits
    if status == "invalid" or outcome == "invalid":
        return (
            f"We could not read the notebook you submitted, so nothing in it ran and every task scored 0. "
            f"The reason: {message}. Submit the notebook again as JupyterLab saves it (File → Save), "
            "without editing the file by hand."
        )
    if status == "error" or outcome == "sandbox_error":
        return (
            "The grading platform failed on your submission. This is not your fault: your instructors "
            "see it in their report and will grade it again."
        )
    if outcome == "cell_timeout":
        return (
            f"One of your cells ran longer than the limit of {limits.cell_timeout:g} seconds per cell and was "
            f"interrupted ({message}). The cells after it still ran; a task whose code was cut off scored 0 "
            "for that part. Look for a loop that does not end or work that could be done with arrays."
        )
    if outcome == "timeout":
        return (
            f"Your notebook as a whole ran longer than allowed ({limits.notebook_timeout:g} seconds) and was "
            f"stopped ({message}). Cells that had not run by then scored 0."
        )
    if outcome == "out_of_memory":
        return (
            f"Your notebook used more memory than the limit of {format_size(limits.memory_bytes)} and was "
            f"stopped ({message}). Cells that had not run by then scored 0. Large arrays or copies kept in "
            "a loop are the usual cause."
        )
    if outcome == "kernel_died":
        return (
            f"The Python process running your notebook ended unexpectedly ({message}) — for example through "
            "exit(), os._exit() or a crash inside a compiled library. Cells after that point did not run "
            "and scored 0."
        )
    return f"Your notebook did not run to the end: {message}. Cells that did not run scored 0."


# ----------------------------------------------------------------------------- the page


_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 920px; color: #222; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.sub { color: #666; margin-top: 0; }
.box { border: 1px solid #ddd; border-radius: 6px; padding: 10px 14px; margin: 10px 0; }
.total { font-size: 20px; font-weight: 600; }
.ok { color: #2e7d32; font-weight: 600; } .bad { color: #c62828; font-weight: 600; }
.wait { color: #8a6d00; font-weight: 600; } .muted { color: #777; }
pre { background: #f6f8fa; padding: 8px 10px; border-radius: 4px; overflow-x: auto; font-size: 13px;
      white-space: pre-wrap; word-break: break-word; }
.warn { background: #fff4e5; border-color: #f0c36d; }
.comment { background: #eef6ff; border-color: #9cc3f5; }
table { border-collapse: collapse; font-size: 14px; } td, th { padding: 3px 10px; border-bottom: 1px solid #eee;
text-align: left; } td.n { text-align: right; }
"""


@dataclass
class Task:
    grade_id: str
    kind: str  # "tests" | "written"
    points: float | None
    max_points: float
    title: str
    answers: list[tuple[str, str]] = field(default_factory=list)  # (cell type, text)
    html: str = ""
    held: bool = False  # a tutor's points, not shown until the grades are released


def grades_are_released(course: Course, assignment: str) -> bool:
    """Whether the instructor has released ``assignment``'s grades (tutor points, comments, totals)."""
    engine = gradebook_engine(course)
    try:
        return assignment in released_grades(engine)
    finally:
        engine.dispose()


@dataclass
class FeedbackRun:
    assignment: str
    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    with_grades: bool = True  # the pages show the tutor's points and comments (grades released)


def _fmt_points(v: float | None) -> str:
    return "–" if v is None or v != v else f"{v:g}"


def _when(ts, tz: str) -> str:
    if ts is None or ts is pd.NaT or (isinstance(ts, float) and ts != ts):
        return "–"
    ts = pd.Timestamp(ts)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return ts.tz_convert(tz).strftime("%Y-%m-%d %H:%M %Z")


def _test_task_html(
    task: Task, verdict: Verdict | None, release_cell: dict, redactor: Redactor, not_run_reason: str
) -> str:
    """A test cell as the student sees it: the visible tests, and the grader's verdict.

    Built only from the release (which never held the hidden tests) and the verdict, whose
    reason the grader wrote itself. No output of the test cell is shown, in any form: the
    kernel that produced it is the student's, and a function the tests call can print
    anything it finds there.
    """
    esc = html.escape
    parts = []
    visible = _source(release_cell).strip("\n")
    if visible:
        parts.append(f"<div class='muted'>Visible tests:</div><pre>{esc(redactor.clean(visible))}</pre>")
    points = f"{_fmt_points(task.points)} of {_fmt_points(task.max_points)} points"
    if verdict is None:
        parts.append(f"<p><span class='bad'>Not run</span> — {esc(not_run_reason)}. {points}.</p>")
        return "".join(parts)
    if verdict.passed:
        parts.append(f"<p><span class='ok'>Tests passed</span> — {points}.</p>")
    else:
        parts.append(f"<p><span class='bad'>Tests failed</span> — {points}.</p>")
        if verdict.reason:
            parts.append(f"<pre>{esc(redactor.clean(verdict.reason))}</pre>")
    if verdict.kind == UNVERIFIED:
        parts.append("<p class='muted'>This test ran the old way, inside your notebook's kernel.</p>")
    parts.append(
        "<p class='muted'>Hidden tests are shown only as passed or failed; their code and output are not shown.</p>"
    )
    return "".join(parts)


#: No script, no frames, no requests anywhere: every byte a student wrote is escaped already,
#: and this policy stops whatever an escaping bug would let through.
FEEDBACK_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def _page(
    course: Course,
    assignment: str,
    student: str,
    person: dict,
    tasks_by_nb: list[tuple[str, list[Task]]],
    sub: dict,
    failure: str | None,
    redactor: Redactor,
    with_grades: bool = True,
) -> str:
    esc = html.escape
    a = course.assignment(assignment)
    tz = course.timezone
    total_points = sum((t.points or 0.0) for _, tasks in tasks_by_nb for t in tasks)
    max_points = sum(t.max_points for _, tasks in tasks_by_nb for t in tasks)
    penalty = float(sub.get("late_penalty") or 0.0)
    final = max(0.0, total_points - penalty)
    open_manual = [t for _, tasks in tasks_by_nb for t in tasks if t.points is None and not t.held]
    held = [t for _, tasks in tasks_by_nb for t in tasks if t.held]
    name = " ".join(x for x in (person.get("first_name"), person.get("last_name")) if x) or student
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<meta http-equiv='Content-Security-Policy' content=\"{FEEDBACK_CSP}\">",
        f"<title>{esc(assignment)} feedback for {esc(student)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(a.title)}</h1>",
        f"<p class='sub'>Feedback for {esc(name)} ({esc(student)}) · {esc(course.title)}</p>",
        f"<div class='box'><div class='total'>{final:g} of {max_points:g} points</div>",
    ]
    if penalty:
        parts.append(f"<div>{total_points:g} points for your answers − {penalty:g} late penalty</div>")
    if held:
        parts.append(
            f"<div class='wait'>So far the points of the automatic tests only: {len(held)} written answer(s) "
            f"are graded by your tutor, and their points and comments are shown once your instructor "
            f"releases the grades of {esc(assignment)}.</div>"
        )
    if open_manual:
        parts.append(
            f"<div class='wait'>{len(open_manual)} answer(s) are still waiting for your tutor; "
            "the total can still change.</div>"
        )
    parts.append("</div>")
    # the deadline and the late policy
    late_h = float(sub.get("late_hours") or 0.0)
    parts.append("<h2>Submission and deadline</h2><table>")
    parts.append(f"<tr><th>submitted</th><td>{esc(_when(sub.get('submitted_at'), tz))}</td></tr>")
    parts.append(
        f"<tr><th>deadline</th><td>{esc(_when(sub.get('due'), tz))}"
        f"{' (your extension)' if sub.get('extension') else ''}</td></tr>"
    )
    parts.append(f"<tr><th>late by</th><td>{'on time' if late_h <= 0 else f'{late_h:g} hours'}</td></tr>")
    parts.append(f"<tr><th>late penalty</th><td>{penalty:g} points</td></tr>")
    parts.append(
        f"<tr><th>policy applied</th><td>{esc(str(sub.get('late_policy') or a.late_policy.describe()))}"
        "</td></tr></table>"
    )
    if failure:
        parts.append(
            f"<h2>What happened when your notebook ran</h2><div class='box warn'>{esc(redactor.clean(failure))}</div>"
        )
    # the tasks
    parts.append("<h2>Your score per task</h2><table><tr><th>task</th><th>points</th><th>of</th></tr>")
    for _, tasks in tasks_by_nb:
        for t in tasks:
            pts = (
                "shown when the grades are released"
                if t.held
                else "waiting for your tutor"
                if t.points is None
                else _fmt_points(t.points)
            )
            parts.append(
                f"<tr><td>{esc(t.title)}</td><td class='n'>{esc(pts)}</td>"
                f"<td class='n'>{_fmt_points(t.max_points)}</td></tr>"
            )
    parts.append("</table>")
    for nb_name, tasks in tasks_by_nb:
        if len(tasks_by_nb) > 1:
            parts.append(f"<h2>Notebook {esc(nb_name)}</h2>")
        for t in tasks:
            parts.append(f"<h3>{esc(t.title)}</h3><div class='box'>")
            for cell_type, answer in t.answers:
                label = "Your answer" if cell_type == "markdown" else "Your code"
                shown = redactor.clean(answer).strip("\n")
                parts.append(f"<div class='muted'>{label}:</div><pre>{esc(shown) if shown else '(empty)'}</pre>")
            parts.append(t.html)
            parts.append("</div>")
    parts.append(
        "<p class='muted'>Generated by gradehub. Hidden tests are shown only as passed or failed.</p></body></html>"
    )
    return "".join(parts)


def _title_of(heading: str | None, grade_id: str) -> str:
    return f"{heading} · {grade_id}" if heading else grade_id


def _tasks_for_notebook(
    release_nb: dict,
    executed_nb: dict | None,
    verdicts: dict[str, Verdict],
    scores: dict[str, tuple[float | None, float, str, str]],
    redactor: Redactor,
    not_run_reason: str,
    with_grades: bool = True,
) -> list[Task]:
    esc = html.escape
    executed_by_id = {}
    if executed_nb:
        for cell in executed_nb.get("cells", []):
            gid = _meta(cell).get("grade_id")
            if gid and gid not in executed_by_id and not (cell.get("metadata") or {}).get("gradehub", {}).get("guard"):
                executed_by_id[gid] = cell
    tasks: list[Task] = []
    pending: list[tuple[str, str]] = []
    heading = None
    for cell in release_nb.get("cells", []):
        meta = _meta(cell)
        gid = meta.get("grade_id")
        if cell.get("cell_type") == "markdown" and not meta.get("solution"):
            for line in _source(cell).splitlines():
                if line.startswith("#"):
                    heading = line.lstrip("#").strip()
                    break
        if not gid:
            continue
        executed = executed_by_id.get(gid)
        if meta.get("solution"):
            answer = _source(executed) if executed is not None else None
            pending.append(
                (
                    cell.get("cell_type", "code"),
                    answer if answer is not None else "(not available: your notebook could not be read)",
                )
            )
        if not meta.get("grade"):
            continue
        points, max_points, comment, _ = scores.get(gid, (None, float(meta.get("points") or 0), "", ""))
        task = Task(
            gid,
            "written" if meta.get("solution") else "tests",
            points,
            max_points,
            _title_of(heading, gid),
            answers=pending,
        )
        pending = []
        if task.kind == "tests":
            task.html = _test_task_html(task, verdicts.get(gid), cell, redactor, not_run_reason)
        elif not with_grades:
            task.held, task.points = True, None
            task.html = (
                "<p><span class='wait'>graded by your tutor</span> — the points and the comment are "
                "shown once your instructor releases the grades.</p>"
            )
        else:
            state = (
                "<span class='wait'>waiting for your tutor</span>"
                if points is None
                else f"{_fmt_points(points)} of {_fmt_points(max_points)} points"
            )
            task.html = f"<p>{state}</p>"
        if comment and with_grades:
            task.html += (
                f"<div class='box comment'><b>Tutor comment:</b><pre>{esc(redactor.clean(comment))}</pre></div>"
            )
        tasks.append(task)
    return tasks


def feedback_path(course: Course, student: str, assignment: str) -> Path:
    """``feedback/<student>/<assignment>/<assignment>.html``: the page of one student's submission."""
    return course.root / "feedback" / student / assignment / f"{assignment}.html"


def generate_feedback(
    course: Course,
    assignment: str,
    students: list[str] | None = None,
    frames=None,
    with_grades: bool | None = True,
) -> FeedbackRun:
    """Write ``feedback/<student>/<assignment>/<assignment>.html`` for every graded submission.

    ``with_grades``: show the tutor's points and comments (the instructor's preview, the
    default); None: only if the instructor has released the assignment's grades (the page the
    student is given now, as :func:`gradehub.exchange.release_feedback` asks for).
    """
    from .report import build_frames

    course.assignment(assignment)
    if with_grades is None:
        with_grades = grades_are_released(course, assignment)
    release_paths = sorted(course.release_dir(assignment).glob("*.ipynb"))
    if not release_paths:
        raise CourseError(f"release/{assignment}/ holds no notebook; run `gradehub release {assignment}`")
    frames = frames or build_frames(course)
    redactor = build_redactor(course, assignment)
    status_rows = _status_rows(course, assignment)
    subs = frames.submissions[frames.submissions["assignment"] == assignment]
    subs = subs[subs["status"] != "missing"]
    if students:
        unknown = sorted(set(students) - set(subs["student"]))
        subs = subs[subs["student"].isin(students)]
    else:
        unknown = []
    people = frames.overview.set_index("student")[["first_name", "last_name"]].to_dict("index")
    questions = frames.questions[frames.questions["assignment"] == assignment]
    run = FeedbackRun(assignment, with_grades=with_grades)
    run.skipped.extend((s, "no graded submission") for s in unknown)
    for sub in subs.to_dict("records"):
        student = sub["student"]
        if not is_valid_id(str(student)):  # a path component below: never '..', '/' or odd characters
            run.skipped.append((str(student), "not a valid student id"))
            continue
        status, message = status_rows.get(student, ("graded", ""))
        folder = course.autograded_dir(student, assignment)
        result = _read_json(folder / "gradehub-result.json") or {}
        entries = {e.get("name"): e for e in result.get("notebooks", []) if isinstance(e, dict)}
        try:
            verdicts = verdicts_from_json(result.get("verdicts"))
        except (KeyError, TypeError, ValueError):
            verdicts = []
        mine = questions[questions["student"] == student]
        tasks_by_nb = []
        outcomes = []
        for path in release_paths:
            nb_name = path.stem
            release_nb = _read_json(path) or {}
            executed_nb = _read_json(folder / path.name)
            entry = entries.get(nb_name, {})
            if entry.get("outcome"):
                outcomes.append(entry["outcome"])
            scores = {}
            for row in mine[mine["notebook"] == nb_name].itertuples(index=False):
                if with_grades:
                    graded = not (pd.isna(row.auto_score) and pd.isna(row.manual_score))
                    points = float(row.score) if graded else None
                else:  # the automatic tests' own points; nothing a tutor or instructor entered
                    points = None if pd.isna(row.auto_score) else float(row.auto_score)
                scores[row.question] = (points, float(row.max_score), row.comments or "", row.execution)
            not_run_reason = (
                "your notebook could not be read" if status == "invalid" else "the run stopped before this cell"
            )
            mine_verdicts = {v.grade_id: v for v in verdicts if v.notebook == nb_name}
            tasks_by_nb.append(
                (
                    nb_name,
                    _tasks_for_notebook(
                        release_nb, executed_nb, mine_verdicts, scores, redactor, not_run_reason, with_grades
                    ),
                )
            )
        failure = None
        if status in ("failed", "invalid", "error"):
            outcome = next((o for o in outcomes if o not in ("completed",)), None)
            failure = explain_failure(course, status, message, outcome)
        page = _page(
            course, assignment, student, people.get(student, {}), tasks_by_nb, sub, failure, redactor, with_grades
        )
        leaked = redactor.leaks(page)
        if leaked:
            run.skipped.append((student, f"not written: the page would show {len(leaked)} hidden-test line(s)"))
            continue
        target = feedback_path(course, student, assignment)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(target)
        run.written.append(target)
    return run


__all__ = [
    "FEEDBACK_CSP",
    "FeedbackRun",
    "Redactor",
    "build_redactor",
    "explain_failure",
    "feedback_path",
    "generate_feedback",
    "grades_are_released",
]
