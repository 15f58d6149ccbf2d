"""grades.xlsx: one sheet per frame (and per tutor group), formatted.

The workbook is written by a small streaming XLSX writer (:class:`XlsxWriter`) instead of
openpyxl, which needs about a minute for the 36,000 rows of a 300-student course.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Callable, Iterable
from xml.sax.saxutils import escape as _xml_escape

import pandas as pd

from .frames import DECIMAL_COLUMNS, Progress, ReportFrames, is_percent_column

SHEET_NOTES = {
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
                   "late penalty and the policy, points, flags",
    "scores": "one row per student, one column per week/question: the final score (empty: not submitted)",
    "policies": "one row per week: deadline, late policy, points, submissions, late ones, extensions",
    "extensions": "every extension granted or revoked: student, week, new deadline, who, why, when",
}


_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_INVALID_SHEET = re.compile(r"[\[\]:*?/\\]")
_CONTENT_TYPES = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                  '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                  '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                  '<Default Extension="xml" ContentType="application/xml"/>'
                  '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                  'spreadsheetml.sheet.main+xml"/>'
                  '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                  'spreadsheetml.styles+xml"/>'
                  '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.'
                  'core-properties+xml"/>'
                  '{sheets}</Types>')
_STYLES = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
           '<numFmts count="3"><numFmt numFmtId="164" formatCode="0.0%"/>'
           '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm"/><numFmt numFmtId="166" formatCode="0.00"/></numFmts>'
           '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
           '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
           '<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/>'
           '</fill><fill><patternFill patternType="solid"><fgColor rgb="FFDDEBF7"/><bgColor indexed="64"/>'
           '</patternFill></fill></fills>'
           '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
           '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
           '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
           '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/>'
           '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
           '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
           '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
           '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
           '</styleSheet>')
_S_HEADER, _S_PERCENT, _S_DATETIME, _S_DECIMAL = 1, 2, 3, 4
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def _col_letter(i: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


def _text_cell(value: str, style: str = "") -> str:
    value = _ILLEGAL_XML.sub("", value)[:32767]
    space = ' xml:space="preserve"' if value[:1].isspace() or value[-1:].isspace() or "\n" in value else ""
    return f'<c t="inlineStr"{style}><is><t{space}>{_xml_escape(value)}</t></is></c>'


class XlsxWriter:
    """A small streaming XLSX writer: inline strings, numbers, dates; frozen header, widths, filters.

    Cells carry no ``r`` reference (optional in SpreadsheetML): they fill their row left to
    right, and an empty value is written as an empty ``<c/>``, so columns never shift.
    """

    def __init__(self) -> None:
        self.sheets: list[tuple[str, bytes, str]] = []     # (name, xml, filter range)

    @staticmethod
    def sheet_name(name: str, taken: Iterable[str] = ()) -> str:
        base = _INVALID_SHEET.sub("_", name).strip("'")[:31] or "sheet"
        candidate, i = base, 2
        lowered = {t.lower() for t in taken}
        while candidate.lower() in lowered:
            suffix = f" ({i})"
            candidate, i = base[:31 - len(suffix)] + suffix, i + 1
        return candidate

    def add(self, name: str, df: pd.DataFrame, freeze: str = "B2", percent: Iterable[str] = (),
            decimal: Iterable[str] = ()) -> str:
        name = self.sheet_name(name, [s[0] for s in self.sheets])
        percent, decimal = set(percent), set(decimal)
        n, ncols = len(df), max(1, len(df.columns))
        columns: list[list[str]] = []
        widths: list[float] = []
        for col in df.columns:
            series = df[col]
            label = str(col)
            style = ""
            if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(series):
                values = series.dt.tz_localize(None) if isinstance(series.dtype, pd.DatetimeTZDtype) else series
                serial = ((values - _EXCEL_EPOCH) / pd.Timedelta(days=1)).to_numpy(dtype=float)
                cells = ["<c/>" if v != v else f'<c s="{_S_DATETIME}"><v>{v!r}</v></c>' for v in serial.tolist()]
                width = 17
            elif pd.api.types.is_bool_dtype(series):
                cells = [f'<c t="inlineStr"><is><t>{"yes" if v else "no"}</t></is></c>' for v in series.tolist()]
                width = 5
            elif pd.api.types.is_numeric_dtype(series):
                if col in percent:
                    style = f' s="{_S_PERCENT}"'
                elif col in decimal:
                    style = f' s="{_S_DECIMAL}"'
                values = series.astype(float).tolist()
                num_cache: dict[float, str] = {}
                cells = []
                for v in values:
                    cell = num_cache.get(v)        # NaN never hits the cache: it is handled below
                    if cell is None:
                        cell = ("<c/>" if (v != v or v in (float("inf"), float("-inf"))) else
                                f"<c{style}><v>{int(v) if v.is_integer() and abs(v) < 1e15 else v!r}</v></c>")
                        if v == v:
                            num_cache[v] = cell
                    cells.append(cell)
                sample = series.dropna().head(500)
                if col in percent:
                    width = 8
                elif len(sample):
                    width = max(len(f"{x:g}") for x in sample.astype(float).tolist()) + 1
                else:
                    width = 6
            else:
                cache: dict[str, str] = {}
                cells = []
                for v in series.tolist():
                    if v is None or (isinstance(v, float) and v != v) or v is pd.NaT or v is pd.NA:
                        cells.append("<c/>")
                        continue
                    if isinstance(v, (dt.datetime, pd.Timestamp)):
                        v = v.isoformat(sep=" ", timespec="minutes")
                    text = v if isinstance(v, str) else str(v)
                    cell = cache.get(text)
                    if cell is None:
                        cell = cache[text] = _text_cell(text)
                    cells.append(cell)
                lengths = [len(x) for x in cache] or [0]
                width = min(max(lengths), 60)
            widths.append(min(60.0, max(6.0, width + 2, len(label) + 3)))
            columns.append(cells)
        header = "".join(_text_cell(str(c), f' s="{_S_HEADER}"') for c in df.columns)
        last = f"{_col_letter(ncols - 1)}{n + 1}"
        cols_xml = "".join(f'<col min="{i + 1}" max="{i + 1}" width="{w:.1f}" customWidth="1"/>'
                           for i, w in enumerate(widths))
        split = _freeze_split(freeze)
        pane = ""
        if split != (0, 0):
            xs, ys = split
            active = "bottomRight" if xs and ys else ("bottomLeft" if ys else "topRight")
            attrs = (f' xSplit="{xs}"' if xs else "") + (f' ySplit="{ys}"' if ys else "")
            pane = (f'<pane{attrs} topLeftCell="{freeze}" activePane="{active}" state="frozen"/>'
                    f'<selection pane="{active}" activeCell="{freeze}" sqref="{freeze}"/>')
        parts = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                 '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">',
                 f'<dimension ref="A1:{last}"/>',
                 f'<sheetViews><sheetView workbookViewId="0">{pane}</sheetView></sheetViews>',
                 '<sheetFormatPr defaultRowHeight="15"/>',
                 f"<cols>{cols_xml}</cols>" if cols_xml else "",
                 '<sheetData>', f'<row r="1">{header}</row>']
        if columns:
            for r, row in enumerate(zip(*columns), start=2):
                parts.append(f'<row r="{r}">{"".join(row)}</row>')
        parts.append("</sheetData>")
        ref = f"A1:{last}"
        if len(df.columns):
            parts.append(f'<autoFilter ref="{ref}"/>')
        parts.append('<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
                     "</worksheet>")
        self.sheets.append((name, "".join(parts).encode("utf-8"), ref if len(df.columns) else ""))
        return name

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        sheets = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
                         f'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                         for i in range(1, len(self.sheets) + 1))
        names = "".join(f'<sheet name="{_xml_escape(name, {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i}"/>'
                        for i, (name, _, _) in enumerate(self.sheets, start=1))
        defined = "".join(
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
            f"'{_xml_escape(name.replace(chr(39), chr(39) * 2))}'!{_absolute(ref)}</definedName>"
            for i, (name, _, ref) in enumerate(self.sheets) if ref)
        workbook = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                    '<bookViews><workbookView activeTab="0"/></bookViews>'
                    f"<sheets>{names}</sheets>" + (f"<definedNames>{defined}</definedNames>" if defined else "")
                    + "</workbook>")
        rels = "".join(f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                       f'relationships/worksheet" Target="worksheets/sheet{i}.xml"/>'
                       for i in range(1, len(self.sheets) + 1))
        rels += (f'<Relationship Id="rId{len(self.sheets) + 1}" Type="http://schemas.openxmlformats.org/'
                 'officeDocument/2006/relationships/styles" Target="styles.xml"/>')
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        core = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
                'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/'
                'dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>gradehub</dc:creator>'
                f'<dcterms:created xsi:type="dcterms:W3CDTF">{now}</dcterms:created></cp:coreProperties>')
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            z.writestr("[Content_Types].xml", _CONTENT_TYPES.format(sheets=sheets))
            z.writestr("_rels/.rels",
                       '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                       '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                       '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                       'relationships/officeDocument" Target="xl/workbook.xml"/>'
                       '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
                       'relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>')
            z.writestr("docProps/core.xml", core)
            z.writestr("xl/workbook.xml", workbook)
            z.writestr("xl/_rels/workbook.xml.rels",
                       '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                       '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                       f"{rels}</Relationships>")
            z.writestr("xl/styles.xml", _STYLES)
            for i, (_, xml, _) in enumerate(self.sheets, start=1):
                z.writestr(f"xl/worksheets/sheet{i}.xml", xml)
        tmp.replace(path)


def _freeze_split(cell: str) -> tuple[int, int]:
    match = re.fullmatch(r"([A-Z]+)(\d+)", cell)
    if not match:
        return (0, 0)
    col = 0
    for ch in match.group(1):
        col = col * 26 + ord(ch) - 64
    return col - 1, int(match.group(2)) - 1


def _absolute(ref: str) -> str:
    return ":".join(re.sub(r"([A-Z]+)(\d+)", r"$\1$\2", part) for part in ref.split(":"))

def about_frame(frames: ReportFrames) -> pd.DataFrame:
    m = frames.meta
    rows = [("course", f"{m.get('course', '')}: {m.get('title', '')}"),
            ("generated", m["generated"].isoformat(sep=" ", timespec="seconds") if "generated" in m else ""),
            ("times are in", m.get("timezone", "")),
            ("exam bonus threshold", f"{m.get('exam_bonus_threshold', 0):.0%} of {m.get('course_max', 0):g} points"),
            ("students", str(len(frames.overview))),
            ("late penalties", "computed when this report was made, from course.toml and the extensions; "
                               "see policies and submissions")]
    rows += [(f"sheet: {name}", text) for name, text in SHEET_NOTES.items()]
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


def write_xlsx(frames: ReportFrames, path: Path, progress: Progress | None = None) -> Path:
    """grades.xlsx: overview, questions, groups (+ one sheet per group), items, submissions, scores,
    policies, extensions, about."""
    step = progress or (lambda what, done, total: None)
    book = XlsxWriter()
    group_names = [g for g in frames.groups["group"]] if len(frames.groups) else []
    sheets: list[tuple[str, Callable[[], pd.DataFrame], str]] = [
        ("overview", lambda: frames.overview, "B2"),
        ("questions", lambda: compact_questions(frames.questions), "B2"),
        ("groups", lambda: frames.groups, "B2"),
    ]
    week_cols = [c for c in frames.meta.get("assignments", []) if c in frames.overview.columns]
    open_by_student = frames.questions.groupby("student")["needs_manual_grade"].sum()
    problems = frames.submissions[frames.submissions["status"].str.match(r"(failed|invalid|error)")] \
        .groupby("student").size()
    for g in group_names:
        def members(g=g):
            ov = frames.overview
            df = ov[ov["group"].replace("", "(none)") == g][["student", "first_name", "last_name", *week_cols,
                                                              "total", "percent", "exam_bonus"]].copy()
            df["open_manual"] = df["student"].map(open_by_student).fillna(0).astype(int)
            df["failed_or_invalid"] = df["student"].map(problems).fillna(0).astype(int)
            return df
        sheets.append((f"group {g}", members, "B2"))
    sheets += [("items", lambda: frames.items, "D2"), ("submissions", lambda: frames.submissions, "B2"),
               ("scores", lambda: frames.scores, "B2"), ("policies", lambda: frames.policies, "B2"),
               ("extensions", lambda: frames.extensions, "A2"), ("about", lambda: about_frame(frames), "A2")]
    for i, (name, make, freeze) in enumerate(sheets):
        step(f"grades.xlsx: sheet {name}", i, len(sheets) + 1)
        df = make()
        book.add(name, df, freeze=freeze, percent=[c for c in df.columns if is_percent_column(c)],
                 decimal=[c for c in df.columns if c in DECIMAL_COLUMNS])
    step("grades.xlsx: compressing", len(sheets), len(sheets) + 1)
    book.save(path)
    return path
