"""Reports, late policy and extensions, checked cell by cell against a gradebook with known scores.

The gradebook is written directly (nbgrader's Gradebook API + gradehub.gradebook.write_submission),
no notebook is executed. Two weeks, five students, every way a submission can end:

=======  ==============================================  ===============================================
student  w1 (q1 2 pts, q2 3 pts, essay 1 pt; 25%/day,    w2 (t1 4 pts, t2 1 pt; 10%/started hour, no grace,
         15 min grace, cap 50%)                           cap 50%)
=======  ==============================================  ===============================================
alice    on time, full marks, two tutor comments          on time, full marks
bob      20 min late (1 started day: -1.5), q1 a          2.5 h late (3 started hours: -1.5), t2 zero
         genuine 0 (the cell ran), essay 0.5
carol    10 min late (within grace), kernel died in a2:   missing
         q2 did not run, essay open
dave     invalid file: everything 0, nothing ran          3 days late, extension to +4 days: no penalty
erin     missing                                          missing
=======  ==============================================  ===============================================
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from conftest import REPO, TOY_COURSE_TOML

UTC = dt.timezone.utc
DUE1 = dt.datetime(2026, 10, 23, 23, 59, tzinfo=UTC)
DUE2 = dt.datetime(2026, 10, 30, 23, 59, tzinfo=UTC)

COURSE_TOML = """
[course]
id = "rep"
title = "Reports test"
roster = "roster.csv"
timezone = "Europe/Berlin"
exam_bonus_threshold = 0.45

[late_policy]
grace = "15min"
penalty_per_day = 0.25
cap = 0.5

[export]
delimiter = ";"
decimal = ","
exam_bonus_labels = ["ja", "nein"]

[export.columns]
Matrikelnummer = "student"
Nachname = "last_name"
Punkte = "total"
Prozent = "percent"
Bonus = "exam_bonus"
Woche1 = "w1"
Kurs = "=NAT3008"

[tutors]
A = ["tutor_a"]
B = ["tutor_b1", "tutor_b2"]

[[assignment]]
id = "w1"
title = "Week one"
due = "2026-10-23T23:59:00+00:00"

