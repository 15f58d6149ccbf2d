"""Hostile content in a submission runs no script in any staff page (issue 13), in headless Chromium.

A student submits week01 through the hub's exchange with 16 payloads in it (markdown and outputs:
script, img onerror, svg onload, iframe srcdoc, object/embed, ``javascript:`` links, meta
refresh, CSS, ``display(HTML)``, ``display(Javascript)``, an SVG output, a raw HTML output, a
markdown attachment, a raw cell, a form, a plain beacon); the instructor collects and autogrades
it (the local sandbox), then opens it in the formgrader (submission list, manual grading list,
the submission's grading page, gradehub's feedback from the *Generate Feedback* action, its
preview), and the group's tutor opens it in the grading service. Every payload calls
``alert`` and requests a loopback listener of the test: no dialog may open, the listener must
see no request, and no hub API token may be created. Every page answers with a
Content-Security-Policy; the formgrader's allows no inline script, and MathJax (served by the
formgrader itself) renders a formula with no policy violation.

Needs Debian's chromium and the Python package playwright (never ``playwright install``).
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import sqlite3
import subprocess
import threading

import nbformat
import pytest

from hubtools import (BIN, BROWSER_ARGS, CHROMIUM, Hub, api_token, browser_missing, free_port, hub_available, hub_env,
                      login, make_course)

COURSE_ID = "nat3008"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
_missing = hub_available()
if _missing:
    pytestmark.append(pytest.mark.skip(reason=_missing))
if _no_browser := browser_missing():
    pytestmark.append(pytest.mark.skip(reason=_no_browser))


# --------------------------------------------------------------------------- the attacker


class Attacker:
    """A loopback HTTP listener: every request that reaches it is a payload that got out."""

    def __init__(self):
        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"pwned")

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def payload_markdown(att: str) -> str:
    return f"""**Your answer:** the estimate is $\\hat\\tau = \\bar t$ and its error $\\sigma^2 = \\tau^2/n$.

<script>alert(1); fetch("{att}/p1")</script>
<img src=x onerror="alert(2); fetch('{att}/p2')">
<svg onload="alert(3); fetch('{att}/p3')"><circle r="1"/></svg>
<iframe srcdoc="<script>parent.alert(4); fetch('{att}/p4')</script>"></iframe>
<object data="{att}/p5"></object><embed src="{att}/p5b" type="text/html">

[a javascript link](javascript:alert(6)) <a href="javascript:alert(6)">another</a>
<meta http-equiv="refresh" content="0;url={att}/p7">
<style>body {{ background: url({att}/p8) }} @import url({att}/p8b);</style>
<div style="background-image: url({att}/p8c)">styled</div>
<img src="{att}/p15"> <form action="{att}/p16"><button>go</button></form>
"""


def payload_code(att: str) -> str:
    return f"""{{original}}

from IPython.display import HTML, SVG, Javascript, display
display(HTML('<img src=x onerror="alert(9); fetch(\\'{att}/p9\\')"><script>alert(9)</script><b>html output</b>'))
display(Javascript('alert(10); fetch("{att}/p10")'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" onload="alert(11)">'
            '<script>alert(11); fetch("{att}/p11")</script><rect width="20" height="20"/></svg>'))
