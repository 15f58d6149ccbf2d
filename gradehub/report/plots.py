"""The report's four plots (base64 PNG for report.html) and the forked worker that draws them.

matplotlib is imported only here and only when drawing: the worker imports it while the
parent reads the gradebook.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np
import pandas as pd

from .frames import ReportFrames


def figure_png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, pil_kwargs={"compress_level": 1})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def matplotlib_colormap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def draw_plots(frames: ReportFrames) -> dict[str, str]:
    """The four figures as base64 PNG: distribution per week, difficulty, groups, submission times."""
    from matplotlib.figure import Figure

    order = frames.meta.get("assignments", [])
    subs = frames.submissions
    done = subs[subs["status"] != "missing"]
    figs: dict[str, str] = {}
    colors = [
        "#4472c4",
        "#ed7d31",
        "#70ad47",
        "#ffc000",
        "#5b9bd5",
        "#a5a5a5",
        "#264478",
        "#9e480e",
        "#636363",
        "#997300",
        "#255e91",
        "#43682b",
    ]

    # 1. score distribution per week
    fig = Figure(figsize=(11, 4.2))
    ax = fig.add_subplot()
    data = [done.loc[done["assignment"] == a, "percent"].to_numpy() * 100 for a in order]
    present = [(a, d) for a, d in zip(order, data, strict=True) if len(d)]
    if present:
        ax.boxplot(
            [d for _, d in present],
            tick_labels=[a for a, _ in present],
            showmeans=True,
            showfliers=False,
            medianprops={"color": "#c00000"},
            meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "black", "markersize": 5},
        )
        rng = np.random.default_rng(0)
        for i, (_, d) in enumerate(present, start=1):
            ax.scatter(
                i + rng.uniform(-0.18, 0.18, len(d)),
                d,
                s=14 if len(d) < 200 else 6,
                alpha=0.6 if len(d) < 200 else 0.35,
                color="#4472c4",
                linewidths=0,
                zorder=3,
            )
            ax.text(i, 103, f"n={len(d)}", ha="center", va="bottom", fontsize=8, color="#555")
    ax.set_ylim(-3, 110)
    ax.set_ylabel("% of the week's points (after late penalty)")
    ax.set_title(
        "Score distribution per week (submitted work; box: quartiles, red: median, diamond: mean)", fontsize=10
    )
    ax.grid(axis="y", alpha=0.3)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.9, bottom=0.12)
    figs["distribution"] = figure_png(fig)

    # 2. per-question difficulty and discrimination: one row per week, one column per question
    items = frames.items
    top_in, bottom_in, row_in = 0.45, (1.1 if len(order) == 1 else 0.45), 0.42
    height = top_in + bottom_in + row_in * max(1, len(order)) + (0.5 if len(order) == 1 else 0)
    fig = Figure(figsize=(11, height))
    axes = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.08, right=0.93, top=1 - top_in / height, bottom=bottom_in / height, wspace=0.15)
    if len(items):
        pos = items.groupby("assignment", sort=False).cumcount().to_numpy()
        rows = items["assignment"].map({a: i for i, a in enumerate(order)}).to_numpy()
        width = int(pos.max()) + 1
        names = items["question"].tolist()
        for ax, col, title, lo, hi in (
            (axes[0], "difficulty", "Difficulty: mean share of the points (red: hard)", 0.0, 1.0),
            (axes[1], "discrimination", "Discrimination: item-rest correlation (red: weak)", -0.2, 0.8),
        ):
            grid = np.full((len(order), width), np.nan)
            grid[rows, pos] = items[col].to_numpy(dtype=float)
            cmap = matplotlib_colormap("RdYlGn").with_extremes(bad="#eeeeee")
            im = ax.imshow(
                np.ma.masked_invalid(grid), cmap=cmap, vmin=lo, vmax=hi, aspect="auto", interpolation="nearest"
            )
            ax.set_title(title, fontsize=9)
            ax.set_yticks(range(len(order)), order, fontsize=8)
            if len(order) == 1:
                ax.set_xticks(range(width), names, rotation=25, ha="right", fontsize=7)
            else:
                ax.set_xticks(range(width), [f"Q{i + 1}" for i in range(width)], fontsize=7)
            if grid.size <= 60:
                for r_, c_ in zip(rows, pos, strict=True):
                    v = grid[r_, c_]
                    ax.text(c_, r_, "–" if v != v else f"{v:.2f}", ha="center", va="center", fontsize=8)
        fig.colorbar(im, ax=axes, fraction=0.02, pad=0.01)
    figs["difficulty"] = figure_png(fig)

    # 3. group comparison
    ov = frames.overview.assign(group=frames.overview["group"].replace("", "(none)"))
    groups = sorted(ov["group"].unique())
    fig = Figure(figsize=(11, 4.2))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 3]})
    if groups:
        ax1.boxplot(
            [ov.loc[ov["group"] == g, "percent"].to_numpy() * 100 for g in groups],
            tick_labels=groups,
            showmeans=True,
            showfliers=False,
            medianprops={"color": "#c00000"},
        )
        thr = frames.meta.get("exam_bonus_threshold", 0.5) * 100
        ax1.axhline(thr, color="#70ad47", lw=1, ls="--")
        ax1.text(0.55, thr + 1, "exam bonus", fontsize=8, color="#3a7a1e")
        ax1.set_ylabel("% of all points so far")
        ax1.set_title("Course percentage per tutor group", fontsize=10)
        ax1.grid(axis="y", alpha=0.3)
        gd = done.assign(group=done["group"].replace("", "(none)"))
        means = gd.groupby(["group", "assignment"])["percent"].mean().unstack().reindex(columns=order)
        for i, g in enumerate(groups):
            if g in means.index:
                ax2.plot(
                    range(len(order)), means.loc[g].to_numpy() * 100, marker="o", label=g, color=colors[i % len(colors)]
                )
        ax2.set_xticks(range(len(order)), order, rotation=45 if len(order) > 6 else 0, fontsize=8)
        ax2.set_ylim(0, 105)
        ax2.set_ylabel("mean % of the week's points")
        ax2.set_title("Mean per week and group (submitted work)", fontsize=10)
        if len(means):
            ax2.legend(fontsize=8, ncol=min(4, len(groups)))
        ax2.grid(alpha=0.3)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.9, bottom=0.15, wspace=0.2)
    figs["groups"] = figure_png(fig)

    # 4. submission times against the deadline
    fig = Figure(figsize=(11, 4.2))
    ax = fig.add_subplot()
    timed = done[done["submitted_at"].notna() & done["due"].notna()]
    if len(timed):
        course_due = frames.policies.set_index("assignment")["due"]
        due = timed["assignment"].map(course_due)
        hours = ((timed["submitted_at"] - due) / pd.Timedelta(hours=1)).to_numpy(dtype=float)
        extended = (timed["extension"] != "").to_numpy()
        late = (timed["late_penalty"] > 0).to_numpy()
        grace = (~late) & (timed["late_hours"] > 0).to_numpy()
        y = timed["assignment"].map({a: i for i, a in enumerate(order)}).to_numpy(dtype=float)
        y = y + np.random.default_rng(1).uniform(-0.3, 0.3, len(y))
        clipped = np.clip(hours, -7 * 24, 7 * 24)
        on_time = ~late & ~grace
        for mask, color, label in (
            (on_time & ~extended, "#70ad47", "on time"),
            (grace, "#ffc000", "within grace"),
            (late, "#c00000", "late (penalised)"),
            (on_time & extended, "#5b9bd5", "on time thanks to an extension"),
        ):
            if mask.any():
                ax.scatter(
                    clipped[mask],
                    y[mask],
                    s=10,
                    color=color,
                    label=f"{label} ({int(mask.sum())})",
                    alpha=0.7,
                    linewidths=0,
                )
        ax.axvline(0, color="black", lw=1)
        ax.set_yticks(range(len(order)), order, fontsize=8)
        ax.set_xlim(-7 * 24 - 4, 7 * 24 + 4)
        ax.set_xticks(np.arange(-7, 8) * 24, [f"{d:+d} d" if d else "deadline" for d in range(-7, 8)], fontsize=8)
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(axis="x", alpha=0.3)
    ax.set_title(
        "Submission times against the course deadline (clipped to ±7 days; colour: the deadline "
        "that applied to the student)",
        fontsize=10,
    )
    fig.subplots_adjust(left=0.07, right=0.98, top=0.9, bottom=0.1)
    figs["times"] = figure_png(fig)
    return figs


def _plot_child(conn) -> None:
    try:
        # matplotlib's import (~0.4 s) overlaps with the parent reading the gradebook
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        result: tuple[str, Any] = ("no matplotlib", None)
    else:
        try:
            frames = conn.recv()
        except (EOFError, OSError):  # the parent gave up before sending the frames
            conn.close()
            return
        try:
            result = ("ok", draw_plots(frames))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which draws them itself
            result = ("error", f"{type(exc).__name__}: {exc}")
    try:
        conn.send(result)
    except OSError:
        pass  # the parent is no longer listening
    finally:
        conn.close()


def plots_here(frames: ReportFrames) -> Callable[[], dict[str, str] | None]:
    def draw() -> dict[str, str] | None:
        try:
            return draw_plots(frames)
        except ImportError:
            return None

    return draw


class PlotWorker:
    """Draws the report's plots in a forked process while the parent writes the workbook.

    Drawing (with matplotlib's import) is about half of a report's time and independent of the
    workbook, so on a machine with a second core it runs beside it: start the worker first (it
    imports matplotlib while the gradebook is read), hand it the frames with :meth:`draw`, and
    call what that returns to collect the PNGs. Where fork is missing or there is one core, or
    the worker fails, the plots are drawn in this process. ``None`` from the collector: no
    matplotlib.
    """

    def __init__(self) -> None:
        import multiprocessing
        import os

        self._child: BaseProcess | None = None
        self._conn: Connection | None = None
        if (os.cpu_count() or 1) >= 2 and "fork" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("fork")
            self._conn, theirs = ctx.Pipe(duplex=True)
            self._child = ctx.Process(target=_plot_child, args=(theirs,), daemon=True, name="gradehub-plots")
            self._child.start()
            theirs.close()

    def draw(self, frames: ReportFrames) -> Callable[[], dict[str, str] | None]:
        here = plots_here(frames)
        conn = self._conn
        if self._child is None or conn is None:
            return here
        try:
            conn.send(frames)
        except (OSError, EOFError):  # the worker is gone (e.g. no matplotlib): it said why
            pass

        def collect() -> dict[str, str] | None:
            try:
                kind, value = conn.recv()
            except (EOFError, OSError):
                kind, value = "error", None
            finally:
                self.close()
            if kind == "ok":
                return value
            return None if kind == "no matplotlib" else here()

        return collect

    def close(self) -> None:
        """Stop the worker; after a collected result it has already ended."""
        if self._child is not None:
            if self._conn is not None:
                self._conn.close()
            if self._child.is_alive():
                self._child.terminate()
            self._child.join()
            self._child = None
