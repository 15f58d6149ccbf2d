"""nbgrader's formgrader, made safe to open on a student's submission (the hub's formgrader service).

nbgrader 0.9 renders a submitted notebook as it is: a student's ``<img onerror=…>`` in a
markdown cell, a ``display(HTML(...))`` or ``display(Javascript(...))`` output runs in the
instructor's browser, on the hub's origin. Here, in the formgrader's own process
(``python -m gradehub.hub.singleuser --formgrader`` calls :func:`install` before the server starts):

1. **Sanitized rendering.** The formgrader's HTML exporter is :class:`SafeFormgradeExporter`:
   every notebook is first reduced to plain data (:func:`sanitize_notebook`: known output types
   only, no JavaScript or widget outputs, HTML and SVG outputs and markdown run through the nh3
   allow-list, cell metadata cut to nbgrader's validated keys, raw cells shown as text), and the
   rendered page is checked once more (:func:`check_page`): a script that is not the
   formgrader's own, an event handler attribute or a ``javascript:`` URL refuses the page.
2. **No inline script in the formgrader's templates.** The templates are copied and rewritten:
   the page variables are ``data-`` attributes read by a static script, MathJax is the local
   copy of ``jupyter_server_mathjax`` (formulas render offline, TeX's ``Safe`` extension on).
3. **A strict Content-Security-Policy** on every response of this server
   (:func:`content_security_policy`): scripts only from the formgrader's own static folders
   (by path: the hub's origin also serves every student's own server), no inline script, no
   eval, nothing from another origin, no plugins, no frames. Files of a submission are served
   sandboxed, images inline and everything else as a download.
4. **No leaky feedback.** *Generate Feedback* writes gradehub's feedback
   (:func:`gradehub.feedback.generate_feedback`: hidden tests only as passed/failed);
   *Release Feedback* regenerates it and gives it out through the exchange
   (:func:`gradehub.exchange.release_feedback`, as ``gradehub feedback --release``) and nothing
   else. The formgrader's *Autograde*
   button is refused: it would run a student's code unsandboxed next to the hub's secrets
   (``gradehub autograde`` grades in the sandbox).
5. **Scores after the late penalty.** nbgrader stores gradehub's penalty in its own column
   (:mod:`gradehub.gradebook.penalties`) but its formgrader lists the raw score; the API the
   formgrader's pages read gives the score after the penalty, as the student's grades page and
   the reports do, with the penalty beside it (:func:`patch_api_scores`).
"""

from __future__ import annotations

import asyncio
import copy
import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------- the sanitizer

