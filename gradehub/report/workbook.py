"""grades.xlsx, written with XlsxWriter: one sheet per frame (and per tutor group), formatted.

Every sheet has a bold header row on a blue fill, a frozen header (and first column), an
autofilter over the whole table and column widths that fit the values. Shares are shown as
``0.0%``, times as ``yyyy-mm-dd hh:mm`` (in the course's time zone), a few measures as
``0.00``; booleans as yes/no; an empty value (missing, NaN, infinite) is an empty cell.

Text is always written as text (``write_string``): a comment that starts with ``=`` or looks
like a URL or a number stays what the student or tutor wrote, never a formula or a link.

Speed: XlsxWriter costs a few microseconds per cell, and a 300-student course has about
560,000 (36,000 question rows). Shared strings (the default, not ``constant_memory``) escape
each distinct text once instead of once per cell; the price is one small object per cell
until the file is written, which the cyclic garbage collector would scan again and again,
so it is paused while the workbook is built (about a quarter faster).
"""

from __future__ import annotations

import datetime as dt
import gc
import re
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Callable, Iterable

import pandas as pd
import xlsxwriter

from .frames import DECIMAL_COLUMNS, Progress, ReportFrames, is_percent_column

SHEET_NOTES = {
    "cases": "otter questions only: one row per student × test case (public or hidden, passed, points, "
    "and whether the host verified it or a forged record could have passed it); hidden cases never show "
    "their code or expected output",
    "overview": "one row per student: tutor group, each week's total after late penalties, course total, "
    "percentage of all points, whether the exam bonus threshold is met",
    "questions": "one row per student × question: automatic and manual points, final score, the question's "
    "share of the late penalty, grader, tutor comments, whether the cell ran",
    "groups": "one row per tutor group: tutors, students, submission rate, mean and median percentage, "
    "exam bonus share, open manual grading, mean percentage per week",
    "group <name>": "one sheet per tutor group: its students' weekly totals, course total, bonus, open "
    "manual grading and failed or unreadable submissions",
    "items": "item statistics per question: mean, difficulty (mean share of points), discrimination "
    "(corrected item-total correlation), share of zero scores, share of failed executions",
    "submissions": "one row per student × week: status, submission time, deadline that applied, lateness, "
    "late penalty and the policy, points, flags, the student's variant (sheets with per-student data)",
    "scores": "one row per student, one column per week/question: the final score (empty: not submitted)",
    "policies": "one row per week: deadline, late policy, points, submissions, late ones, extensions",
    "extensions": "every extension granted or revoked: student, week, new deadline, who, why, when",
}


_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0: dropped
_INVALID_SHEET = re.compile(r"[\[\]:*?/\\]")
_RESERVED_SHEETS = ("history",)  # Excel's own; XlsxWriter refuses it
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_MAX_WIDTH = 60.0


def sheet_name(name: str, taken: Iterable[str] = ()) -> str:
    """A valid, unused sheet name: Excel's forbidden characters replaced, 31 characters, ``" (2)"`` on a clash."""
    base = _INVALID_SHEET.sub("_", name).strip("'")[:31] or "sheet"
    candidate, i = base, 2
    lowered = {t.lower() for t in taken} | set(_RESERVED_SHEETS)
    while candidate.lower() in lowered:
        suffix = f" ({i})"
        candidate, i = base[: 31 - len(suffix)] + suffix, i + 1
    return candidate


def _freeze_split(cell: str) -> tuple[int, int]:
    """``"B2"`` → (1, 1): rows and columns above and left of the cell stay in view."""
    match = re.fullmatch(r"([A-Z]+)(\d+)", cell)
    if not match:
        return (0, 0)
    col = 0
    for ch in match.group(1):
        col = col * 26 + ord(ch) - 64
    return int(match.group(2)) - 1, col - 1


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        value = value.isoformat(sep=" ", timespec="minutes")
    text = value if isinstance(value, str) else str(value)
    return _ILLEGAL_XML.sub("", text)


