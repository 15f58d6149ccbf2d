"""``write_reports``: the whole report, step by step, into one folder.

1. penalties: nbgrader's penalty columns follow the report's (:mod:`.penalties`; optional);
2. frames: the gradebook read and shaped (:mod:`.frames`);
3. grades.csv (:mod:`.export`), then grades.xlsx (:mod:`.workbook`) and/or Parquet files;
4. report.html (:mod:`.html`) with the plots drawn meanwhile by a forked worker (:mod:`.plots`).
"""

from __future__ import annotations

import time
from pathlib import Path
from collections.abc import Iterable

from ..course import Course, CourseError
from .export import write_csv, write_parquet
from .frames import Progress, build_frames
from .html import write_html
from .penalties import sync_nbgrader_penalties
from .plots import PlotWorker
from .workbook import write_xlsx

FORMATS = ("xlsx", "parquet")


def _write_all(
    course: Course,
    output: Path,
    formats: tuple[str, ...],
    html_report: bool,
    plots: bool,
    sync_gradebook: bool,
    worker: PlotWorker | None,
    step: Progress,
    total_steps: int,
) -> list[Path]:
    done_steps = 0

    def sub_step(what, done, total):  # map a sub-task's progress onto the whole run
        step(what, done_steps + (done / max(total, 1)), total_steps)

    if sync_gradebook:
        sync_nbgrader_penalties(course, warn=lambda message: step(message, 0, total_steps))
    frames = build_frames(course, progress=lambda what, d, t: step(what, d, total_steps))
    done_steps = 4
    output.mkdir(parents=True, exist_ok=True)
    figures = worker.draw(frames) if worker else None
    files = [write_csv(frames, course, output / "grades.csv")]
    for fmt in formats:
        if fmt == "xlsx":
            files.append(write_xlsx(frames, output / "grades.xlsx", progress=sub_step))
        else:
            step("parquet files", done_steps, total_steps)
            files.extend(write_parquet(frames, output / "parquet"))
        done_steps += 1
    if html_report:
        step("report.html: plots", done_steps, total_steps)
        files.append(write_html(frames, output / "report.html", plots=plots, figures=figures))
        done_steps += 1
    return files


def write_reports(
    course: Course,
    output: Path,
    formats: Iterable[str] = ("xlsx",),
    html_report: bool = True,
    plots: bool = True,
    sync_gradebook: bool = True,
    progress: Progress | None = None,
) -> list[Path]:
    """Write grades.csv, grades.xlsx (or parquet/*.parquet) and report.html into ``output``.

    With ``sync_gradebook`` the penalties computed here are first written into nbgrader's
    columns (:func:`gradehub.report.penalties.sync_nbgrader_penalties`), so the formgrader agrees.
    """
    formats = tuple(formats) or ("xlsx",)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise CourseError(f"unknown report format(s) {', '.join(unknown)}; use {', '.join(FORMATS)}")
    started = time.monotonic()
    step = progress or (lambda what, done, total: None)
    total_steps = 4 + len(formats) + int(html_report) + 1
    # forked first: before any database connection exists, and so that it imports matplotlib
    # while this process syncs the penalties and reads the gradebook
    worker = PlotWorker() if html_report and plots else None
    try:
        files = _write_all(course, output, formats, html_report, plots, sync_gradebook, worker, step, total_steps)
    finally:
        if worker:
            worker.close()  # a failure before collecting must not leave the worker behind
    step(f"done in {time.monotonic() - started:.1f} s", total_steps, total_steps)
    return files