SAFE_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
}
SAFE_ATTRIBUTES = {
    "*": {"class", "title", "lang", "dir"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start", "type"},
    "table": {"border"},
}
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*$", re.IGNORECASE)
_SAFE_LINK = re.compile(r"^(https?://|mailto:|#)", re.IGNORECASE)
_RELATIVE = re.compile(r"^(?![a-z][a-z0-9+.\-]*:)(?![/\\]{2})[^\\\s<>\"']*$", re.IGNORECASE)
_NUMBER = re.compile(r"^\d{1,5}(\.\d+)?(px|%)?$")
_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    value = value.strip()
    if attribute == "src":
        # an image from the page's own folder or inline data: never another origin (a beacon)
        return value if _DATA_IMAGE.match(value) or _RELATIVE.match(value) else None
    if attribute == "href":
        return value if _SAFE_LINK.match(value) or _RELATIVE.match(value) else None
    if attribute in ("width", "height", "colspan", "rowspan", "start", "border"):
        return value if _NUMBER.match(value) else None
    return value


def sanitize_html(fragment: str) -> str:
    """Untrusted HTML → HTML with no script, no event handler, no style, no request elsewhere."""
    import nh3

    return nh3.clean(
        fragment,
        tags=SAFE_TAGS,
        attributes=SAFE_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https", "mailto", "data"},
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        clean_content_tags={
            "script",
            "style",
            "noscript",
            "template",
            "iframe",
            "object",
            "embed",
            "svg",
            "math",
            "textarea",
            "title",
            "xmp",
            "noembed",
            "noframes",
            "plaintext",
        },
    )


# --------------------------------------------------------------------------- the notebook, as data

_TEXT_TYPES = ("text/plain", "text/markdown", "text/latex")
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")
_MAX_OUTPUT_CHARS = 2_000_000


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def _sanitize_data(data: Any) -> dict[str, str]:
    if not isinstance(data, dict):
        return {}
    out: dict[str, str] = {}
    for mime in _TEXT_TYPES:
        if mime in data:
            out[mime] = _text(data[mime])[:_MAX_OUTPUT_CHARS]
    for mime in _IMAGE_TYPES:
        value = _text(data.get(mime))
        if value and _BASE64.match(value) and len(value) <= 20 * _MAX_OUTPUT_CHARS:
            out[mime] = value
    pieces = []
    if "text/html" in data:
        pieces.append(sanitize_html(_text(data["text/html"])[:_MAX_OUTPUT_CHARS]))
    svg = _text(data.get("image/svg+xml"))
    if svg:
        # an SVG is shown as an image: a document loaded by <img> runs no script and loads nothing
        import base64

        encoded = base64.b64encode(svg.encode("utf-8", "replace")).decode("ascii")
        pieces.append(f'<img alt="SVG output" src="data:image/svg+xml;base64,{encoded}">')
    if pieces:
        out["text/html"] = "\n".join(pieces)
    return out


def _sanitize_output(output: Any) -> dict | None:
    if not isinstance(output, dict):
        return None
    kind = output.get("output_type")
    if kind == "stream":
        name = output.get("name") if output.get("name") in ("stdout", "stderr") else "stdout"
        return {"output_type": "stream", "name": name, "text": _text(output.get("text"))[:_MAX_OUTPUT_CHARS]}
    if kind == "error":
        tb = output.get("traceback")
        tb = [t for t in tb if isinstance(t, str)] if isinstance(tb, list) else []
        return {
            "output_type": "error",
            "ename": _text(output.get("ename"))[:1000],
            "evalue": _text(output.get("evalue"))[:10_000],
            "traceback": tb[:200],
        }
    if kind in ("display_data", "execute_result"):
        data = _sanitize_data(output.get("data"))
        if not data:
            return None
        out = {"output_type": kind, "data": data, "metadata": {}}
        if kind == "execute_result":
            count = output.get("execution_count")
            out["execution_count"] = count if isinstance(count, int) and not isinstance(count, bool) else None
        return out
    return None


def _nbgrader_metadata(meta: Any) -> dict:
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    if not isinstance(nbg, dict):
        return {}
    out: dict[str, Any] = {}
    for key in ("grade", "solution", "locked", "task"):
        if isinstance(nbg.get(key), bool):
            out[key] = nbg[key]
    grade_id = nbg.get("grade_id")
    if isinstance(grade_id, str) and _ID.match(grade_id):
        out["grade_id"] = grade_id
    elif out.get("grade") or out.get("solution") or out.get("task"):
        return {}  # a graded cell without a usable id: shown as a plain cell
    points = nbg.get("points")
    if isinstance(points, (int, float)) and not isinstance(points, bool):
        out["points"] = float(points)
    elif out.get("grade") or out.get("task"):
        out["points"] = 0.0
    for key in ("schema_version", "cell_type"):
        if isinstance(nbg.get(key), (int, str)) and _ID.match(str(nbg.get(key))):
            out[key] = nbg[key]
    return out


def sanitize_notebook(nb: Any) -> Any:
    """A copy of ``nb`` that holds only what the formgrader may render, each piece made safe.

    Markdown stays markdown (the exporter sanitizes what it renders to); raw cells become
    escaped text; code cells keep their source (highlighted as text) and known outputs.
    """
    import nbformat

    nb = copy.deepcopy(nb)
    cells = []
    for index, cell in enumerate(nb.get("cells") or []):
        if not isinstance(cell, dict):
            continue
        cell_type = cell.get("cell_type")
        meta = {}
        nbg = _nbgrader_metadata(cell.get("metadata"))
        if nbg:
            meta["nbgrader"] = nbg
        cell_id = cell.get("id")
        cell_id = cell_id if isinstance(cell_id, str) and _ID.match(cell_id) else f"cell-{index}"
        source = _text(cell.get("source"))
        if cell_type == "code":
            count = cell.get("execution_count")
            new = nbformat.v4.new_code_cell(
                source,
                id=cell_id,
                metadata=meta,
                execution_count=count if isinstance(count, int) and not isinstance(count, bool) else None,
            )
            new.outputs = [
                nbformat.from_dict(o) for o in map(_sanitize_output, cell.get("outputs") or []) if o is not None
            ]
        elif cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(source, id=cell_id, metadata=meta)
            attachments = {}
            raw_attachments = cell.get("attachments")
            for name, bundle in raw_attachments.items() if isinstance(raw_attachments, dict) else []:
                if isinstance(name, str) and _ID.match(name) and isinstance(bundle, dict):
                    images = {
                        m: v
                        for m, v in bundle.items()
                        if m in (*_IMAGE_TYPES, "image/svg+xml") and isinstance(v, str) and _BASE64.match(v)
                    }
                    if images:
                        attachments[name] = images
            if attachments:
                new.attachments = attachments
        else:  # raw (or unknown): shown as text, never passed through as HTML
            new = nbformat.v4.new_markdown_cell(f"<pre>{html.escape(source)}</pre>", id=cell_id, metadata=meta)
        cells.append(new)
    clean = nbformat.v4.new_notebook(cells=cells)
    clean.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    return clean


# --------------------------------------------------------------------------- the last check


class _PageCheck(HTMLParser):
    def __init__(self, allowed_script_prefix: str):
        super().__init__(convert_charrefs=True)
        self.prefix = allowed_script_prefix
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            if (
                name in ("href", "src", "action", "formaction", "data", "xlink:href")
                and value
                and re.match(r"^\s*(javascript|vbscript|data:text)", value, re.IGNORECASE)
            ):
                self.problems.append(f"<{tag} {name}={value[:20]!r}>")
        if tag == "script":
            src = dict(attrs).get("src") or ""
            if not src.startswith(self.prefix):
                self.problems.append(f"<script src={src[:60]!r}>")
        if tag in ("iframe", "object", "embed", "base", "meta", "frame", "frameset", "applet", "portal") and (
            tag != "meta" or any(n == "http-equiv" for n, _ in attrs)
        ):
            self.problems.append(f"<{tag}>")


def check_page(page: str, base_url: str) -> list[str]:
    """What in a rendered formgrader page could run script or leave (empty: nothing)."""
    checker = _PageCheck(base_url.rstrip("/") + "/")
    checker.feed(page)
    checker.close()
    return checker.problems


try:
    from nbconvert.exporters import HTMLExporter
    from nbconvert.exporters.html import contextfilter

    HAVE_NBCONVERT = True
except ImportError:  # the formgrader is not installed here
    HAVE_NBCONVERT = False

if HAVE_NBCONVERT:

    class SafeFormgradeExporter(HTMLExporter):
        """nbgrader's formgrade exporter on a sanitized copy; markdown sanitized after rendering."""

        @contextfilter
        def markdown2html(self, context, source):
            try:
                return sanitize_html(HTMLExporter.markdown2html(self, context, source))
            except Exception as exc:  # noqa: BLE001 - e.g. a missing attachment: the page still renders
                self.log.warning("formgrader: markdown shown as text (%s)", exc)
                return f"<pre>{html.escape(source)}</pre>"

        def from_notebook_node(self, nb, resources=None, **kw):
            page, resources = super().from_notebook_node(sanitize_notebook(nb), resources, **kw)
            problems = check_page(page, (resources or {}).get("base_url", "") or "/")
            if problems:
                self.log.error("formgrader: refused to show a page with %s", ", ".join(problems[:5]))
                page = (
                    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>refused</title></head><body>"
                    "<p>gradehub refused to show this submission: it holds content that could run script "
                    f"({html.escape(', '.join(problems[:5]))}). Open it as text.</p></body></html>"
                )
            return page, resources


# --------------------------------------------------------------------------- the policy

MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"


def content_security_policy(origin: str, base_url: str, *, formgrader_page: bool = True) -> str:
    """The formgrader server's policy. Scripts by path: other paths of the same origin (every
    student's own server, the course files) serve bytes a student wrote."""
    base = origin.rstrip("/") + "/" + base_url.strip("/") + "/"
    base = base.replace("//", "/").replace(":/", "://")
    scripts = [f"{base}formgrader/static/", f"{base}static/jupyter_server_mathjax/"]
    if not formgrader_page:
        # JupyterLab / Notebook of the formgrader server ("open live notebook"): their own bundles
        scripts += [f"{base}static/", f"{base}lab/extensions/", f"{base}lab/api/", "'unsafe-eval'"]
    return "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(scripts),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:" if not formgrader_page else "worker-src 'none'",
            "manifest-src 'self'",
            "frame-src 'self'" if not formgrader_page else "frame-src 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'self'",
        ]
    )