[[assignment]]
id = "w2"
title = "Week two"
due = "2026-10-30T23:59:00+00:00"
[assignment.late_policy]
penalty_per_hour = 0.1
grace = "0s"
cap = 0.5
"""

ROSTER = ("id,first_name,last_name,email,group\n"
          "alice,Alice,Adler,alice@x.org,A\nbob,Bob,Bauer,bob@x.org,B\ncarol,Carol,Celik,carol@x.org,A\n"
          "dave,Dave,Dietrich,dave@x.org,B\nerin,Erin,Engel,erin@x.org,A\n")


def _meta(gid, grade=False, solution=False, points=None):
    m = {"grade": grade, "solution": solution, "grade_id": gid, "locked": not solution, "schema_version": 3,
         "task": False}
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


def _w1_cells():
    return [nbformat.v4.new_code_cell("def f(): ...", metadata=_meta("a1", solution=True)),
            nbformat.v4.new_code_cell("assert f() == 1", metadata=_meta("q1", grade=True, points=2)),
            nbformat.v4.new_code_cell("def g(): ...", metadata=_meta("a2", solution=True)),
            nbformat.v4.new_code_cell("assert g() == 2", metadata=_meta("q2", grade=True, points=3)),
            nbformat.v4.new_markdown_cell("YOUR ANSWER HERE", metadata=_meta("essay", grade=True, solution=True,
                                                                            points=1))]


def _build(root: Path) -> None:
    """Course root + gradebook with the known scores of the module docstring."""
    from gradehub.course import load_course
    from gradehub.extensions import grant_extension
    from gradehub.gradebook import StatusRow, open_gradebook, write_submission

    root.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "course.toml").write_text(COURSE_TOML)
    (root / "roster.csv").write_text(ROSTER)
    (root / "release" / "w1").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=_w1_cells()), root / "release" / "w1" / "w1.ipynb")
    course = load_course(root)
    with open_gradebook(course) as gb:
        gb.add_assignment("w1", duedate=DUE1.replace(tzinfo=None))
        gb.add_notebook("w1", "w1")
        gb.add_solution_cell("a1", "w1", "w1")
        gb.add_grade_cell("q1", "w1", "w1", max_score=2, cell_type="code")
        gb.add_solution_cell("a2", "w1", "w1")
        gb.add_grade_cell("q2", "w1", "w1", max_score=3, cell_type="code")
        gb.add_grade_cell("essay", "w1", "w1", max_score=1, cell_type="markdown")
        gb.add_solution_cell("essay", "w1", "w1")
        gb.add_assignment("w2", duedate=DUE2.replace(tzinfo=None))
        gb.add_notebook("w2", "w2")
        gb.add_grade_cell("t1", "w2", "w2", max_score=4, cell_type="code")
        gb.add_grade_cell("t2", "w2", "w2", max_score=1, cell_type="code")
        for s in course.roster():
            gb.add_student(s.id, first_name=s.first_name, last_name=s.last_name, email=s.email)

        def submit(student, aid, when, scores, status="graded", message="graded"):
            write_submission(gb, assignment=aid, student=student, timestamp=when.astimezone(UTC).replace(tzinfo=None),
                             scores={aid: scores}, comments={aid: {}},
                             status=StatusRow(aid, student, status, message, [], [], "local", 1.0,
                                              when.isoformat(), "2026-11-01T10:00:00+00:00"))

        submit("alice", "w1", DUE1 - dt.timedelta(hours=1),
               {"q1": (2.0, False), "q2": (3.0, False), "essay": (None, True)}, "needs_manual")
        submit("alice", "w2", DUE2 - dt.timedelta(hours=2), {"t1": (4.0, False), "t2": (1.0, False)})
        submit("bob", "w1", DUE1 + dt.timedelta(minutes=20),
               {"q1": (0.0, False), "q2": (3.0, False), "essay": (None, True)}, "needs_manual")
        submit("bob", "w2", DUE2 + dt.timedelta(hours=2, minutes=30), {"t1": (4.0, False), "t2": (0.0, False)})
        submit("carol", "w1", DUE1 + dt.timedelta(minutes=10),
               {"q1": (2.0, False), "q2": (0.0, False), "essay": (None, True)},
               "failed", "the kernel died in cell `a2` (exit code 1)")
        submit("dave", "w1", DUE1 - dt.timedelta(hours=3),
               {"q1": (0.0, False), "q2": (0.0, False), "essay": (0.0, False)},
               "invalid", "notebook is not valid JSON")
        submit("dave", "w2", DUE2 + dt.timedelta(days=3), {"t1": (4.0, False), "t2": (1.0, False)})
        # tutors grade the essays and comment (as the formgrader does)
        for student, points in (("alice", 1.0), ("bob", 0.5)):
            grade = gb.find_grade("essay", "w1", "w1", student)
            grade.manual_score, grade.needs_manual_grade = points, False
        gb.find_comment("essay", "w1", "w1", "alice").manual_comment = "Nice!"
        gb.find_comment("a1", "w1", "w1", "alice").manual_comment = "Good vectorisation."
        gb.db.commit()
    # carol's executed notebook: the kernel died in a2, so q2 never ran
    folder = root / "autograded" / "carol" / "w1"
    folder.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=_w1_cells()), folder / "w1.ipynb")
    (folder / "gradehub-result.json").write_text(json.dumps({"status": "failed", "notebooks": [
        {"name": "w1", "outcome": "kernel_died", "cells": {"0": {"status": "ok"}, "1": {"status": "ok"},
                                                           "2": {"status": "not_run"}, "3": {"status": "not_run"}}}]}))
    grant_extension(course, "dave", "w2", DUE2 + dt.timedelta(days=4), granted_by="prof",
                    reason="medical certificate")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("reports") / "course"
    _build(root)
    return root


@pytest.fixture
def course(built, tmp_path):
    """A private copy of the built course root (tests may change deadlines and extensions)."""
    from gradehub.course import load_course
    root = tmp_path / "course"
    shutil.copytree(built, root)
    return load_course(root)


@pytest.fixture
def report(course, tmp_path):
    from gradehub.report import write_reports
    out = tmp_path / "out"
    files = write_reports(course, out, formats=("xlsx", "parquet") if _has("pyarrow") else ("xlsx",),
                          plots=_has("matplotlib"))
    return course, out, files


def _has(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def _sheet(path: Path, name: str) -> list[dict]:
    from openpyxl import load_workbook
    ws = load_workbook(path)[name]
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


# ----------------------------------------------------------------------------- late policy rules (pure)


@pytest.mark.parametrize("late, policy, expected", [
    (dt.timedelta(minutes=-1), dict(grace_seconds=900, penalty_per_day=0.25, cap=0.5), 0.0),      # on time
    (dt.timedelta(minutes=15), dict(grace_seconds=900, penalty_per_day=0.25, cap=0.5), 0.0),      # end of grace
    (dt.timedelta(minutes=16), dict(grace_seconds=900, penalty_per_day=0.25, cap=0.5), 2.5),      # 1 started day
    (dt.timedelta(days=1, seconds=1), dict(grace_seconds=900, penalty_per_day=0.25, cap=0.5), 5.0),  # 2 days
    (dt.timedelta(days=9), dict(grace_seconds=900, penalty_per_day=0.25, cap=0.5), 5.0),          # the cap
    (dt.timedelta(seconds=1), dict(penalty_per_hour=0.05, cap=1.0), 0.5),                       # 1 started hour
    (dt.timedelta(hours=3), dict(penalty_per_hour=0.05, cap=1.0), 1.5),                         # exactly 3 h
    (dt.timedelta(hours=3, seconds=1), dict(penalty_per_hour=0.05, cap=1.0), 2.0),              # 4th hour
    (dt.timedelta(days=30), dict(penalty_per_hour=0.05, cap=1.0), 10.0),                        # everything
    (dt.timedelta(days=30), dict(), 0.0),                                                       # no policy
])
def test_every_late_policy_rule(late, policy, expected):
    from gradehub.course import LatePolicy
    from gradehub.late import late_penalty
    assert late_penalty(LatePolicy(**policy), DUE1, DUE1 + late, 10.0).points == pytest.approx(expected)


def test_extension_moves_the_deadline_and_the_later_deadline_wins():
    from gradehub.course import LatePolicy
    from gradehub.late import effective_due, late_penalty
    policy = LatePolicy(grace_seconds=900, penalty_per_day=0.25, cap=1.0)
    ext = DUE1 + dt.timedelta(days=2)
    assert late_penalty(policy, DUE1, DUE1 + dt.timedelta(days=1), 4.0, ext).points == 0.0
    assert late_penalty(policy, DUE1, ext + dt.timedelta(minutes=10), 4.0, ext).points == 0.0   # grace counts too
    p = late_penalty(policy, DUE1, ext + dt.timedelta(hours=1), 4.0, ext)
    assert p.points == pytest.approx(1.0) and p.extended and p.due == ext
    assert "deadline extended to 2026-10-25 23:59" in p.policy
    # a course deadline moved past the extension makes the extension irrelevant
    assert effective_due(ext + dt.timedelta(days=1), ext) == ext + dt.timedelta(days=1)
    assert not late_penalty(policy, ext + dt.timedelta(days=1), ext, 4.0, ext).extended
    assert effective_due(None, ext) is None


def test_relative_and_absolute_extension_times():
    from gradehub.course import CourseError
    from gradehub.extensions import parse_until
    assert parse_until("+3d", DUE1) == DUE1 + dt.timedelta(days=3)
    assert parse_until("+36h", DUE1) == DUE1 + dt.timedelta(hours=36)
    assert parse_until("2026-10-30T23:59+01:00", DUE1) == dt.datetime(2026, 10, 30, 22, 59, tzinfo=UTC)
    for bad in ("2026-10-30T23:59", "next friday", "+3 fortnights"):
        with pytest.raises(CourseError):
            parse_until(bad, DUE1)


# ----------------------------------------------------------------------------- the workbook, cell by cell


def test_workbook_has_every_sheet(report):
    from openpyxl import load_workbook
    _, out, _ = report
    assert load_workbook(out / "grades.xlsx").sheetnames == [
        "overview", "questions", "groups", "group A", "group B", "items", "submissions", "scores", "policies",
        "extensions", "about"]


def test_overview_cell_by_cell(report):
    _, out, _ = report
    rows = {r["student"]: r for r in _sheet(out / "grades.xlsx", "overview")}
    expected = {  # w1, w2, total, percent, bonus, submitted
        "alice": (6.0, 5.0, 11.0, 1.0, "yes", 2),
        "bob": (2.0, 2.5, 4.5, 4.5 / 11, "no", 2),
        "carol": (2.0, 0.0, 2.0, 2 / 11, "no", 1),
        "dave": (0.0, 5.0, 5.0, 5 / 11, "yes", 2),     # 45.45% ≥ 45%: the extension saved the bonus
        "erin": (0.0, 0.0, 0.0, 0.0, "no", 0),
    }
    assert set(rows) == set(expected)
    for student, (w1, w2, total, percent, bonus, submitted) in expected.items():
        r = rows[student]
        assert (r["w1"], r["w2"], r["total"], r["max_total"]) == pytest.approx((w1, w2, total, 11.0)), student
        assert r["percent"] == pytest.approx(percent) and r["exam_bonus"] == bonus, student
        assert r["submitted"] == submitted
    assert rows["bob"]["group"] == "B" and rows["alice"]["first_name"] == "Alice"


def test_questions_cell_by_cell_tell_a_zero_from_a_crash(report):
    _, out, _ = report
    rows = {(r["student"], r["assignment"], r["question"]): r for r in _sheet(out / "grades.xlsx", "questions")}
    assert len(rows) == 4 * 3 + 3 * 2      # four w1 submissions, three w2 submissions
    alice_q1 = rows[("alice", "w1", "q1")]
    assert (alice_q1["auto_score"], alice_q1["manual_score"], alice_q1["score"]) == (2, None, 2)
    assert alice_q1["grader"] == "autograder" and alice_q1["comments"] == "Good vectorisation."
    alice_essay = rows[("alice", "w1", "essay")]
    assert (alice_essay["manual_score"], alice_essay["score"], alice_essay["grader"]) == (1, 1, "tutor_a")
    assert alice_essay["comments"] == "Nice!" and alice_essay["execution"] == "written answer"
    bob_q1 = rows[("bob", "w1", "q1")]     # a genuine zero: the tests ran and failed
    assert (bob_q1["score"], bob_q1["execution"], bob_q1["late_penalty"]) == (0, "ran", pytest.approx(0.5))
    assert rows[("bob", "w1", "q2")]["late_penalty"] == pytest.approx(0.75)
    assert rows[("bob", "w1", "essay")]["grader"] == "tutor_b1, tutor_b2"
    assert rows[("bob", "w2", "t1")]["late_penalty"] == pytest.approx(1.2)
    assert rows[("carol", "w1", "q1")]["execution"] == "ran"
    carol_q2 = rows[("carol", "w1", "q2")]  # a zero because the kernel died before it
    assert carol_q2["score"] == 0 and carol_q2["execution"].startswith("not run (not reached")
    assert "kernel died in cell `a2`" in carol_q2["execution"]
    carol_essay = rows[("carol", "w1", "essay")]
    assert carol_essay["score"] == 0 and carol_essay["needs_manual_grade"] == "yes" and carol_essay["grader"] in ("", None)
    for q in ("q1", "q2", "essay"):
        assert rows[("dave", "w1", q)]["execution"] == "not run (invalid): notebook is not valid JSON"
    assert rows[("dave", "w2", "t1")]["late_penalty"] == 0


def test_submissions_cell_by_cell(report):
    _, out, _ = report
    rows = {(r["student"], r["assignment"]): r for r in _sheet(out / "grades.xlsx", "submissions")}
    assert len(rows) == 10
    bob1 = rows[("bob", "w1")]
    assert bob1["status"] == "graded" and bob1["late_penalty"] == pytest.approx(1.5)
    assert bob1["late_hours"] == pytest.approx(0.33) and bob1["total"] == pytest.approx(2.0)
    assert bob1["late_policy"] == "25% per started day after 15 min grace, at most 50%"
    assert bob1["submitted_at"] == dt.datetime(2026, 10, 24, 2, 19)       # Europe/Berlin, CEST
    assert bob1["due"] == dt.datetime(2026, 10, 24, 1, 59)
    bob2 = rows[("bob", "w2")]
    assert bob2["late_penalty"] == pytest.approx(1.5) and bob2["total"] == pytest.approx(2.5)
    assert bob2["late_policy"] == "10.0% per started hour, at most 50%"
    assert rows[("carol", "w1")]["status"] == "failed: the kernel died in cell `a2` (exit code 1)"
    assert rows[("carol", "w1")]["late_penalty"] == 0 and rows[("carol", "w1")]["late_hours"] == pytest.approx(0.17)
    assert rows[("carol", "w2")]["status"] == "missing" and rows[("erin", "w1")]["status"] == "missing"
    assert rows[("dave", "w1")]["status"] == "invalid: notebook is not valid JSON"
    dave2 = rows[("dave", "w2")]
    assert dave2["late_penalty"] == 0 and dave2["total"] == 5
    assert dave2["due"] == dt.datetime(2026, 11, 4, 0, 59)          # the extension, in CET
    assert "granted by prof (medical certificate)" in dave2["extension"]
    assert "deadline extended to 2026-11-03 23:59" in dave2["late_policy"]
    assert rows[("alice", "w1")]["status"] == "graded"     # the tutor graded the essay: nothing open


def test_item_statistics_match_an_independent_computation(report):
    _, out, _ = report
    items = {(r["assignment"], r["question"]): r for r in _sheet(out / "grades.xlsx", "items")}
    # w1 graded scores per student (carol's essay is open, so not counted)
    w1 = {"alice": {"q1": 2, "q2": 3, "essay": 1}, "bob": {"q1": 0, "q2": 3, "essay": 0.5},
          "carol": {"q1": 2, "q2": 0}, "dave": {"q1": 0, "q2": 0, "essay": 0}}
    for q, max_score, failed in (("q1", 2, 0.25), ("q2", 3, 0.5), ("essay", 1, 0.25)):
        xs = [s[q] for s in w1.values() if q in s]
        rest = [sum(s.values()) - s[q] for s in w1.values() if q in s]
        r = items[("w1", q)]
        assert r["graded"] == len(xs) and r["submissions"] == 4
        assert r["mean"] == pytest.approx(np.mean(xs))
        assert r["difficulty"] == pytest.approx(np.mean(xs) / max_score)
        assert r["discrimination"] == pytest.approx(np.corrcoef(xs, rest)[0, 1])
        assert r["share_zero"] == pytest.approx(np.mean([x == 0 for x in xs]))
        assert r["share_failed"] == pytest.approx(failed)
    assert items[("w1", "essay")]["open_manual"] == 1
    assert items[("w2", "t1")]["discrimination"] is None      # no variance: no correlation
    assert items[("w2", "t2")]["share_zero"] == pytest.approx(1 / 3)


def test_groups_and_group_sheets(report):
    _, out, _ = report
    groups = {r["group"]: r for r in _sheet(out / "grades.xlsx", "groups")}
    assert groups["A"]["students"] == 3 and groups["A"]["tutors"] == "tutor_a"
    assert groups["A"]["submission_rate"] == pytest.approx(3 / 6)
    assert groups["A"]["mean_percent"] == pytest.approx((1 + 2 / 11 + 0) / 3)
    assert groups["B"]["exam_bonus_share"] == pytest.approx(0.5)
    assert groups["A"]["open_manual"] == 1 and groups["B"]["failed_or_invalid"] == 1
    a = {r["student"]: r for r in _sheet(out / "grades.xlsx", "group A")}
    assert set(a) == {"alice", "carol", "erin"}
    assert a["carol"]["open_manual"] == 1 and a["carol"]["failed_or_invalid"] == 1 and a["carol"]["w1"] == 2


def test_policies_extensions_and_about(report):
    _, out, _ = report
    policies = {r["assignment"]: r for r in _sheet(out / "grades.xlsx", "policies")}
    assert policies["w1"]["late"] == 1 and policies["w1"]["submitted"] == 4 and policies["w1"]["missing"] == 1
    assert policies["w2"]["extensions"] == 1 and policies["w2"]["max_score"] == 5
    ext = _sheet(out / "grades.xlsx", "extensions")
    assert [(e["student"], e["action"], e["granted_by"], e["reason"], e["in_force"]) for e in ext] == [
        ("dave", "granted", "prof", "medical certificate", "yes")]
    about = {r["item"]: r["value"] for r in _sheet(out / "grades.xlsx", "about")}
    assert about["exam bonus threshold"] == "45% of 11 points"


def test_workbook_is_formatted(report):
    from openpyxl import load_workbook
    _, out, _ = report
    wb = load_workbook(out / "grades.xlsx")
    for ws in wb.worksheets:
        assert ws.freeze_panes in ("A2", "B2", "D2"), ws.title
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), ws.title
        assert ws["A1"].font.b
    ov = wb["overview"]
    header = [c.value for c in ov[1]]
    assert ov.cell(2, header.index("percent") + 1).number_format == "0.0%"
    assert ov.column_dimensions["D"].width >= len("alice@x.org")
    subs = wb["submissions"]
    header = [c.value for c in subs[1]]
    assert subs.cell(2, header.index("submitted_at") + 1).number_format == "yyyy-mm-dd hh:mm"
    items = wb["items"]
    header = [c.value for c in items[1]]
    assert items.cell(2, header.index("difficulty") + 1).number_format == "0.0%"


def test_pandas_reads_the_workbook_back(report):
    _, out, _ = report
    df = pd.read_excel(out / "grades.xlsx", sheet_name="scores")
    assert list(df.columns) == ["student", "w1/q1", "w1/q2", "w1/essay", "w2/t1", "w2/t2"]
    row = df.set_index("student").loc["bob"]
    assert row.tolist() == [0, 3, 0.5, 4, 0]
    assert df.set_index("student").loc["erin"].isna().all()


def test_grades_csv_follows_the_export_mapping(report):
    _, out, _ = report
    text = (out / "grades.csv").read_text(encoding="utf-8").splitlines()
    assert text[0] == "Matrikelnummer;Nachname;Punkte;Prozent;Bonus;Woche1;Kurs"
    rows = {line.split(";")[0]: line.split(";") for line in text[1:]}
    assert rows["bob"] == ["bob", "Bauer", "4,5", "0,4091", "nein", "2,0", "NAT3008"]
    assert rows["dave"][4] == "ja"


def test_grades_csv_without_mapping_is_the_overview(course, tmp_path):
    from gradehub.course import load_course
    from gradehub.report import write_reports
    toml = course.root / "course.toml"
    text = toml.read_text()
    start, end = text.index("[export]"), text.index("[tutors]")
    toml.write_text(text[:start] + text[end:])
    write_reports(load_course(course.root), tmp_path / "o", html_report=False)
    df = pd.read_csv(tmp_path / "o" / "grades.csv")
    assert df.set_index("student").loc["bob", "total"] == pytest.approx(4.5)


def test_export_mapping_is_validated(course):
    from gradehub.course import CourseError, load_course
    toml = course.root / "course.toml"
    toml.write_text(toml.read_text().replace('Woche1 = "w1"', 'Woche1 = "w9"'))
    with pytest.raises(CourseError, match=r"\[export\].columns.Woche1: unknown field 'w9'"):
        load_course(course.root)


@pytest.mark.skipif(not _has("pyarrow"), reason="pyarrow is not installed")
def test_parquet_round_trip(report):
    from gradehub.report import build_frames
    course, out, _ = report
    frames = build_frames(course)
    back = pd.read_parquet(out / "parquet" / "questions.parquet")
    pd.testing.assert_frame_equal(back, frames.questions, check_dtype=False)
    subs = pd.read_parquet(out / "parquet" / "submissions.parquet")
    assert str(subs["submitted_at"].dt.tz) == "Europe/Berlin"


@pytest.mark.skipif(not _has("matplotlib"), reason="matplotlib is not installed")
def test_plots_drawn_in_a_forked_process_are_the_ones_drawn_here(report, monkeypatch):
    import multiprocessing

    from gradehub import report as reports
    course, _, _ = report
    frames = reports.build_frames(course)
    here = reports.draw_plots(frames)
    assert sorted(here) == ["difficulty", "distribution", "groups", "times"]
    before = {p.pid for p in multiprocessing.active_children()}
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    collect = reports.PlotWorker().draw(frames)
    children = [p for p in multiprocessing.active_children() if p.pid not in before]
    assert [p.name for p in children] == ["gradehub-plots"]            # really drawn elsewhere
    assert collect() == here
    assert not children[0].is_alive()


def test_a_failing_report_leaves_no_plot_worker_behind(tmp_path, monkeypatch):
    import multiprocessing

    from gradehub import report as reports
    from gradehub.course import CourseError
    from gradehub.course import load_course
    root = tmp_path / "empty"
    (root / "source").mkdir(parents=True)
    (root / "course.toml").write_text(TOY_COURSE_TOML)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    with pytest.raises(CourseError, match="no gradebook"):
        reports.write_reports(load_course(root), tmp_path / "out")
    assert [p.name for p in multiprocessing.active_children()] == []


@pytest.mark.skipif(not _has("matplotlib"), reason="matplotlib is not installed")
def test_html_report_has_the_four_plots_and_the_policies(report):
    _, out, _ = report
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 4
    for title in ("Score distribution per week", "Per-question difficulty", "Group comparison",
                  "Submission times against the deadline", "Item statistics", "Extensions"):
        assert title in page
    assert "10.0% per started hour, at most 50%" in page and "medical certificate" in page


def test_grader_is_who_the_tutoring_service_recorded(course, tmp_path):
    from sqlalchemy import text

    from gradehub.gradebook import TUTOR_MARKS, TUTOR_OVERRIDES, TUTOR_TABLES, create_tables, gradebook_engine
    from gradehub.report import write_reports
    MARKS, OVERRIDES = TUTOR_MARKS.name, TUTOR_OVERRIDES.name
    engine = gradebook_engine(course)
    create_tables(engine, *TUTOR_TABLES)
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {MARKS} (assignment, student, notebook, cell, tutor, score, graded_at) "
                          "VALUES ('w1', 'bob', 'w1', 'essay', 'tutor_b2', 0.5, '2026-11-02T10:00:00+00:00')"))
        conn.execute(text(f"INSERT INTO {OVERRIDES} (student, tutor, reason, set_by, set_at) "
                          "VALUES ('alice', 'tina', 'moved', 'prof', '2026-11-01T10:00:00+00:00')"))
    engine.dispose()
    write_reports(course, tmp_path / "o", html_report=False)
    rows = {(r["student"], r["question"]): r for r in _sheet(tmp_path / "o" / "grades.xlsx", "questions")}
    assert rows[("bob", "essay")]["grader"] == "tutor_b2"        # recorded by the grading service
    assert rows[("alice", "essay")]["grader"] == "tina"          # formgrader score: the student's tutor
    assert rows[("alice", "q1")]["grader"] == "autograder"


# ----------------------------------------------------------------------------- recomputation


def _nbgrader_penalties(course) -> dict[tuple[str, str], float]:
    from gradehub.gradebook import gradebook_engine
    from sqlalchemy import text
    engine = gradebook_engine(course)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT sa.student_id, a.name, SUM(COALESCE(sn.late_submission_penalty, 0)) FROM submitted_notebook sn "
            "JOIN submitted_assignment sa ON sa.id = sn.assignment_id JOIN assignment a ON a.id = sa.assignment_id "
            "GROUP BY sa.student_id, a.name")).fetchall()
    engine.dispose()
    return {(r[0], r[1]): r[2] for r in rows}


def test_nbgrader_penalty_columns_follow_gradehub(course):
    pens = _nbgrader_penalties(course)
    assert pens[("bob", "w1")] == pytest.approx(1.5) and pens[("bob", "w2")] == pytest.approx(1.5)
    assert pens[("dave", "w2")] == 0.0 and pens[("carol", "w1")] == 0.0
    from nbgrader.api import Gradebook
    from gradehub.course import gradebook_url
    gb = Gradebook(gradebook_url(course), course_id=course.id)
    try:
        sub = gb.find_submission("w2", "dave")
        assert sub.extension == dt.timedelta(days=4)
        assert sub.late_submission_penalty == 0.0
        assert gb.find_submission("w1", "bob").late_submission_penalty == pytest.approx(1.5)
    finally:
        gb.close()


def test_deadline_change_recomputes_every_penalty(course, tmp_path):
    from gradehub.course import load_course
    from gradehub.report import build_frames, write_reports
    toml = course.root / "course.toml"
    toml.write_text(toml.read_text().replace('due = "2026-10-23T23:59:00+00:00"', 'due = "2026-10-24T12:00:00+00:00"')
                    .replace('due = "2026-10-30T23:59:00+00:00"', 'due = "2026-10-30T20:00:00+00:00"'))
    moved = load_course(course.root)
    write_reports(moved, tmp_path / "o", html_report=False)
    subs = build_frames(moved).submissions.set_index(["student", "assignment"])
    assert subs.loc[("bob", "w1"), "late_penalty"] == 0.0                  # now on time
    # alice submitted at 21:59 UTC; the new deadline is 20:00: 1 h 59 min late = 2 started hours = 20%
    assert subs.loc[("alice", "w2"), "late_hours"] == pytest.approx(1.98)
    assert subs.loc[("alice", "w2"), "late_penalty"] == pytest.approx(1.0)
    pens = _nbgrader_penalties(moved)
    assert pens[("bob", "w1")] == 0.0 and pens[("alice", "w2")] == pytest.approx(0.2 * 5)
    assert pens[("bob", "w2")] == pytest.approx(0.5 * 5)      # 6.5 h late: 7 started hours, capped at 50%


def test_extension_grant_and_revoke_recompute(course, tmp_path):
    from gradehub.cli import main
    from gradehub.report import build_frames
    root = str(course.root)
    assert main(["extend", "bob", "w1", "--until", "+1d", "--reason", "train strike", "--by", "tutor_b1",
                 "--course-root", root]) == 0
    subs = build_frames(course).submissions.set_index(["student", "assignment"])
    assert subs.loc[("bob", "w1"), "late_penalty"] == 0.0
    assert "train strike" in subs.loc[("bob", "w1"), "extension"]
    assert _nbgrader_penalties(course)[("bob", "w1")] == 0.0
    assert main(["extend", "dave", "w2", "--revoke", "--reason", "certificate withdrawn", "--by", "prof",
                 "--course-root", root]) == 0
    subs = build_frames(course).submissions.set_index(["student", "assignment"])
    assert subs.loc[("dave", "w2"), "late_penalty"] == pytest.approx(2.5)    # 3 days late, capped at 50%
    assert _nbgrader_penalties(course)[("dave", "w2")] == pytest.approx(2.5)
    ext = build_frames(course).extensions
    assert list(ext["action"]) == ["granted", "granted", "revoked"]
    assert list(ext["in_force"]) == [False, True, False]
    assert main(["extend", "--list", "--course-root", root]) == 0


@pytest.mark.parametrize("args, words", [
    (["bob", "w1", "--until", "+1d", "--by", "x"], "say why"),
    (["bob", "w1", "--until", "2026-10-20T00:00+00:00", "--reason", "r"], "not after the deadline"),
    (["zed", "w1", "--until", "+1d", "--reason", "r"], "unknown student"),
    (["bob", "w9", "--until", "+1d", "--reason", "r"], "unknown assignment"),
    (["bob", "w1", "--revoke", "--reason", "r"], "has no extension"),
])
def test_extension_mistakes_are_refused(course, capsys, args, words):
    from gradehub.cli import main
    assert main(["extend", *args, "--course-root", str(course.root)]) == 2
    assert words in capsys.readouterr().err.replace("\n", " ")


# ----------------------------------------------------------------------------- plumbing


def test_reports_do_not_import_nbgrader():
    import subprocess
    import sys
    code = ("import sys, gradehub.report, gradehub.extensions, gradehub.feedback; "
            "print(any(m == 'nbgrader' or m.startswith('nbgrader.') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_engine_url_matches_the_gradebook_module(course):
    from gradehub.gradebook import gradebook_engine
    from gradehub.course import gradebook_url
    engine = gradebook_engine(course)
    assert engine.url.render_as_string(hide_password=False) == gradebook_url(course)
    engine.dispose()


def test_cli_report_shows_progress_for_large_gradebooks(course, monkeypatch, tmp_path):
    import gradehub.report as reports
    from gradehub.cli import main
    monkeypatch.setattr(reports, "LARGE_GRADEBOOK", 1)
    seen = []
    real = reports.write_reports

    def spy(*args, progress=None, **kwargs):
        seen.append(progress)
        return real(*args, progress=progress, **kwargs)

    monkeypatch.setattr(reports, "write_reports", spy)
    assert main(["report", "--course-root", str(course.root), "--output", str(tmp_path / "o"), "--no-plots"]) == 0
    assert seen and seen[0] is not None
    assert (tmp_path / "o" / "grades.xlsx").is_file() and (tmp_path / "o" / "report.html").is_file()


def test_workbook_escapes_text_and_keeps_columns_aligned(tmp_path):
    from openpyxl import load_workbook
    from gradehub.report import Workbook
    df = pd.DataFrame({"a": ["<b>&\"x\"</b>", None, " lead", "bad\x01char", "{s}", "=1+1", "https://x.org",
                             "_x0041_"],
                       "n": [1.5, np.nan, 3, 4, 5, np.inf, 0.1 + 0.2, 7],
                       "t": pd.to_datetime(["2026-01-01 10:00", None, "2026-01-02 00:00", "2026-01-03 00:00",
                                            "2026-01-04 00:00", None, None, None]),
                       "b": [True, False, True, False, True, True, True, True]})
    book = Workbook(tmp_path / "x.xlsx")
    book.add("we:ird/name[1]", df)
    book.add("we:ird/name[1]", df)
    assert book.close() == tmp_path / "x.xlsx" and not (tmp_path / "x.xlsx.tmp").exists()
    wb = load_workbook(tmp_path / "x.xlsx")
    assert wb.sheetnames == ["we_ird_name_1_", "we_ird_name_1_ (2)"]
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    assert rows[0] == ("a", "n", "t", "b")
    assert rows[1] == ("<b>&\"x\"</b>", 1.5, dt.datetime(2026, 1, 1, 10, 0), "yes")
    assert rows[2] == (None, None, None, "no")
    assert rows[3][0] == " lead" and rows[4][0] == "badchar" and rows[5][0] == "{s}"
    # text stays text: no formula, no hyperlink
    assert rows[6][:2] == ("=1+1", None) and wb.worksheets[0]["A7"].data_type == "s"
    assert rows[7][0] == "https://x.org" and wb.worksheets[0]["A8"].hyperlink is None
    assert rows[8][0] == "_x0041_"            # not Excel's escape for "A"
    assert rows[7][1] == pytest.approx(0.3)


def test_html_report_runs_no_script_and_escapes_what_people_wrote(course, tmp_path):
    """Reasons, grantor names and group names reach the page only as text, under a CSP without script."""
    import base64
    import hashlib
    import re

    from gradehub.extensions import grant_extension
    from gradehub.report import write_reports
    from gradehub.report.html import _CSS
    hostile = "<script>alert('x')</script>"
    grant_extension(course, "bob", "w1", DUE1 + dt.timedelta(days=1), granted_by="<img src=x onerror=alert(1)>",
                    reason=hostile + '" onmouseover="alert(2)')
    roster = course.root / "roster.csv"
    roster.write_text(roster.read_text().replace(",B\n", ",<b onclick=alert(3)>B</b>\n"))
    from gradehub.course import load_course
    write_reports(load_course(course.root), tmp_path / "o", plots=False)
    page = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    from html.parser import HTMLParser

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.seen: set[str] = set()

        def handle_starttag(self, tag, attrs):
            self.seen |= {tag, *(f"{tag}[{name}]" for name, _ in attrs)}

    parser = Tags()
    parser.feed(page)
    assert not [t for t in parser.seen if t in ("script", "iframe", "object", "embed") or "[on" in t], parser.seen
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&quot; onmouseover=&quot;alert(2)" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;b onclick=alert(3)&gt;B&lt;/b&gt;" in page
    csp = re.search(r"<meta http-equiv='Content-Security-Policy' content=\"([^\"]+)\">", page).group(1)
    assert page.index("Content-Security-Policy") < page.index("<style>")      # in force before anything else
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'" and "script-src" not in directives   # no script at all
    assert directives["img-src"] == "data:"
    digest = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
    assert directives["style-src"] == f"'sha256-{digest}'" and f"<style>{_CSS}</style>" in page
    assert page.count("<style") == 1 and " style=" not in page
