"""grades.csv (the university's grade import, per ``[export]`` in course.toml) and Parquet files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..course import Course, CourseError
from .frames import ReportFrames


def export_frame(frames: ReportFrames, course: Course) -> pd.DataFrame:
    """The table for the university's grade import, per ``[export].columns`` (the overview when unset)."""
    cfg = course.export
    if not cfg.columns:
        return frames.overview
    ov = frames.overview
    out = pd.DataFrame(index=ov.index)
    yes, no = cfg.exam_bonus_labels
    for name, source in cfg.columns:
        if source.startswith("="):
            out[name] = source[1:]
        elif source == "exam_bonus":
            out[name] = np.where(ov["exam_bonus"], yes, no)
        else:
            out[name] = ov[source]
    return out


def write_csv(frames: ReportFrames, course: Course, path: Path) -> Path:
    cfg = course.export
    df = export_frame(frames, course)
    if not cfg.columns:
        df.to_csv(path, index=False)
        return path
    df = df.copy()
    for col in df.columns:
        if pd.api.types.is_float_dtype(df[col]):
            df[col] = df[col].round(4)
    df.to_csv(path, index=False, sep=cfg.delimiter, decimal=cfg.decimal, encoding=cfg.encoding)
    return path


def write_parquet(frames: ReportFrames, folder: Path) -> list[Path]:
    """One Parquet file per frame (times keep their time zone); needs pyarrow."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise CourseError("--format parquet needs pyarrow: pip install pyarrow") from None
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in frames.tables().items():
        path = folder / f"{name}.parquet"
        df.to_parquet(path, index=False)
        paths.append(path)
    return paths
