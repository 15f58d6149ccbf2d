"""In headless Chromium, through `gradehub hub` on loopback: the whole loop of a sheet (issue 15).

1. The student (alice) logs in: the Assignment List is in the left sidebar without asking, with
   week01's deadline (passed 3 h ago: 10 % late penalty). *Fetch* shows the sheet in the file
   browser at once. She opens the notebook, runs a cell, answers a code question and the
   written question, saves, and submits: a dialog asks first and names the penalty (Cancel
   submits nothing). After a reload the list is back in the sidebar.
2. The instructor collects in the formgrader (it renders: its table is filled by its own API
   calls), autogrades and releases feedback on the command line.
3. The tutor (tina, group A) grades the written answer in the grading service.
4. The instructor releases the grades (`gradehub grades release`).
5. The student fetches the feedback in the Assignment List and opens it in JupyterLab, then
   opens the grades page from the list: points per task, the tutor's comment, the late penalty,
   the total. Another student's page is a 403. No console error in her whole session (the
   kernel's WebSocket included: gradehub.hub.proxy).

Screenshots land in the test's temp folder; with GRADEHUB_SCREENSHOTS=1 the student's feedback
and grades page are written to docs/img/ for the README.

Needs Debian's chromium (`apt-get install chromium chromium-driver`) and the Python package
playwright (never `playwright install`: the system browser is used).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess

import pytest

from hubtools import (BIN, BROWSER_ARGS, CHROMIUM, REPO, Hub, browser_missing, free_port, hub_available, hub_env,
                      make_course)

SLOW = 240_000   # ms: a first JupyterLab load on a busy 2-core machine
LATE = dt.timedelta(hours=3)   # week01's deadline, before the student submits: one started day late
IMG = REPO / "docs" / "img" if os.environ.get("GRADEHUB_SCREENSHOTS") else None
MLE = "def mle_tau(t):\nreturn np.asarray(t, dtype=float).mean(axis=-1)"   # the editor indents the body
ANSWER = "A frequentist interval covers the true lifetime in 68 % of repeated experiments."
COMMENT = "Right, and say what a credible interval means as well."

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
_missing = hub_available()
if _missing:
    pytestmark.append(pytest.mark.skip(reason=_missing))
if _no_browser := browser_missing():
    pytestmark.append(pytest.mark.skip(reason=_no_browser))


def _due_in_the_past(course_toml: str) -> str:
    due = (dt.datetime.now(dt.UTC) - LATE).replace(microsecond=0).isoformat()
    text, n = re.subn(r'(id = "week01"\n(?:(?!\[\[)[^\n]*\n)*?)due = "[^"]*"', rf'\g<1>due = "{due}"', course_toml)
    assert n == 1
    return text


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("hubbrowser") / "course", sheets=("week01",))
    (root / "course.toml").write_text(_due_in_the_past((root / "course.toml").read_text()))
    hub = Hub(root, free_port(), env={"GRADEHUB_HUB__CULLER__ENABLED": "false"})
    try:
        hub.wait_ready()
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        yield b
        b.close()


def _login(page, hub, user, next_url=None):
    url = hub.url + "hub/login" + (f"?next={next_url}" if next_url else "")
    page.goto(url)
    page.fill("#username_input", user)
    page.fill("#password_input", hub.passwords()[user])
    page.click("#login_submit")


def _gradehub(hub, *args):
    done = subprocess.run([str(BIN / "gradehub"), *args, "--course-root", str(hub.root)], env=hub_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"gradehub {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _shot(page, shots, name, readme_name=None, full_page=False):
    page.screenshot(path=str(shots / name), full_page=full_page)
    if readme_name and IMG is not None:
        page.screenshot(path=str(IMG / readme_name), full_page=full_page)


def _show_side_panel(page, panel_id):
    """Open a left-sidebar panel (clicking the tab of the panel already shown would close it)."""
    if not page.locator(f"#jp-left-stack #{panel_id}").is_visible():
        page.locator(f".jp-SideBar .lm-TabBar-tab[data-id='{panel_id}']").click()
    page.locator(f"#jp-left-stack #{panel_id}").wait_for(state="visible")


def _run_cell(page, cell) -> None:
    """Run one code cell with Shift+Enter and wait for its execution count."""
    cell.locator(".jp-InputPrompt").click()
    page.keyboard.press("Shift+Enter")
    prompt = cell.locator(".jp-InputPrompt", has_text=re.compile(r"\[\d+\]"))
    try:
        prompt.wait_for(timeout=90_000)
    except Exception:  # noqa: BLE001 - a keypress lost while the kernel was still connecting
        cell.locator(".jp-InputPrompt").click()
        page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run Selected Cell")).first.click()
        prompt.wait_for(timeout=SLOW)


def _type_into_cell(page, cell, text):
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    for i, line in enumerate(text.split("\n")):
        if i:
            page.keyboard.press("Enter")
        page.keyboard.type(line)


def test_the_whole_loop_student_instructor_tutor_and_back(hub, browser, tmp_path):
    shots = tmp_path
    inbound = hub.root / "exchange" / "nat3008" / "inbound"
    # ------------------------------------------------------------------ 1. the student
    student = browser.new_context(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    student.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    student.on("weberror", lambda e: errors.append(f"uncaught: {e.error}"))
    page = student.new_page()
    page.set_default_timeout(SLOW)
    try:
        _login(page, hub, "alice")
        page.wait_for_url(re.compile(r".*/user/alice/lab.*"), timeout=SLOW)
        # the Assignment List is in the left sidebar, open, without the Nbgrader menu
        panel = page.locator("#jp-left-stack #nbgrader-assignment-list")
        panel.wait_for(state="visible")
        released = panel.locator("#released_assignments_list > .list_item", has_text="week01")
        deadline = released.locator(".gradehub-deadline")
        deadline.wait_for()
        assert re.search(r"due .*past the deadline: submitting now costs 10 % of the points", deadline.inner_text())
        _shot(page, shots, "1-lab.png")

        # Fetch: the file browser lists the sheet at once (refreshed, not at its next poll)
        with page.expect_request(lambda r: r.method == "GET" and re.search(r"/api/contents\?", r.url),
                                 timeout=20_000):
            released.get_by_role("button", name="Fetch").click()
        fetched = panel.locator("#fetched_assignments_list > .list_item", has_text="week01")
        fetched.wait_for()
        _show_side_panel(page, "filebrowser")
        page.locator(".jp-DirListing-item", has_text="week01").first.wait_for(timeout=5_000)
        _show_side_panel(page, "nbgrader-assignment-list")

        # open the notebook from the fetched sheet's notebook list
        fetched.locator("a.assignment-notebooks-link").click()
        fetched.locator(".nested_list_item a", has_text="week01").first.click()
        notebook = page.locator(".jp-NotebookPanel").last
        notebook.wait_for(state="visible")
        page.locator(".jp-StatusBar-Item", has_text=re.compile(r"Python 3.*Idle")).first.wait_for(timeout=SLOW)
        # the locked variant cell first (alice's own data, written at fetch), then the data cell
        variant = notebook.locator(".jp-CodeCell").first
        assert "VARIANT_SEED" in variant.inner_text()
        _run_cell(page, variant)
        data = notebook.locator(".jp-CodeCell").nth(1)
        _run_cell(page, data)
        assert data.locator(".jp-OutputArea-output", has_text="decay times").count() > 0
        # answer Part 2 (code) and the written question
        _type_into_cell(page, notebook.locator(".jp-CodeCell", has_text="def mle_tau(t):"), MLE)
        written = notebook.locator(".jp-MarkdownCell", has_text="YOUR ANSWER HERE")
        written.dblclick()
        _type_into_cell(page, written, "**Your answer:** " + ANSWER)
        page.keyboard.press("Shift+Enter")
        page.keyboard.press("Control+s")
        page.locator(".jp-mod-dirty").first.wait_for(state="detached")
        _shot(page, shots, "2-notebook.png")

        # Submit after the deadline: asked first, with the penalty; Cancel submits nothing
        _show_side_panel(page, "nbgrader-assignment-list")
        submit = fetched.locator(":scope > .col-md-12").get_by_role("button", name="Submit")
        submit.click()
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for()
        text = dialog.inner_text()
        assert "Submit week01 after the deadline?" in text
        assert re.search(r"Submitting now is 3 h late", text) and "Late penalty: 10 % of the points" in text
        _shot(page, shots, "3-late-dialog.png")
        dialog.get_by_role("button", name="Cancel").click()
        dialog.wait_for(state="detached")
        assert not inbound.exists() or not list(inbound.iterdir())
        submit.click()
        dialog.get_by_role("button", name="Submit late").click()
        submitted = panel.locator("#submitted_assignments_list")
        submitted.get_by_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")).first.wait_for(timeout=SLOW)
        submitted.locator(".gradehub-deadline", has_text="due").wait_for()

        # reloaded, the list is back in the sidebar
        page.reload()
        panel.wait_for(state="visible")
        panel.locator("#submitted_assignments_list > .list_item", has_text="week01").wait_for()
    except Exception:
        page.screenshot(path=str(shots / "student-failure.png"))
        print(f"screenshots in {shots}\n{hub.log(60)}")
        raise
    assert [p.name.split("+")[:2] for p in inbound.iterdir()] == [["alice", "week01"]]

    # ------------------------------------------------------------------ 2. the instructor
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    staff = ctx.new_page()
    staff.set_default_timeout(SLOW)
    try:
        _login(staff, hub, "demo-instructor", next_url="/hub/home")
        staff.wait_for_url(re.compile(r".*/hub/home.*"))
        services = staff.locator("a", has_text="Services")
        if services.count():
            services.first.click()
        staff.locator("a[href*='services/formgrader']").first.click()
        staff.wait_for_url(re.compile(r".*/services/formgrader/.*"))
        row = staff.locator("tr", has_text="week01").first
        row.wait_for()
        assert staff.locator("text=Manage Assignments").count() > 0
        row.locator("a[title*='Collect'], a:has-text('Collect'), button:has-text('Collect'), "
                    "a:has(span.glyphicon-cloud-download)").first.click()
        dialog_ok = staff.locator(".modal-footer button", has_text=re.compile("OK|Close"))
        dialog_ok.first.wait_for()
        dialog_ok.first.click()
        staff.goto(hub.url + "services/formgrader/formgrader/manage_submissions/week01")
        staff.locator("tr", has_text="alice").first.wait_for()
        _shot(staff, shots, "4-formgrader.png")
    except Exception:
        staff.screenshot(path=str(shots / "instructor-failure.png"))
        print(f"screenshots in {shots}\n{hub.log(60)}")
        raise
    finally:
        ctx.close()
    assert (hub.root / "submitted" / "alice" / "week01" / "week01.ipynb").is_file()
    # the course's own sheet, trusted here: the local sandbox is enough (Docker: test_redteam & co.)
    _gradehub(hub, "autograde", "week01", "--sandbox", "local")
    _gradehub(hub, "feedback", "week01", "--release")

    # ------------------------------------------------------------------ 3. the tutor
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    tutor = ctx.new_page()
    tutor.set_default_timeout(SLOW)
    try:
        _login(tutor, hub, "tina", next_url="/services/grading/")
        tutor.wait_for_url(re.compile(r".*/services/grading/.*"))
        tutor.goto(hub.url + "services/grading/a/week01/q/week01/coverage_vs_credible")
        card = tutor.locator("#card-alice")
        assert ANSWER in card.inner_text()
        card.locator("input[name=points]").fill("2")
        card.locator("textarea[name=comment]").fill(COMMENT)
        card.locator("button[type=submit]").click()
        tutor.wait_for_load_state()
        tutor.locator("#card-alice .badge.done").wait_for()
    except Exception:
        tutor.screenshot(path=str(shots / "tutor-failure.png"))
        print(f"screenshots in {shots}\n{hub.log(60)}")
        raise
    finally:
        ctx.close()
    _gradehub(hub, "grades", "release", "week01")

    # ------------------------------------------------------------------ 5. the student again
    try:
        panel.locator("#refresh_assignments_list").click()
        mine = panel.locator("#submitted_assignments_list > .list_item", has_text="week01")
        mine.get_by_role("button", name="Fetch Feedback").click()
        view = panel.locator("#submitted_assignments_list a", has_text="view feedback")
        view.first.click()
        html = page.locator(".jp-DirListing-item", has_text="week01.html").first
        html.dblclick()
        viewer = page.frame_locator(".jp-HTMLViewer iframe")
        body = viewer.locator("body")
        body.wait_for()
        feedback = body.inner_text()
        assert "mle" in feedback and COMMENT in feedback
        _shot(page, shots, "5-feedback.png", "student-feedback.png")

        # the grades page, from the list's toolbar
        _show_side_panel(page, "nbgrader-assignment-list")
        with student.expect_page() as opened:
            panel.get_by_role("button", name="Grades and feedback").click()
        grades = opened.value
        grades.set_default_timeout(SLOW)
        grades.wait_for_url(re.compile(r".*/services/grades/$"))
        week = grades.locator("#week-week01")
        week.wait_for()
        # 10 % of the sheet's points (the week's "score / max" on the page)
        max_points = float(re.search(r"\d+(?:\.\d+)? / (\d+(?:\.\d+)?)", week.inner_text()).group(1))
        penalty = f"{0.1 * max_points:.1f}"
        assert re.search(rf"submitted \d+(\.\d+)? h late: −{re.escape(penalty)} points", week.inner_text())
        tasks = grades.locator("#tasks-week01 + table").inner_text()
        assert "coverage_vs_credible" in tasks and COMMENT in tasks and f"late penalty\t−{penalty}" in tasks
        total = re.search(rf"total\t(\d+(?:\.\d+)?)\t{max_points:g}", tasks)
        assert total and float(total.group(1)) == pytest.approx(4 - 0.1 * max_points, abs=0.01)  # mle 2 + tutor 2 − 10 %
        assert "points in the weeks whose grades are released" in grades.inner_text("#total")
        _shot(grades, shots, "6-grades.png", "student-grades.png", full_page=True)
        # another student's page: 403 (a request, so that the refusal is not a console error)
        other = grades.request.get(hub.url + "services/grades/s/bob")
        assert other.status == 403
        grades.close()
    except Exception:
        page.screenshot(path=str(shots / "student-feedback-failure.png"))
        print(f"screenshots in {shots}\n{hub.log(60)}")
        raise
    finally:
        student.close()
    assert errors == [], errors