def _request_origin(handler) -> str:
    request = handler.request
    # configurable-http-proxy may send these empty or with a leading comma
    proto = next(
        (p.strip() for p in request.headers.get("X-Forwarded-Proto", "").split(",") if p.strip()), request.protocol
    )
    proto = proto if proto in ("http", "https") else "http"
    host = next((h.strip() for h in request.headers.get("X-Forwarded-Host", "").split(",") if h.strip()), request.host)
    if not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+", host or ""):
        host = "invalid.invalid"
    return f"{proto}://{host}"


SUBMISSION_FILE_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
_INLINE_FILE_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}


def _patch_csp() -> None:
    from jupyter_server.base.handlers import JupyterHandler

    def policy(self) -> str:
        base = self.settings.get("base_url", "/")
        path = self.request.path
        page = path.startswith(base.rstrip("/") + "/formgrader")
        return content_security_policy(_request_origin(self), base, formgrader_page=page)

    # jupyter_server reads the policy from this property on every response
    JupyterHandler.content_security_policy = property(policy)  # type: ignore[method-assign,assignment]


# --------------------------------------------------------------------------- templates and static files

VARS_JS = """\
// gradehub: the formgrader page's variables, from data- attributes (no inline script under the CSP)
(function () {
    var s = document.currentScript;
    for (var k in s.dataset) { window[k] = s.dataset[k]; }
    if (!window.gradehub_clicks) {     // onclick="f()" of nbgrader's templates: data-gradehub-onclick="f"
        window.gradehub_clicks = true;
        document.addEventListener('click', function (e) {
            var el = e.target.closest ? e.target.closest('[data-gradehub-onclick]') : null;
            var fn = el ? window[el.getAttribute('data-gradehub-onclick')] : null;
            if (typeof fn === 'function') { fn.call(el, e); }
        });
    }
})();
"""

