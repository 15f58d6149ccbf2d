"""In headless Chromium, through `gradehub hub` on loopback: what a student and an instructor do.

A student logs in, opens the Assignments panel, fetches week01, opens the notebook, runs a
cell and submits. An instructor opens the formgrader from the hub's home page (it renders:
the assignment table is filled by the formgrader's own API calls), collects, and sees the
student's submission. Screenshots land in the test's temp folder.

Needs Debian's chromium (`apt-get install chromium chromium-driver`) and the Python package
playwright (never `playwright install`: the system browser is used).
"""

from __future__ import annotations

import re

import pytest

from hubtools import BROWSER_ARGS, CHROMIUM, Hub, browser_missing, free_port, hub_available, make_course

SLOW = 240_000   # ms: a first JupyterLab load on a busy 2-core machine

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
_missing = hub_available()
if _missing:
    pytestmark.append(pytest.mark.skip(reason=_missing))
if _no_browser := browser_missing():
    pytestmark.append(pytest.mark.skip(reason=_no_browser))


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("hubbrowser") / "course")
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


def test_student_fetches_runs_and_submits_then_instructor_sees_it(hub, browser, tmp_path):
    shots = tmp_path
    # ------------------------------------------------------------------ the student
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(SLOW)
    try:
        _login(page, hub, "alice")
        page.wait_for_url(re.compile(r".*/user/alice/lab.*"), timeout=SLOW)
        page.wait_for_selector("#jp-main-dock-panel", state="visible")
        page.wait_for_selector(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
        page.screenshot(path=str(shots / "1-lab.png"))

        # the Nbgrader menu offers the assignment list, and neither the formgrader nor the course list
        page.click(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
        menu = page.locator(".lm-Menu").last
        menu.wait_for(state="visible")
        labels = [t.strip() for t in menu.locator(".lm-Menu-itemLabel").all_inner_texts() if t.strip()]
        assert "Assignment List" in labels, labels
        assert "Formgrader" not in labels and "Course List" not in labels, labels
        menu.locator(".lm-Menu-itemLabel:text-is('Assignment List')").click()

        panel = page.locator("#nbgrader-assignment-list")
        panel.wait_for(state="visible")
        released = panel.locator("#released_assignments_list")
        released.get_by_text("week01", exact=True).wait_for()
        page.screenshot(path=str(shots / "2-assignments.png"))
        row = released.locator(".list_item", has_text="week01")
        row.get_by_role("button", name="Fetch").click()

        fetched = panel.locator("#fetched_assignments_list")
        expander = fetched.locator("a.assignment-notebooks-link", has_text="week01")
        expander.wait_for()
        # open the notebook from the fetched assignment's notebook list
        expander.click()
        notebook_link = fetched.locator("#nbgrader-nat3008-week01 a", has_text="week01").first
        notebook_link.wait_for(state="visible")
        notebook_link.click()
        notebook = page.locator(".jp-NotebookPanel").last
        notebook.wait_for(state="visible")
        # the kernel is up when the status bar says so
        page.locator(".jp-StatusBar-Item", has_text=re.compile(r"Python 3.*Idle")).first.wait_for(timeout=SLOW)
        # run the first code cell
        first = notebook.locator(".jp-CodeCell").first
        first.locator(".jp-InputPrompt").click()
        page.keyboard.press("Shift+Enter")
        prompt = first.locator(".jp-InputPrompt", has_text=re.compile(r"\[\d+\]"))
        try:
            prompt.wait_for(timeout=90_000)
        except Exception:  # noqa: BLE001 - a keypress lost while the kernel was still connecting
            first.locator(".jp-InputPrompt").click()
            page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run Selected Cell")).first.click()
            prompt.wait_for(timeout=SLOW)
        assert first.locator(".jp-OutputArea-output", has_text="decay times").count() > 0
        page.screenshot(path=str(shots / "3-notebook-ran.png"))
        page.keyboard.press("Control+s")

        # back to the Assignments tab, submit
        page.locator(".lm-TabBar-tab", has_text="Assignments").first.click()
        panel.locator("#fetched_assignments_list .list_item", has_text="week01") \
            .get_by_role("button", name="Submit").click()
        submitted = panel.locator("#submitted_assignments_list")
        submitted.get_by_text("week01", exact=True).first.wait_for(timeout=SLOW)
        submitted.get_by_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")).first.wait_for(timeout=SLOW)
        page.screenshot(path=str(shots / "4-submitted.png"))
    except Exception:
        page.screenshot(path=str(shots / "student-failure.png"))
        print(f"screenshots in {shots}\n{hub.log(60)}")
        raise
    finally:
        ctx.close()

    inbound = hub.root / "exchange" / "nat3008" / "inbound"
    assert [p.name.split("+")[:2] for p in inbound.iterdir()] == [["alice", "week01"]]

    # ------------------------------------------------------------------ the instructor
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(SLOW)
    try:
        _login(page, hub, "demo-instructor", next_url="/hub/home")
        page.wait_for_url(re.compile(r".*/hub/home.*"))
        services = page.locator("a", has_text="Services")
        if services.count():
            services.first.click()
        page.locator("a[href*='services/formgrader']").first.click()
        page.wait_for_url(re.compile(r".*/services/formgrader/.*"))
        # rendered: the table is filled by GET .../formgrader/api/assignments (with the XSRF header)
        row = page.locator("tr", has_text="week01").first
        row.wait_for()
        page.screenshot(path=str(shots / "5-formgrader.png"))
        assert page.locator("text=Manage Assignments").count() > 0
        row.locator("a[title*='Collect'], a:has-text('Collect'), button:has-text('Collect'), "
                    "a:has(span.glyphicon-cloud-download)").first.click()
        dialog_ok = page.locator(".modal-footer button", has_text=re.compile("OK|Close"))
        dialog_ok.first.wait_for()
        dialog_ok.first.click()
        page.goto(hub.url + "services/formgrader/formgrader/manage_submissions/week01")
        page.locator("tr", has_text="alice").first.wait_for()
        page.screenshot(path=str(shots / "6-submissions.png"))
    except Exception:
        page.screenshot(path=str(shots / "instructor-failure.png"))
        print(f"screenshots in {shots}\n{hub.log(60)}")
        raise
    finally:
        ctx.close()
    assert (hub.root / "submitted" / "alice" / "week01" / "week01.ipynb").is_file()
