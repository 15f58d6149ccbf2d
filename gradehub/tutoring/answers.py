"""What a tutor reads: the student's answer, and the model answer and rubric beside it.

- The answer comes from ``autograded/<student>/<assignment>/<notebook>.ipynb`` (the executed
  notebook), read as untrusted input (size cap, schema check) and found by its nbgrader
  ``grade_id``.
- The model answer and rubric come from the source notebook: the text between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION`` of the same cell, split at a line that starts
  with "Rubric"; the question is the locked markdown cell just before the answer cell.
- Markdown is rendered with raw HTML escaped, then sanitized with an allow-list (no scripts,
  no event handlers, no ``javascript:`` links, no images that call out); ``$…$`` math is kept
  as literal text. A student's answer can never run code in a tutor's browser.
"""

from __future__ import annotations

import functools
import html
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..authoring import BEGIN_SOLUTION, END_SOLUTION
from ..course import Course
from ..sanitize import nbgrader_meta, read_untrusted_notebook

MAX_ANSWER_CHARS = 100_000

_ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "em",
    "strong",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "span",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "del",
    "sup",
    "sub",
}
_ALLOWED_ATTRS = {"a": {"href", "title"}, "span": {"class"}, "code": {"class"}, "ol": {"start"}}
_MATH = re.compile(r"\$\$.+?\$\$|\$(?=\S)[^$\n]+?(?<=\S)\$", re.DOTALL)
_RUBRIC_LINE = re.compile(r"^[ \t>]*(?:#+[ \t]*|\*\*|__)?[ \t]*rubric\b", re.IGNORECASE | re.MULTILINE)


@functools.lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def render_markdown(source: str) -> str:
    """Untrusted markdown → safe HTML (raw HTML escaped, then an allow-list sanitizer)."""
    import nh3

    nonce = secrets.token_hex(6)
    maths: list[str] = []

    def hide(match: re.Match) -> str:
        maths.append(match.group(0))
        return f"gradehubmath{nonce}x{len(maths) - 1}x"

    rendered = _markdown().render(_MATH.sub(hide, source))
    rendered = re.sub(
        rf"gradehubmath{nonce}x(\d+)x",
        lambda m: f'<span class="math">{html.escape(maths[int(m.group(1))])}</span>',
        rendered,
    )
    return nh3.clean(
        rendered,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRS,
        url_schemes={"http", "https", "mailto"},
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
    )


def render_code(source: str) -> str:
    return f"<pre><code>{html.escape(source)}</code></pre>"


def render(source: str, cell_type: str) -> str:
    return render_markdown(source) if cell_type == "markdown" else render_code(source)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        src = "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


# --------------------------------------------------------------------------- student answers


@dataclass(frozen=True)
class AnswerText:
    source: str
    cell_type: str  # markdown | code | raw
    problem: str = ""  # why there is no text to show ("" when found)
    truncated: bool = False

    @property
    def html(self) -> str:
        if self.problem:
            return f'<p class="problem">{html.escape(self.problem)}</p>'
        return render(self.source, self.cell_type)


class AnswerReader:
    """Reads answers from autograded notebooks, each file parsed once per reader."""

    def __init__(self, course: Course):
        self.course = course
        self._cells: dict[Path, tuple[list[dict] | None, str | None]] = {}

    def _notebook(self, path: Path) -> tuple[list[dict] | None, str | None]:
        if path not in self._cells:
            if not path.exists():
                self._cells[path] = (None, "the autograded notebook is missing (not autograded yet?)")
            else:
                self._cells[path] = read_untrusted_notebook(path, self.course.limits.max_notebook_bytes)
        return self._cells[path]

    def answer(self, assignment: str, student: str, notebook: str, cell: str) -> AnswerText:
        path = self.course.autograded_dir(student, assignment) / f"{notebook}.ipynb"
        cells, error = self._notebook(path)
        if cells is None:
            return AnswerText("", "markdown", problem=error or "unreadable notebook")
        for raw in cells:
            meta = nbgrader_meta(raw)
            if meta and meta.get("grade_id") == cell:
                text = _source(raw)
                cell_type = str(raw["cell_type"]) if raw.get("cell_type") in ("markdown", "code") else "raw"
                if len(text) > MAX_ANSWER_CHARS:
                    return AnswerText(text[:MAX_ANSWER_CHARS], cell_type, truncated=True)
                return AnswerText(text, cell_type)
        return AnswerText("", "markdown", problem=f"no cell {cell!r} in the submitted notebook")


# --------------------------------------------------------------------------- model answers


@dataclass(frozen=True)
class Rubric:
    """The instructor's side of one free-response cell, from the source notebook."""

    question: str  # the markdown cell before the answer cell ("" if none)
    model_answer: str
    rubric: str  # "" when the solution region has no "Rubric" part
    cell_type: str

    def as_dict(self) -> dict:
        return {
            "question": self.question,
            "model_answer": self.model_answer,
            "rubric": self.rubric,
            "cell_type": self.cell_type,
            "question_html": render_markdown(self.question),
            "model_answer_html": render(self.model_answer, self.cell_type),
            "rubric_html": render_markdown(self.rubric) if self.rubric else "",
        }


def solution_region(source: str) -> str:
    """The text between the solution markers (the whole cell if it has none)."""
    lines = source.splitlines()
    begin = next((i for i, ln in enumerate(lines) if ln.strip() == BEGIN_SOLUTION), None)
    end = next((i for i, ln in enumerate(lines) if ln.strip() == END_SOLUTION), None)
    if begin is None or end is None or end < begin:
        return source.strip()
    return "\n".join(lines[begin + 1 : end]).strip()


def split_rubric(region: str) -> tuple[str, str]:
    """(model answer, rubric): the rubric starts at the first line that begins with "Rubric"."""
    match = _RUBRIC_LINE.search(region)
    if not match:
        return region.strip(), ""
    return region[: match.start()].strip(), region[match.start() :].strip()


def read_rubric(course: Course, assignment: str, notebook: str, cell: str) -> Rubric | None:
    path = course.source_dir(assignment) / f"{notebook}.ipynb"
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return None
    for index, raw in enumerate(cells):
        meta = nbgrader_meta(raw)
        if not (meta and meta.get("grade_id") == cell):
            continue
        model, rubric = split_rubric(solution_region(_source(raw)))
        question = ""
        if index > 0:
            before = cells[index - 1]
            before_meta = nbgrader_meta(before) or {}
            if before.get("cell_type") == "markdown" and not before_meta.get("solution"):
                question = _source(before).strip()
        return Rubric(question, model, rubric, raw.get("cell_type", "markdown"))
    return None