FORMGRADE_JS = """\
// gradehub: what nbgrader's formgrade page ran inline, as a static file (no inline script under the CSP)
function toggle_name(on) {
  $(".name-shown").tooltip('hide');
  $(".name-hidden").tooltip('hide');
  if (on) {
    $(".name-shown").show();
    $(".name-hidden").hide();
  } else {
    $(".name-hidden").show();
    $(".name-shown").hide();
  }
}

$(document).ready(function() {
  $("[data-link]").each(function() {
    $(this).map(linkTo("notebook", $(this).data("link"))).removeAttr("data-link");
  });
  $('span.glyphicon.name-hidden').tooltip({title: "Show student name", placement: "bottom", trigger: "hover"});
  $('span.glyphicon.name-shown').tooltip({title: "Hide student name", placement: "bottom", trigger: "hover"});
  $('span.glyphicon.name-hidden').on('click', function () { toggle_name(true); });
  $('span.glyphicon.name-shown').on('click', function () { toggle_name(false); });
});
"""

MATHJAX_SETUP_JS = """\
// gradehub: MathJax 2 settings (nbconvert's, without its inline script), read when MathJax.js loads
window.MathJax = {
    TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
    tex2jax: {inlineMath: [['$', '$'], ["\\\\(", "\\\\)"]], displayMath: [['$$', '$$'], ["\\\\[", "\\\\]"]],
              processEscapes: true, processEnvironments: true},
    displayAlign: 'center',
    messageStyle: 'none',
    menuSettings: {zoom: "None"},
    // jupyter-server-mathjax ships the STIX-Web fonts only (no image fonts, no local fonts probed)
    "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
                 linebreaks: {automatic: true}}
};
"""

_VAR_BLOCK = re.compile(r'<script(?: type="text/javascript")?>\s*((?:var \w+ = "[^"\n]*";\s*)+)</script>')
_VAR_LINE = re.compile(r'var (\w+) = "([^"\n]*)";')