display({{"text/html": "<iframe src='{att}/p12'></iframe><img src=x onerror=alert(12)>", "text/plain": "raw"}}, raw=True)
print("<script>alert(12)</script> printed")
"""


def hostile_submission(root, att: str) -> dict:
    nb = nbformat.read(root / "release" / "week01" / "week01.ipynb", as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "coverage_vs_credible":
            cell.source = payload_markdown(att)
        elif gid == "nll":
            cell.source = payload_code(att).replace("{original}", cell.source)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(13)"><script>alert(13); fetch("{att}/p13")'
           '</script></svg>')
    extra = nbformat.v4.new_markdown_cell("A figure: ![figure](attachment:figure.svg)")
    extra.attachments = {"figure.svg": {"image/svg+xml": base64.b64encode(svg.encode()).decode()}}
    raw = nbformat.v4.new_raw_cell(f"<script>alert(14); fetch('{att}/p14')</script>",
                                   metadata={"raw_mimetype": "text/html"})
    nb.cells[1:1] = [extra, raw]
    return json.loads(nbformat.writes(nb))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def attacker():
    a = Attacker()
    yield a
    a.close()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("staffxss") / "course", sheets=("week01",))
    hub = Hub(root, free_port(), env={"GRADEHUB_HUB__CULLER__ENABLED": "false"})
    try:
        hub.wait_ready()
        yield hub
    finally:
        hub.stop()


def _user_tokens(hub) -> set:
    """Hub API tokens that are not OAuth tokens of a service or server (what an attack creates)."""
    with sqlite3.connect(hub.state / "jupyterhub.sqlite") as db:
        rows = db.execute("SELECT id, client_id FROM api_tokens").fetchall()
    return {i for i, client in rows if not (client or "").startswith(("service-", "jupyterhub-user-"))}


@pytest.fixture(scope="module")
def graded(hub, attacker):
    """alice's hostile week01: submitted through the exchange, collected, autograded."""
    import requests
    s = login(hub.url, "alice", hub.passwords()["alice"])
    token = api_token(s, hub.url, "alice")
    nb = hostile_submission(hub.root, attacker.url)
    files = {"week01.ipynb": base64.b64encode(json.dumps(nb).encode()).decode()}
    r = requests.post(hub.url + "services/gradehub-exchange/api/assignments/week01/submissions",
                      headers={"Authorization": f"token {token}"}, json={"files": files}, timeout=120)
    assert r.status_code in (200, 201), r.text
    env, root = hub_env(), str(hub.root)
    for cmd in (["collect", "week01"], ["autograde", "week01", "--sandbox", "local", "--student", "alice"]):
        done = subprocess.run([str(BIN / "gradehub"), *cmd, "--course-root", root], env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    executed = (hub.root / "autograded" / "alice" / "week01" / "week01.ipynb").read_text()
    assert "html output" in executed and "alert(10)" in executed     # the outputs are really there
    from gradehub.course import load_course
    from gradehub.gradebook import open_gradebook
    with open_gradebook(load_course(hub.root)) as gb:
        submission_id = gb.find_submission_notebook("week01", "week01", "alice").id
    return {"submission_id": submission_id, "tokens": _user_tokens(hub)}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        yield b
        b.close()


class Watch:
    """One staff member's browser: dialogs, requests elsewhere, CSP reports on the console."""

    def __init__(self, browser, hub, user, attacker):
        self.context = browser.new_context(viewport={"width": 1300, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(120_000)
        self.dialogs: list[str] = []
        self.outside: list[str] = []
        self.violations: list[str] = []
        self.console: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.context.on("request", lambda r: r.url.startswith(attacker.url) and self.outside.append(r.url))
        self.page.on("console", lambda m: "Content Security Policy" in m.text and self.violations.append(m.text))
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.goto(hub.url + "hub/login?next=%2Fhub%2Fhome")
        self.page.fill("#username_input", user)
        self.page.fill("#password_input", hub.passwords()[user])
        self.page.click("#login_submit")
        self.page.wait_for_url(re.compile(r".*/hub/home$"))

    def visit(self, url: str):
        response = self.page.goto(url)
        self.page.wait_for_load_state("load")
        return response

    def settle(self, ms: int = 1500):
        self.page.wait_for_timeout(ms)


def _csp(response) -> str:
    return response.headers.get("content-security-policy", "")


# --------------------------------------------------------------------------- the test


def test_hostile_submission_runs_nothing_in_staff_pages(hub, attacker, graded, browser, tmp_path):
    fg = hub.url + "services/formgrader/formgrader/"
    sid = graded["submission_id"]

    # ------------------------------------------------------------------ the instructor, formgrader
    staff = Watch(browser, hub, "demo-instructor", attacker)
    page = staff.page
    try:
        home = staff.visit(hub.url + "hub/home")
        hub_csp = _csp(home)
        assert "object-src 'none'" in hub_csp and "frame-ancestors 'self'" in hub_csp, hub_csp

        staff.visit(fg + "manage_submissions/week01")
        page.locator("tr", has_text="alice").first.wait_for()
        staff.visit(fg + "gradebook/week01/week01")
        page.locator("tr", has_text="alice").first.wait_for()

        response = staff.visit(fg + f"submissions/{sid}/")
        csp = _csp(response)
        script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
        assert "default-src 'none'" in csp and "object-src 'none'" in csp and "base-uri 'none'" in csp, csp
        assert "'unsafe-inline'" not in script_src and "'self'" not in script_src, csp
        assert "/services/formgrader/formgrader/static/" in script_src, csp
        page.locator("#notebook-container").first.wait_for()
        assert "html output" in page.locator("#notebook-container").first.inner_text()      # sanitized, still shown
        # MathJax from the formgrader itself: the answer's formula is typeset
        page.locator("#notebook-container .MathJax, #notebook-container .MathJax_CHTML").first.wait_for()
        assert page.evaluate("() => typeof submission_id === 'string' && !!window.MathJax.Hub")
        assert page.locator("a[href^='javascript:'], iframe, object, embed, form, meta[http-equiv]").count() == 0
        staff.settle(3000)
        page.screenshot(path=str(tmp_path / "formgrader-submission.png"), full_page=False)

        # Generate Feedback writes gradehub's feedback, which the formgrader previews
        staff.visit(fg + "manage_submissions/week01")
        page.locator("tr", has_text="alice").first.wait_for()
        post = ("(url) => new Promise(done => $.post(base_url + url).always("
                "(d, status) => done(typeof d === 'string' ? d : JSON.stringify(d))))")
        result = json.loads(page.evaluate(post, "/formgrader/api/assignment/week01/alice/generate_feedback"))
        assert result["success"], result
        feedback = hub.root / "feedback" / "alice" / "week01"
        assert sorted(p.name for p in feedback.glob("*.html")) == ["week01.html"]
        text = (feedback / "week01.html").read_text()
        assert "BEGIN HIDDEN TESTS" not in text
        refused = json.loads(page.evaluate(post, "/formgrader/api/submission/week01/alice/autograde"))
        assert not refused["success"] and "gradehub autograde" in refused["error"], refused

        response = staff.visit(hub.url + "services/formgrader/files/feedback/alice/week01/week01.html")
        assert "default-src 'none'" in _csp(response)
        staff.settle()
        page.screenshot(path=str(tmp_path / "feedback-preview.png"))
    except Exception:
        page.screenshot(path=str(tmp_path / "instructor-failure.png"))
        print(f"screenshots in {tmp_path}\n{hub.log(60)}\nconsole:\n" + "\n".join(staff.console[-40:]))
        raise
    finally:
        staff.context.close()

    # ------------------------------------------------------------------ the tutor, grading service
    tutor = Watch(browser, hub, "tina", attacker)
    try:
        for path in ("a/week01/q/week01/coverage_vs_credible", "a/week01/s/alice"):
            response = tutor.visit(hub.url + "services/grading/" + path)
            assert response.ok, (path, response.status)
            assert "default-src 'none'" in _csp(response), _csp(response)
            assert "alice" in tutor.page.content().lower()
        tutor.settle()
    finally:
        tutor.context.close()

    assert staff.dialogs == [] and tutor.dialogs == [], (staff.dialogs, tutor.dialogs)
    assert staff.outside == [] and tutor.outside == [], (staff.outside, tutor.outside)
    assert attacker.hits == [], attacker.hits
    # no payload left to block, and nothing of ours blocked (MathJax 2 probes fonts with a harmless
    # @font-face of about:blank, which the policy refuses)
    ours = [v for v in staff.violations if "font 'about:blank'" not in v]
    assert ours == [], ours
    assert _user_tokens(hub) == graded["tokens"], "a hub API token was created while staff browsed"
