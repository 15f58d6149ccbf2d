"""In headless Chromium: a tutor grades two answers of their group, the instructor sees it.

The tutor logs in, opens the week, grades the free-response question ``reflect`` question by
question (two answers, with comments; the model answer and rubric beside them) and checks
that a hostile answer runs no script. The instructor logs in and sees the tutor's progress;
``gradehub report`` then carries the tutor's points. The grading view is saved as
``docs/img/tutor-grading.png`` for the README when GRADEHUB_SCREENSHOTS=1.

Where ``gradehub hub`` runs the grading service (``gradehub.hub.config.GRADING_SERVICE``), everyone
logs in through the hub (its login form, then the service's OAuth) on a ``gradehub hub``
started on loopback. Otherwise the service runs alone on 127.0.0.1 with its own test login
(:class:`gradehub.tutoring.service.PasswordAuth`).

Needs Debian's chromium (``apt-get install chromium chromium-driver``) and the Python
packages playwright (never ``playwright install``) and jupyterhub.
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from hubtools import BROWSER_ARGS, CHROMIUM, browser_missing
from tutoring_helpers import INSTRUCTOR, REPO, ServerThread, build_course

# The README's picture is refreshed only on request (GRADEHUB_SCREENSHOTS=1), so a test run
# never rewrites a tracked file.
SCREENSHOT = (REPO / "docs" / "img" if os.environ.get("GRADEHUB_SCREENSHOTS") else
              Path(tempfile.gettempdir())) / "tutor-grading.png"
TUTOR = "tutor_a"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]
if _no_browser := browser_missing():
    pytestmark.append(pytest.mark.skip(reason=_no_browser))
try:
    import jupyterhub  # noqa: F401
except ImportError:
    pytestmark.append(pytest.mark.skip(reason="jupyterhub is not installed (pip install -e '.[hub]')"))


@dataclass
class Site:
    course: object
    base: str                                   # the service's URL, ending in /services/grading/
    instructor: str
    login: Callable[[object, str], None]        # (playwright page, account)

    def url(self, path: str = "") -> str:
        return self.base + path


def _hub_runs_grading() -> bool:
    try:
        from hubtools import hub_available
    except ImportError:
        return False
    return hub_available() is None


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    course = build_course(tmp_path_factory.mktemp("tutoring-browser") / "course")
    if _hub_runs_grading():
        yield from _through_the_hub(course)
    else:
        yield from _service_alone(course)


def _through_the_hub(course):
    from hubtools import Hub, free_port

    hub = Hub(course.root, free_port(), env={"GRADEHUB_HUB__CULLER__ENABLED": "false"})
    try:
        hub.wait_ready()
        passwords = hub.passwords()
        base = hub.url + "services/grading/"

        def login(page, user):
            page.goto(hub.url + "hub/login?next=/services/grading/")
            page.fill("#username_input", user)
            page.fill("#password_input", passwords[user])
            page.click("#login_submit")
            page.wait_for_url(base)                 # hub login, then the service's OAuth

        yield Site(course, base, "demo-instructor", login)
    finally:
        hub.stop()


def _service_alone(course):
    from gradehub.tutoring.service import PasswordAuth, make_app

    passwords = {TUTOR: "tutor-pw", INSTRUCTOR: "instructor-pw"}
    app = make_app(course.root, prefix="/services/grading/", auth=PasswordAuth(passwords),
                   instructors=[INSTRUCTOR])
    with ServerThread(app) as server:
        def login(page, user):
            page.goto(server.url(""))
            assert "/login" in page.url                 # not logged in yet: the login page
            page.fill("input[name=username]", user)
            page.fill("input[name=password]", passwords[user])
            page.click("button[type=submit]")
            page.wait_for_url(server.url(""))

        yield Site(course, server.url(""), INSTRUCTOR, login)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        yield b
        b.close()


def _session(browser, site: Site, user: str):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(120_000)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    site.login(page, user)
    return context, page, dialogs


def _save(page, student: str) -> None:
    page.locator(f"#card-{student} button[type=submit]").click()
    page.wait_for_load_state()
    page.locator(f"#card-{student} .badge.done").wait_for()


def test_tutor_grades_two_answers_and_instructor_sees_progress_and_report(site, browser, tmp_path):
    from gradehub.cli import main

    context, page, dialogs = _session(browser, site, TUTOR)
    assert "toy" in page.inner_text("#progress") and "tutor_b" not in page.content()
    page.click("#progress a:text('grade')")
    page.click("#questions tr:has-text('reflect') a:text('grade this question')")
    side = page.inner_text("aside")
    assert "Model answer" in side and "Rubric" in side and "same sign" in side
    text = page.inner_text("main")
    assert "Alice Adler" in text and "Carol Castro" in text
    assert "Bob Brandt" not in text and "Dave Dorn" not in text          # group B is not tutor_a's

    page.locator("#card-alice input[name=points]").fill("2")
    page.locator("#card-alice textarea[name=comment]").fill("Right: the sign is lost when squaring.")
    _save(page, "alice")
    page.locator("#card-carol input[name=points]").fill("1.5")
    page.locator("#card-carol textarea[name=comment]").fill("Say why: a product of two numbers of the same sign.")
    page.evaluate("window.scrollTo(0, 0)")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))              # one answer graded, the next being graded
    _save(page, "carol")
    assert "graded 1.5 / 2 by tutor_a" in page.inner_text("#card-carol")

    # the hostile answer (a <script>, an onerror image, a javascript: link) stays text
    page.goto(site.url("a/toy/q/toy/explain"))
    assert "<script>alert('xss')</script>" in page.inner_text("#card-carol .answer")
    assert page.locator("#card-carol .answer script, #card-carol .answer img").count() == 0
    assert dialogs == []
    page.goto(site.url())
    assert "4 / 6" in page.inner_text("#progress")    # 2 graded now + erin's 2 blank answers
    context.close()

    context, page, _ = _session(browser, site, site.instructor)
    rows = {cells[0]: cells for cells in (r.locator("td").all_inner_texts()
                                          for r in page.locator("#progress tr").all()) if cells}
    # tutor, week, students, answers graded, to grade, flagged, graded by them, second marks open
    assert rows[TUTOR][1:8] == ["toy", "3", "4 / 6", "2", "0", "2", "0"], rows
    assert rows["tutor_b"][3:5] == ["0 / 4", "4"], rows
    context.close()

    out = tmp_path / "reports"
    assert main(["report", "--course-root", str(site.course.root), "--output", str(out)]) == 0
    with open(out / "grades.csv", newline="", encoding="utf-8-sig") as f:
        by_student = {r.get("student") or r.get("id") or next(iter(r.values())): r for r in csv.DictReader(f)}
    assert any(v in ("5", "5.0") for v in by_student["alice"].values()), by_student["alice"]  # 3 auto + 2
    assert "4.5" in by_student["carol"].values(), by_student["carol"]                      # 3 auto + 1.5
    questions = _questions_sheet(out / "grades.xlsx")
    if questions is not None:
        marks = questions[questions["question"] == "reflect"].set_index("student")["manual_score"]
        assert marks["alice"] == 2 and marks["carol"] == 1.5


def _questions_sheet(path: Path):
    """The report's per-question sheet, if this version of the report has one."""
    import pandas as pd
    if not path.exists():
        return None
    for df in pd.read_excel(path, sheet_name=None).values():
        if {"student", "question", "manual_score"} <= set(df.columns):
            return df
    return None