def _vars_script(block: re.Match, base: str) -> str:
    attrs = []
    for name, value in _VAR_LINE.findall(block.group(1)):
        value = re.sub(r"\{\{\s*(.+?)\s*\}\}", r"{{ (\1) | e }}", value)
        attrs.append(f'data-{name}="{value}"')
    return f'<script src="{base}/formgrader/static/js/gradehub_vars.js" {" ".join(attrs)}></script>'


def rewrite_template(name: str, text: str) -> str:
    """One formgrader template without inline script (page variables as data- attributes)."""
    base = "{{ resources.base_url }}" if name.startswith("formgrade/") else "{{ base_url }}"
    text = _VAR_BLOCK.sub(lambda m: _vars_script(m, base), text)
    if name == "formgrade/formgrade_macros.html.j2":
        text = re.sub(
            r'<script type="text/javascript">\s*function toggle_name.*?</script>',
            f'<script src="{base}/formgrader/static/js/gradehub_formgrade.js"></script>',
            text,
            flags=re.DOTALL,
        )
        text = re.sub(
            r'\s*<script type="text/javascript">\s*\$\(\'span\.glyphicon.*?</script>', "", text, flags=re.DOTALL
        )
        text = text.replace(' onclick="toggle_name(true);"', "").replace(' onclick="toggle_name(false);"', "")
    if name == "formgrade/index.html.j2":
        text = text.replace(
            "{{ mathjax() }}",
            f'<script src="{base}/formgrader/static/js/gradehub_mathjax.js"></script>\n'
            f'<script src="{base}/static/jupyter_server_mathjax/MathJax.js?config={MATHJAX_CONFIG}">'
            "</script>",
        )
    text = re.sub(r'\s[oO][nN][cC]lick="(\w+)\(\);?"', r' data-gradehub-onclick="\1"', text)
    return text


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
_HANDLER_ATTR = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


def patch_templates(folder: Path) -> Path:
    """A rewritten copy of the formgrader's templates; nbgrader renders from it."""
    from nbgrader.server_extensions.formgrader import handlers

    original = Path(handlers.template_path)
    target = folder / "formgrader-templates"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(original, target)
    left = []
    for path in sorted(target.rglob("*")):
        if path.suffix not in (".tpl", ".j2") or path.parent.name == "feedback":
            continue  # feedback/: nbgrader's feedback, which this formgrader never writes
        name = path.relative_to(target).as_posix()
        text = rewrite_template(name, path.read_text(encoding="utf-8"))
        path.write_text(text, encoding="utf-8")
        if _INLINE_SCRIPT.search(text) or _HANDLER_ATTR.search(text):
            left.append(name)
    if left:
        raise RuntimeError(
            f"gradehub.hub.formgrader: inline script left in {', '.join(left)} "
            "(a new nbgrader version? see gradehub/formgrader.py)"
        )
    handlers.template_path = str(target)
    return target


def add_static_files(static: Path) -> None:
    (static / "js" / "gradehub_vars.js").write_text(VARS_JS)
    (static / "js" / "gradehub_formgrade.js").write_text(FORMGRADE_JS)
    (static / "js" / "gradehub_mathjax.js").write_text(MATHJAX_SETUP_JS)


# --------------------------------------------------------------------------- handlers