class Workbook:
    """grades.xlsx under construction: :meth:`add` a DataFrame per sheet, then :meth:`close`.

    Written to ``<path>.tmp`` and moved into place on :meth:`close`, so a reader never sees
    half a workbook.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tmp = path.with_name(path.name + ".tmp")
        self.book = xlsxwriter.Workbook(
            str(self._tmp),
            {
                # only write_string/write_number are called; these say so once more
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        self.book.set_properties({"author": "gradehub"})
        add = self.book.add_format
        self.header = add({"bold": True, "bg_color": "#DDEBF7"})
        self.percent = add({"num_format": "0.0%"})
        self.datetime = add({"num_format": "yyyy-mm-dd hh:mm"})
        self.decimal = add({"num_format": "0.00"})
        self.names: list[str] = []

    def _column(self, col, series: pd.Series, percent: set, decimal: set):
        """(values with None for an empty cell, write method, format, width) of one column."""
        ws_number, ws_string = "number", "string"
        if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(series):
            values = series.dt.tz_localize(None) if isinstance(series.dtype, pd.DatetimeTZDtype) else series
            serial = ((values - _EXCEL_EPOCH) / pd.Timedelta(days=1)).to_numpy(dtype=float)
            return [None if v != v else v for v in serial.tolist()], ws_number, self.datetime, 17
        if pd.api.types.is_bool_dtype(series):
            return ["yes" if v else "no" for v in series.tolist()], ws_string, None, 5
        if pd.api.types.is_numeric_dtype(series):
            fmt = self.percent if col in percent else self.decimal if col in decimal else None
            values = [
                None if (v != v or v in (float("inf"), float("-inf"))) else v for v in series.astype(float).tolist()
            ]
            sample = series.dropna().head(500)
            if col in percent:
                width = 8
            elif len(sample):
                width = max(len(f"{x:g}") for x in sample.astype(float).tolist()) + 1
            else:
                width = 6
            return values, ws_number, fmt, width
        cache: dict[str, str] = {}  # most text repeats (names, statuses, policies)
        values = []
        for v in series.tolist():
            if isinstance(v, str):
                text = cache.get(v)
                if text is None:
                    text = cache[v] = _ILLEGAL_XML.sub("", v)
            else:
                text = _text(v)
                if text is not None:
                    cache.setdefault(text, text)
            values.append(text)
        lengths = [len(t) for t in cache.values()] or [0]
        return values, ws_string, None, min(max(lengths), _MAX_WIDTH)

    def add(
        self, name: str, df: pd.DataFrame, freeze: str = "B2", percent: Iterable[str] = (), decimal: Iterable[str] = ()
    ) -> str:
        """One sheet holding ``df`` (header + rows); returns the sheet's name as written."""
        name = sheet_name(name, self.names)
        self.names.append(name)
        ws = self.book.add_worksheet(name)
        percent, decimal = set(percent), set(decimal)
        columns = []
        for c, col in enumerate(df.columns):
            values, kind, fmt, width = self._column(col, df[col], percent, decimal)
            ws.set_column(c, c, min(_MAX_WIDTH, max(6.0, width + 2, len(str(col)) + 3)))
            columns.append((c, values, ws.write_number if kind == "number" else ws.write_string, fmt))
        rows, cols = _freeze_split(freeze)
        if rows or cols:
            ws.freeze_panes(rows, cols)
        if len(df.columns):
            ws.autofilter(0, 0, len(df), len(df.columns) - 1)
        for c, col in enumerate(df.columns):
            ws.write_string(0, c, _text(col) or "", self.header)
        for r in range(len(df)):
            row = r + 1
            for c, values, write, fmt in columns:
                v = values[r]
                if v is not None:
                    write(row, c, v, fmt)
        return name

    def close(self) -> Path:
        self.book.close()
        self._tmp.replace(self.path)
        return self.path

    def discard(self) -> None:
        """After a failure: close XlsxWriter's files and leave no ``.tmp`` behind."""
        try:
            self.book.close()
        except Exception:  # noqa: BLE001, S110 - already failing; the first error is the one to report
            pass
        self._tmp.unlink(missing_ok=True)


