"""report.html: key numbers, the policies that applied, four plots, item statistics, groups.

Names, reasons, messages and comments come from students, tutors and the roster: every
value on the page goes through :func:`html.escape`, and the page carries a Content-Security-
Policy that allows no script at all, images only as ``data:`` URLs and only its own style
element (by hash), so a string that slipped through could still run nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
from pathlib import Path
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from .frames import ReportFrames, is_percent_column
from .plots import plots_here

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 24px 32px;
       color: #222; max-width: 1200px; }
h1 { font-size: 24px; margin-bottom: 2px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.sub { color: #666; margin-top: 0; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 16px 0; }
.card { background: #f3f6fb; border-radius: 6px; padding: 10px 16px; min-width: 140px; }
.card b { display: block; font-size: 22px; } .card span { color: #555; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 4px 10px; text-align: right; }
th { background: #ddebf7; position: sticky; top: 0; }
td.l, th.l { text-align: left; }
tr.warn td { background: #fff4e5; }
img { max-width: 100%; border: 1px solid #eee; margin: 6px 0; }
.note { color: #555; font-size: 13px; }
"""
# no script, no fetches, no forms, no base URL: only data: images and the style element above
CSP = (
    "default-src 'none'; img-src data:; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()}'; "
    "base-uri 'none'; form-action 'none'"
)


def _fmt(v, kind: str = "") -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return ""
    if kind == "%":
        return f"{v:.0%}"
    if kind == "r":
        return f"{v:.2f}"
    if isinstance(v, (pd.Timestamp, dt.datetime)):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _html_table(
    df: pd.DataFrame, kinds: dict[str, str], left: Iterable[str] = (), warn: pd.Series | None = None
) -> str:
    left = set(left)
    head = "".join(f'<th class="{"l" if c in left else ""}">{html.escape(str(c))}</th>' for c in df.columns)
    rows = []
    flags = warn.tolist() if warn is not None else [False] * len(df)
    for flag, rec in zip(flags, df.itertuples(index=False), strict=True):
        cells = "".join(
            f'<td class="{"l" if c in left else ""}">{html.escape(_fmt(v, kinds.get(c, "")))}</td>'
            for c, v in zip(df.columns, rec, strict=True)
        )
        rows.append(f'<tr class="{"warn" if flag else ""}">{cells}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def write_html(
    frames: ReportFrames, path: Path, plots: bool = True, figures: Callable[[], dict[str, str] | None] | None = None
) -> Path:
    """report.html: key numbers, the policies that applied, four plots, item statistics, groups.

    ``figures``: where the plots come from (e.g. :meth:`PlotWorker.draw`); drawn here by default.
    """
    m = frames.meta
    ov, subs = frames.overview, frames.submissions
    done = subs[subs["status"] != "missing"]
    if not plots:
        figs: dict[str, str] = {}
        plot_note = "Plots were switched off (--no-plots)."
    else:
        drawn = (figures or plots_here(frames))()
        figs, plot_note = (drawn, "") if drawn is not None else ({}, "Plots need matplotlib (pip install matplotlib).")
    esc = html.escape
    cards = [
        (len(ov), "students"),
        (len(done), "submissions"),
        (f"{ov['percent'].mean():.0%}" if len(ov) else "–", "mean course percentage"),
        (
            f"{int(ov['exam_bonus'].sum())} / {len(ov)}",
            f"meet the exam bonus (≥ {m.get('exam_bonus_threshold', 0):.0%})",
        ),
        (int(subs["status"].str.match(r"(failed|invalid|error)").sum()), "failed or unreadable"),
        (int((done["late_penalty"] > 0).sum()), "late (penalised)"),
    ]
    pol = frames.policies.copy()
    items = frames.items.copy()
    weak = (items["discrimination"] < 0.2) | (items["difficulty"] < 0.3) | (items["share_failed"] > 0.1)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">",
        f"<title>{esc(m.get('course', ''))} grade report</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(m.get('title', ''))} — grade report</h1>",
        f"<p class='sub'>{esc(m.get('course', ''))} · generated "
        f"{esc(m['generated'].strftime('%Y-%m-%d %H:%M %Z')) if 'generated' in m else ''} · times in "
        f"{esc(m.get('timezone', ''))}</p>",
        "<div class='cards'>"
        + "".join(f"<div class='card'><b>{esc(str(v))}</b><span>{esc(t)}</span></div>" for v, t in cards)
        + "</div>",
        "<h2>Weeks and the late policy that applied</h2>",
        "<p class='note'>Penalties are computed at report time from course.toml and the extensions "
        "(gradehub extend); a changed deadline changes every number here.</p>",
        _html_table(pol, {"mean_percent": "%"}, left=("assignment", "title", "late_policy")),
    ]
    captions = {
        "distribution": ("Score distribution per week", "Each dot is one submission."),
        "difficulty": (
            "Per-question difficulty",
            "Difficulty is the mean share of the question's points "
            "(1 = everyone full marks); discrimination is the correlation between the question and the "
            "rest of the sheet. Low values on both deserve a look at the question or its tests.",
        ),
        "groups": ("Group comparison", "Course percentage so far per tutor group, and the mean per week."),
        "times": (
            "Submission times against the deadline",
            "Hours before/after the course deadline; the colour "
            "says how the deadline that applied to the student (extensions included) judged it.",
        ),
    }
    for key, (title, caption) in captions.items():
        parts.append(f"<h2>{esc(title)}</h2>")
        if key in figs:
            parts.append(f"<img alt='{esc(title)}' src='data:image/png;base64,{figs[key]}'>")
        parts.append(f"<p class='note'>{esc(caption)} {esc(plot_note)}</p>")
    parts += [
        "<h2>Item statistics</h2>",
        "<p class='note'>Highlighted: difficulty below 0.3, discrimination below 0.2, or more than 10% "
        "failed executions.</p>",
        _html_table(
            items,
            {"difficulty": "%", "share_zero": "%", "share_failed": "%", "mean": "r", "discrimination": "r"},
            left=("assignment", "notebook", "question", "cell_type"),
            warn=weak,
        ),
        "<h2>Tutor groups</h2>",
        _html_table(
            frames.groups, {c: "%" for c in frames.groups.columns if is_percent_column(c)}, left=("group", "tutors")
        ),
        "<h2>Submission status</h2>",
    ]
    status_counts = (
        subs.assign(kind=subs["status"].str.split(":").str[0])
        .pivot_table(index="assignment", columns="kind", values="student", aggfunc="count", fill_value=0)
        .reindex(m.get("assignments", []))
        .fillna(0)
        .astype(int)
        .reset_index()
    )
    parts.append(_html_table(status_counts, {}, left=("assignment",)))
    if len(frames.extensions):
        parts += [
            "<h2>Extensions</h2>",
            _html_table(frames.extensions, {}, left=("assignment", "student", "action", "granted_by", "reason")),
        ]
    parts.append("<p class='note'>The full per-student and per-question tables are in grades.xlsx.</p></body></html>")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(parts), encoding="utf-8")
    tmp.replace(path)
    return path