def _handlers():
    from nbgrader.server_extensions.formgrader import apihandlers, handlers
    from nbgrader.server_extensions.formgrader.base import (
        BaseApiHandler,
        check_notebook_dir,
        check_xsrf,
    )
    from tornado import web

    class FeedbackHandler(BaseApiHandler):
        """Generate (and release) gradehub's feedback: hidden tests only as passed/failed."""

        release = False

        @web.authenticated
        @check_xsrf
        @check_notebook_dir
        async def post(self, assignment_id, student_id=None):
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(None, self._run, assignment_id, student_id)
            self.write(json.dumps(result))

        def _run(self, assignment_id: str, student_id: str | None) -> dict:
            students = [student_id] if student_id else None
            try:
                if self.release:
                    return release_gradehub_feedback(Path(self.coursedir.root), assignment_id, students, self.who())
                return generate_gradehub_feedback(Path(self.coursedir.root), assignment_id, students)
            except Exception as exc:  # noqa: BLE001 - shown in the formgrader's dialog
                return {"success": False, "error": f"{type(exc).__name__}: {exc}", "log": ""}

        def who(self) -> str:
            user = self.current_user
            name = user.get("name") if isinstance(user, dict) else getattr(user, "name", None)
            return str(name or "formgrader")

    class ReleaseFeedbackHandler(FeedbackHandler):
        release = True

    class RefuseAutogradeHandler(BaseApiHandler):
        @web.authenticated
        @check_xsrf
        @check_notebook_dir
        def post(self, *args):
            self.write(
                json.dumps(
                    {
                        "success": False,
                        "log": "",
                        "error": (
                            "The formgrader does not autograde here: nbgrader would run the student's code "
                            "unsandboxed on the hub's machine. Run `gradehub autograde ASSIGNMENT` (sandboxed)."
                        ),
                    }
                )
            )

    class SubmissionFilesHandler(handlers.SubmissionFilesHandler):
        """A submission's own files: images inline, everything else as a download, sandboxed."""

        @property
        def content_security_policy(self):
            return SUBMISSION_FILE_CSP

        def set_extra_headers(self, path):
            super().set_extra_headers(path)
            self.set_header("X-Content-Type-Options", "nosniff")
            if Path(path).suffix.lower() not in _INLINE_FILE_TYPES:
                self.set_header("Content-Disposition", "attachment")
                self.set_header("Content-Type", "application/octet-stream")

        def get_content_type(self):
            if Path(self.absolute_path or "").suffix.lower() in _INLINE_FILE_TYPES:
                return super().get_content_type()
            return "application/octet-stream"

    return {
        "generate": FeedbackHandler,
        "release": ReleaseFeedbackHandler,
        "autograde": RefuseAutogradeHandler,
        "files": SubmissionFilesHandler,
        "apihandlers": apihandlers,
        "handlers": handlers,
    }


def generate_gradehub_feedback(course_root: Path, assignment: str, students: list[str] | None) -> dict:
    """gradehub's feedback for the formgrader's buttons, in nbgrader's answer format.

    Each student's feedback folder then holds only gradehub's page (anything else there, such as
    nbgrader's own feedback, is removed: release_feedback would publish it), with the
    submission's ``timestamp.txt`` and ``submission_secret.txt`` that nbgrader's release needs.
    """
    from ..course import load_course
    from ..feedback import generate_feedback

    course = load_course(course_root)
    run = generate_feedback(course, assignment, students)
    lines = [f"wrote {p.relative_to(course.root)}" for p in run.written]
    for target in run.written:
        student = target.parent.parent.name
        for other in target.parent.iterdir():
            if other.is_file() and other != target and other.name not in ("timestamp.txt", "submission_secret.txt"):
                other.unlink()
                lines.append(f"removed {other.relative_to(course.root)} (not gradehub's feedback)")
        for name in ("timestamp.txt", "submission_secret.txt"):
            for source in (
                course.autograded_dir(student, assignment) / name,
                course.root / "submitted" / student / assignment / name,
            ):
                if source.is_file():
                    shutil.copyfile(source, target.parent / name)
                    break
    for student, why in run.skipped:
        lines.append(f"skipped {student}: {why}")
    if students and not run.written:
        return {
            "success": False,
            "log": "\n".join(lines),
            "error": "no feedback written: " + "; ".join(f"{s}: {w}" for s, w in run.skipped),
        }
    return {"success": True, "log": "\n".join(lines)}


def release_gradehub_feedback(course_root: Path, assignment: str, students: list[str] | None, by: str) -> dict:
    """The formgrader's *Release Feedback*: :func:`gradehub.exchange.release_feedback`, the same
    code as ``gradehub feedback ASSIGNMENT --release`` (gradehub's page only, replaced on every release)."""
    from ..course import load_course
    from ..exchange import feedback_release_lines, release_feedback

    run = release_feedback(load_course(course_root), assignment, students, by=by)
    log = "\n".join(feedback_release_lines(run))
    if students and not run.released:
        return {
            "success": False,
            "log": log,
            "error": "no feedback released: " + "; ".join(f"{s}: {w}" for s, w in run.skipped),
        }
    return {"success": True, "log": log}


