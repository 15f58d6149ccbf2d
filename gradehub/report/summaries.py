"""Summaries of the per-student frames: item statistics, tutor groups, weeks and their policies, extensions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ..course import Course
from ..late import describe_applied
from .read import local_times


def item_statistics(questions: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Per question over the submissions that have a score for it.

    difficulty: mean share of the points (classical p-value; 1 = everybody got full marks);
    discrimination: corrected item-total correlation, i.e. Pearson's r between the question's
    score and the student's total on the *other* questions of the same assignment.
    """
    keys = ["assignment", "notebook", "question"]
    q = questions.copy()
    q["failed"] = q["execution"].str.startswith("not run")
    graded_rows = questions["auto_score"].notna() | questions["manual_score"].notna()
    g = q[graded_rows.to_numpy()].copy()
    g["rest"] = g.groupby(["student", "assignment"])["score"].transform("sum") - g["score"]
    g["xy"], g["xx"], g["yy"] = g["score"] * g["rest"], g["score"] ** 2, g["rest"] ** 2
    agg = g.groupby(keys, sort=False).agg(
        graded=("score", "size"),
        mean=("score", "mean"),
        sx=("score", "sum"),
        sy=("rest", "sum"),
        sxy=("xy", "sum"),
        sxx=("xx", "sum"),
        syy=("yy", "sum"),
        zeros=("score", lambda s: float((s == 0).sum())),
    )
    n = agg["graded"].astype(float)
    cov = n * agg["sxy"] - agg["sx"] * agg["sy"]
    var = (n * agg["sxx"] - agg["sx"] ** 2) * (n * agg["syy"] - agg["sy"] ** 2)
    agg["discrimination"] = np.where(var > 1e-12, cov / np.sqrt(var.clip(lower=1e-300)), np.nan)
    per_all = q.groupby(keys, sort=False).agg(
        submissions=("score", "size"), failed=("failed", "mean"), open_manual=("needs_manual_grade", "sum")
    )
    out = (
        cells[[*keys, "cell_type", "max_score"]]
        .set_index(keys)
        .join(per_all)
        .join(agg[["graded", "mean", "zeros", "discrimination"]])
    )
    out["submissions"] = out["submissions"].fillna(0).astype(int)
    out["graded"] = out["graded"].fillna(0).astype(int)
    out["open_manual"] = out["open_manual"].fillna(0).astype(int)
    out["difficulty"] = out["mean"] / out["max_score"].where(out["max_score"] > 0)
    out["share_zero"] = out["zeros"] / out["graded"].where(out["graded"] > 0)
    out["share_failed"] = out["failed"]
    out = out.reset_index()
    return out[
        [
            "assignment",
            "notebook",
            "question",
            "cell_type",
            "max_score",
            "submissions",
            "graded",
            "open_manual",
            "mean",
            "difficulty",
            "discrimination",
            "share_zero",
            "share_failed",
        ]
    ]


def group_summary(overview, submissions, questions, course: Course, order: list[str]) -> pd.DataFrame:
    none = "(none)"
    ov = overview.assign(group=overview["group"].replace("", none))
    subs = submissions.assign(
        group=submissions["group"].replace("", none),
        handed_in=submissions["status"] != "missing",
        problem=submissions["status"].str.match(r"(failed|invalid|error)"),
    )
    by = ov.groupby("group", sort=True)
    out = pd.DataFrame(
        {
            "students": by.size(),
            "mean_percent": by["percent"].mean(),
            "median_percent": by["percent"].median(),
            "exam_bonus_share": by["exam_bonus"].mean().astype(float),
        }
    )
    sg = subs.groupby("group")
    out["submission_rate"] = sg["handed_in"].mean()
    out["failed_or_invalid"] = sg["problem"].sum()
    out["open_manual"] = (
        questions.assign(group=questions["group"].replace("", none)).groupby("group")["needs_manual_grade"].sum()
    )
    weekly = subs[subs["handed_in"]].pivot_table(index="group", columns="assignment", values="percent", aggfunc="mean")
    for aid in order:
        out[f"{aid} mean %"] = weekly[aid] if aid in weekly.columns else np.nan
    out = out.reset_index().rename(columns={"index": "group"})
    out["tutors"] = [", ".join(course.tutors.get(g, ())) for g in out["group"]]
    for col in ("open_manual", "failed_or_invalid"):
        out[col] = out[col].fillna(0).astype(int)
    columns = [
        "group",
        "tutors",
        "students",
        "submission_rate",
        "mean_percent",
        "median_percent",
        "exam_bonus_share",
        "open_manual",
        "failed_or_invalid",
        *[f"{a} mean %" for a in order],
    ]
    return out[columns]


def policy_table(course: Course, submissions, max_by_assignment, current) -> pd.DataFrame:
    rows = []
    for a in course.assignments:
        sa = submissions[submissions["assignment"] == a.id]
        sub = sa[sa["status"] != "missing"]
        rows.append(
            {
                "assignment": a.id,
                "title": a.title,
                "due": a.due.astimezone(dt.UTC) if a.due else None,
                "late_policy": describe_applied(a.late_policy, a.due, None),
                "max_score": float(max_by_assignment.get(a.id, 0.0)),
                "submitted": len(sub),
                "missing": int((sa["status"] == "missing").sum()),
                "failed_or_invalid": int(sa["status"].str.match(r"(failed|invalid|error)").sum()),
                "late": int((sub["late_penalty"] > 0).sum()),
                "extensions": sum(1 for (aid, _) in current if aid == a.id),
                "mean_percent": float(sub["percent"].mean()) if len(sub) else np.nan,
            }
        )
    df = pd.DataFrame(
        rows,
        columns=[
            "assignment",
            "title",
            "due",
            "late_policy",
            "max_score",
            "submitted",
            "missing",
            "failed_or_invalid",
            "late",
            "extensions",
            "mean_percent",
        ],
    )
    df["due"] = local_times(df["due"], course.timezone) if len(df) else df["due"]
    return df


def extension_table(history, current, tz: str) -> pd.DataFrame:
    rows = [
        {
            "assignment": e.assignment,
            "student": e.student,
            "until": e.until,
            "granted_by": e.granted_by,
            "reason": e.reason,
            "granted_at": e.granted_at,
            "action": "granted" if e.until else "revoked",
            "in_force": current.get((e.assignment, e.student)) is e,
        }
        for e in history
    ]
    df = pd.DataFrame(
        rows, columns=["assignment", "student", "action", "until", "granted_by", "reason", "granted_at", "in_force"]
    )
    df["until"] = local_times(df["until"], tz)
    df["granted_at"] = local_times(df["granted_at"], tz)
    return df
