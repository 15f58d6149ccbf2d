"""What the command line shows: its two consoles and the grading summary table.

Shared by ``cli`` and ``demo`` (which both print a grading summary), so neither imports the
other. Every cell of a table is a ``Text``, never markup: messages and flags quote what a
kernel sent.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console(stderr=True)  # progress, warnings, errors
out = Console()  # results

STATUS_STYLE = {
    "graded": "green",
    "needs_manual": "cyan",
    "failed": "yellow",
    "invalid": "red",
    "error": "bold red",
    "missing": "dim",
}


def row_message(result: Any) -> str:
    """The message column of one result: why it failed, restored cells, unverified points, flags."""
    parts = [result.message] if result.status not in ("graded", "needs_manual") else []
    restored = [n for n in result.notes if "restored cell" in n]
    if restored:
        parts.append(f"{len(restored)} test/read-only cell(s) restored from source")
    if result.unverified_points:
        parts.append(f"{result.unverified_points:g} point(s) unverified (old-style tests decided in the kernel)")
    if result.flags:
        parts.append("flagged: " + "; ".join(result.flags))
    return "; ".join(parts)


def print_summary(summary: Any, to: Console | None = None) -> None:
    """The table of one ``autograde`` run (a ``grading`` summary), on stdout unless ``to``."""
    runs = getattr(summary, "reference_runs", 0)
    reference = (
        f", reference run {'cached' if summary.reference_cached else f'{summary.reference_duration:.1f} s'}"
        if summary.results
        else ""
    )
    if summary.results and runs > 1:  # per-student variants: one reference per variant
        reference = f", {runs} reference runs (one per variant) {summary.reference_duration:.1f} s in all"
    table = Table(
        title=Text(
            f"{summary.assignment}: {len(summary.results)} graded, "
            f"{summary.up_to_date} already up to date, sandbox {summary.sandbox}, "
            f"{f'on the {where}, ' if (where := getattr(summary, 'where', '')) else ''}"
            f"{summary.duration:.1f} s{reference}"
        )
    )
    for col in ("student", "status", "score", "late", "time", "message"):
        table.add_column(col, overflow="fold")
    for r in summary.results:
        table.add_row(
            Text(r.student),
            Text(r.status, style=STATUS_STYLE.get(r.status, "")),
            Text(f"{r.score:g} / {r.max_score:g}"),
            Text(f"-{r.late_penalty:g}" if r.late_penalty else ""),
            Text(f"{r.duration:.1f} s"),
            Text(row_message(r)),
        )
    for s in summary.skipped:
        table.add_row(Text(s.name), Text("skipped", style="red"), "", "", "", Text(s.reason))
    (to or out).print(table)