def about_frame(frames: ReportFrames) -> pd.DataFrame:
    m = frames.meta
    rows = [
        ("course", f"{m.get('course', '')}: {m.get('title', '')}"),
        ("generated", m["generated"].isoformat(sep=" ", timespec="seconds") if "generated" in m else ""),
        ("times are in", m.get("timezone", "")),
        ("exam bonus threshold", f"{m.get('exam_bonus_threshold', 0):.0%} of {m.get('course_max', 0):g} points"),
        ("students", str(len(frames.overview))),
        (
            "late penalties",
            "computed when this report was made, from course.toml and the extensions; see policies and submissions",
        ),
    ]
    rows += [(f"sheet: {name}", text) for name, text in SHEET_NOTES.items() if name != "cases" or len(frames.cases)]
    return pd.DataFrame(rows, columns=["item", "value"])


def compact_questions(df: pd.DataFrame) -> pd.DataFrame:
    """The questions sheet without columns that say nothing here: ``notebook`` when every assignment
    is one notebook of the same name, ``extra_credit`` when nobody got any."""
    drop = []
    if len(df) and (df["notebook"] == df["assignment"]).all():
        drop.append("notebook")
    if df["extra_credit"].isna().all():
        drop.append("extra_credit")
    return df.drop(columns=drop)


@contextmanager
def _gc_paused():
    """No cyclic garbage collection inside: the cells XlsxWriter keeps hold no cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def write_xlsx(frames: ReportFrames, path: Path, progress: Progress | None = None) -> Path:
    """grades.xlsx: overview, questions, groups (+ one sheet per group), items, submissions, scores,
    policies, extensions, about."""
    step = progress or (lambda what, done, total: None)
    book = Workbook(path)
    group_names = [g for g in frames.groups["group"]] if len(frames.groups) else []
    sheets: list[tuple[str, Callable[[], pd.DataFrame], str]] = [
        ("overview", lambda: frames.overview, "B2"),
        ("questions", lambda: compact_questions(frames.questions), "B2"),
        ("groups", lambda: frames.groups, "B2"),
    ]
    week_cols = [c for c in frames.meta.get("assignments", []) if c in frames.overview.columns]
    open_by_student = frames.questions.groupby("student")["needs_manual_grade"].sum()
    problems = (
        frames.submissions[frames.submissions["status"].str.match(r"(failed|invalid|error)")].groupby("student").size()
    )
    for g in group_names:

        def members(g=g):
            ov = frames.overview
            df = ov[ov["group"].replace("", "(none)") == g][
                ["student", "first_name", "last_name", *week_cols, "total", "percent", "exam_bonus"]
            ].copy()
            df["open_manual"] = df["student"].map(open_by_student).fillna(0).astype(int)
            df["failed_or_invalid"] = df["student"].map(problems).fillna(0).astype(int)
            return df

        sheets.append((f"group {g}", members, "B2"))
    sheets += [
        ("items", lambda: frames.items, "D2"),
        ("submissions", lambda: frames.submissions, "B2"),
        ("scores", lambda: frames.scores, "B2"),
        ("policies", lambda: frames.policies, "B2"),
        ("extensions", lambda: frames.extensions, "A2"),
    ]
    if len(frames.cases):
        sheets.append(("cases", lambda: frames.cases, "B2"))
    sheets += [
        ("about", lambda: about_frame(frames), "A2"),
    ]
    with _gc_paused():
        try:
            for i, (name, make, freeze) in enumerate(sheets):
                step(f"grades.xlsx: sheet {name}", i, len(sheets) + 1)
                df = make()
                book.add(
                    name,
                    df,
                    freeze=freeze,
                    percent=[c for c in df.columns if is_percent_column(c)],
                    decimal=[c for c in df.columns if c in DECIMAL_COLUMNS],
                )
            step("grades.xlsx: compressing", len(sheets), len(sheets) + 1)
            return book.close()
        except BaseException:
            book.discard()
            raise
