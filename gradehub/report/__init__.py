"""The grade report: gradebook → pandas frames → grades.csv, grades.xlsx, report.html (and Parquet).

One module per job, in the order ``gradehub report`` runs them (:func:`write_reports`):

| module | job |
|---|---|
| :mod:`.read` | SQL over nbgrader's tables and gradehub's own, plus what the release notebooks say |
| :mod:`.frames` | :class:`ReportFrames`: per question, per submission, per student; late penalties |
| :mod:`.summaries` | item statistics, tutor groups, weeks and policies, extensions |
| :mod:`.penalties` | the one gradebook write: nbgrader's penalty columns follow the report |
| :mod:`.export` | grades.csv per ``[export]`` in course.toml; Parquet |
| :mod:`.workbook` | grades.xlsx with XlsxWriter |
| :mod:`.plots` | the four figures, drawn in a forked worker while the workbook is written |
| :mod:`.html` | report.html under a strict Content-Security-Policy |
| :mod:`.write` | :func:`write_reports`: the steps above, with progress |

nbgrader is never imported here (its import alone takes longer than the whole report).
"""

from .export import export_frame, write_csv, write_parquet
from .frames import Progress, ReportFrames, build_frames
from .html import write_html
from .penalties import sync_nbgrader_penalties
from .plots import PlotWorker, draw_plots
from .read import LARGE_GRADEBOOK, gradebook_size
from .workbook import SHEET_NOTES, Workbook, write_xlsx
from .write import FORMATS, write_reports

__all__ = [
    "FORMATS",
    "LARGE_GRADEBOOK",
    "SHEET_NOTES",
    "PlotWorker",
    "Progress",
    "ReportFrames",
    "Workbook",
    "build_frames",
    "draw_plots",
    "export_frame",
    "gradebook_size",
    "sync_nbgrader_penalties",
    "write_csv",
    "write_html",
    "write_parquet",
    "write_reports",
    "write_xlsx",
]