def _with_penalty(submission: dict | None, penalties: dict[str, float]) -> dict | None:
    """One of the formgrader API's submission dicts with ``score`` after the late penalty.

    ``raw_score`` keeps nbgrader's sum; never below zero, as the reports compute it. Applied
    once: nbgrader's ``get_submissions`` calls ``get_submission`` for some students.
    """
    if submission is None or "late_penalty" in submission:
        return submission
    penalty = float(penalties.get(submission.get("student", ""), 0.0) or 0.0)
    submission["late_penalty"] = penalty
    score = submission.get("score")
    if isinstance(score, (int, float)) and penalty:
        submission["raw_score"] = score
        submission["score"] = max(0.0, float(score) - penalty)
    return submission


def _late_penalties(api: Any, assignment: str) -> dict[str, float]:
    """``{student: penalty}`` of one assignment, in one query, from nbgrader's
    ``SubmittedAssignment.late_submission_penalty`` (the sum over its notebooks)."""
    from nbgrader.api import Assignment, SubmittedAssignment

    with api.gradebook as gb:
        rows = (
            gb.db.query(SubmittedAssignment.student_id, SubmittedAssignment.late_submission_penalty)
            .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
            .filter(Assignment.name == assignment)
            .all()
        )
    return {student: float(penalty or 0.0) for student, penalty in rows}


def patch_api_scores() -> None:
    """nbgrader's API as the formgrader reads it, with scores after the late penalty (idempotent).

    ``get_submission`` also serves the formgrader's per-student view (nbgrader's
    ``get_student_submissions`` calls it for every assignment)."""
    from nbgrader.apps.api import NbGraderAPI

    if getattr(NbGraderAPI, "_gradehub_penalties", False):
        return
    get_submissions, get_submission = NbGraderAPI.get_submissions, NbGraderAPI.get_submission

    def submissions(self, assignment_id):
        penalties = _late_penalties(self, assignment_id)
        return [_with_penalty(s, penalties) for s in get_submissions(self, assignment_id)]

    def submission(self, assignment_id, student_id, ungraded=None, students=None):
        found = get_submission(self, assignment_id, student_id, ungraded=ungraded, students=students)
        return _with_penalty(found, _late_penalties(self, assignment_id))

    NbGraderAPI.get_submissions = submissions
    NbGraderAPI.get_submission = submission
    NbGraderAPI._gradehub_penalties = True


def _patch_handlers() -> None:
    h = _handlers()
    apihandlers, handlers = h["apihandlers"], h["handlers"]
    replaced = set()
    for i, (pattern, _cls, *rest) in enumerate(apihandlers.default_handlers):
        if pattern.endswith("/release_feedback"):
            apihandlers.default_handlers[i] = (pattern, h["release"], *rest)
        elif pattern.endswith("/generate_feedback"):
            apihandlers.default_handlers[i] = (pattern, h["generate"], *rest)
        elif pattern.endswith("/autograde"):
            apihandlers.default_handlers[i] = (pattern, h["autograde"], *rest)
        else:
            continue
        replaced.add(pattern)
    for i, (pattern, cls, *rest) in enumerate(handlers.default_handlers):
        if cls is handlers.SubmissionFilesHandler:
            handlers.default_handlers[i] = (pattern, h["files"], *rest)
            replaced.add(pattern)
    if len(replaced) < 6:
        raise RuntimeError(
            "gradehub.hub.formgrader: nbgrader's feedback/autograde/files handlers not found "
            f"(replaced {sorted(replaced)}); a new nbgrader version?"
        )


def install(folder: Path) -> None:
    """Everything above, in the formgrader's process, before the server loads nbgrader.

    ``folder`` is the server's private config folder; the formgrader's static files are
    already copied there (``gradehub.hub.singleuser.patch_formgrader_static``).
    """
    from nbgrader.server_extensions.formgrader import formgrader, handlers

    add_static_files(Path(handlers.static_path))
    patch_templates(folder)
    formgrader.HTMLExporter = SafeFormgradeExporter
    _patch_handlers()
    patch_api_scores()
    _patch_csp()


def server_extensions() -> dict[str, bool]:
    """Server extensions the formgrader needs besides nbgrader's: the local MathJax."""
    return {"jupyter_server_mathjax": True}
