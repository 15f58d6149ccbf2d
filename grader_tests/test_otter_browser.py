"""In headless Chromium, through `gradehub hub`: a student of an otter assignment runs
``grader.check("q1")`` in JupyterLab and sees otter's own pass/fail output (public tests only).

The student's copy of otter01's release is placed in her home through the Jupyter server's
contents API (as fetching it would), so the test depends on JupyterLab's core notebook UI only,
not on gradehub's lab extension or its Assignments panel. Question 1 is answered, question 2
left blank: otter says q1 passed and shows q2's failing public case.

Needs Debian's chromium and the Python package playwright (the system browser is used), and
otter-grader in the servers' Python (`make setup` installs the `otter` extra).
"""

from __future__ import annotations

import re

import nbformat
import pytest

from conftest import REPO
from hubtools import (BROWSER_ARGS, CHROMIUM, Hub, api_token, browser_missing, free_port, hub_available, login,
                      make_course, start_server)

SLOW = 240_000  # ms: a first JupyterLab load on a busy 2-core machine

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
_missing = hub_available()
if _missing:
    pytestmark.append(pytest.mark.skip(reason=_missing))
if _no_browser := browser_missing():
    pytestmark.append(pytest.mark.skip(reason=_no_browser))

ANSWER_Q1 = "def kinetic_energy(m, v):\n    return 0.5 * m * v**2"


def _student_copy() -> dict:
    nb = nbformat.read(REPO / "release" / "otter01" / "otter01.ipynb", as_version=4)
    checks = [i for i, c in enumerate(nb.cells) if c.source.strip() == 'grader.check("q1")']
    nb.cells[checks[0] - 1].source = ANSWER_Q1
    return nbformat.writes(nb)


def test_a_student_runs_grader_check_and_sees_otter_s_output(tmp_path):
    import json

    import requests
    from playwright.sync_api import sync_playwright

    root = make_course(tmp_path / "course", sheets=("otter01",))
    hub = Hub(root, free_port(), env={"GRADEHUB_HUB__CULLER__ENABLED": "false"})
    try:
        hub.wait_ready()
        password = hub.passwords()["alice"]
        token = api_token(login(hub.url, "alice", password), hub.url, "alice")
        start_server(hub.url, "alice", token)
        api = hub.url + "user/alice/api/contents/otter01"
        headers = {"Authorization": f"token {token}"}
        r = requests.put(api, json={"type": "directory"}, headers=headers, timeout=60)
        assert r.status_code in (200, 201), r.text
        r = requests.put(api + "/otter01.ipynb", headers=headers, timeout=60,
                         json={"type": "notebook", "format": "json", "content": json.loads(_student_copy())})
        assert r.status_code in (200, 201), r.text

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.set_default_timeout(SLOW)
            try:
                page.goto(hub.url + "hub/login")
                page.fill("#username_input", "alice")
                page.fill("#password_input", password)
                page.click("#login_submit")
                page.wait_for_url(re.compile(r".*/user/alice/.*"), timeout=SLOW)
                page.goto(hub.url + "user/alice/lab/tree/otter01/otter01.ipynb")
                notebook = page.locator(".jp-NotebookPanel").last
                notebook.wait_for(state="visible")
                page.locator(".jp-StatusBar-Item", has_text=re.compile(r"Python 3.*Idle")).first.wait_for()
                # JupyterLab's own Run menu: Run All Cells
                notebook.locator(".jp-CodeCell").first.locator(".jp-InputPrompt").click()
                page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
                page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells")).first.click()
                passed = notebook.locator(".jp-OutputArea-output", has_text=re.compile(r"q1\s*passed!"))
                passed.first.wait_for(timeout=SLOW)
                failed = notebook.locator(".jp-OutputArea-output", has_text=re.compile(r"q2\s*results:"))
                failed.first.wait_for(timeout=SLOW)
                page.screenshot(path=str(tmp_path / "otter-check.png"))
                text = failed.first.inner_text()
                # otter's report of the failing public case: its code and what it expected
                assert "projectile_range(10.0, 0.0) == 0.0" in text, text
                # public tests only: no hidden case (nor its expected value) reached the student
                body = notebook.inner_text()
                assert "8.827985767362492" not in body and "61.72839506172839" not in body
            except Exception:
                page.screenshot(path=str(tmp_path / "otter-failure.png"))
                print(f"screenshots in {tmp_path}\n{hub.log(60)}")
                raise
            finally:
                browser.close()
    finally:
        hub.stop()
