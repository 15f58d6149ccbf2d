"""The grades pages: Jinja2 templates kept in Python, autoescaped, no script at all.

Only the constant style sheet is marked ``|safe``: every value (names, comments, task names,
messages) is escaped.
"""

from __future__ import annotations

from jinja2 import DictLoader, Environment, select_autoescape

CSS = """
:root { --fg:#1f2933; --muted:#616e7c; --line:#d9e2ec; --bg:#f5f7fa; --accent:#2f6fb3; --ok:#2f855a;
        --warn:#b7791f; --bad:#c53030; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
       color:var(--fg); background:var(--bg); }
header { display:flex; gap:1.2em; align-items:baseline; padding:.6em 1.2em; background:#243b53; color:#fff; }
header a { color:#fff; text-decoration:none; } header .brand { font-weight:700; } header nav { flex:1; }
main { padding:1em 1.2em 3em; max-width:1200px; margin:0 auto; }
h1 { font-size:1.35em; margin:.3em 0 .2em; } h2 { font-size:1.1em; margin:1.4em 0 .5em; }
.sub { color:var(--muted); margin:0 0 1em; }
table { border-collapse:collapse; background:#fff; border:1px solid var(--line); }
th, td { padding:.35em .7em; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
th { background:#eef2f7; font-weight:600; } td.num { text-align:right; font-variant-numeric:tabular-nums; }
a { color:var(--accent); }
.panel { background:#fff; border:1px solid var(--line); border-radius:8px; padding:.8em 1em; margin-bottom:1em; }
.total { font-size:1.25em; font-weight:600; }
.ok { color:var(--ok); font-weight:600; } .warn { color:var(--warn); font-weight:600; } .bad { color:var(--bad); }
.muted { color:var(--muted); }
.late { background:#fff4e5; border:1px solid #f0c36d; border-radius:6px; padding:.2em .5em; display:inline-block; }
.viewing { background:#ebf8ff; border:1px solid #90cdf4; border-radius:8px; padding:.5em 1em; margin-bottom:1em; }
pre.comment { background:#eef6ff; border-left:4px solid #9cc3f5; padding:.4em .7em; margin:.2em 0;
              white-space:pre-wrap; word-break:break-word; font:inherit; }
form.inline { display:inline; } button { font:inherit; padding:.15em .8em; border-radius:5px;
  border:1px solid var(--accent); background:var(--accent); color:#fff; cursor:pointer; }
button.undo { background:#fff; color:var(--accent); }
.error { background:#fff5f5; border:1px solid #feb2b2; padding:.8em 1em; border-radius:8px; }
"""

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · grades</title><style>{{ css|safe }}</style></head>
<body><header><a class="brand" href="{{ base }}">gradehub · grades</a>
<nav>{% if staff %}<a href="{{ base }}students">Students</a>{% endif %}</nav>
<span class="user">{{ viewer }}</span>{% if hub_home %} <a href="{{ hub_home }}">hub</a>{% endif %}</header>
<main>{% block main %}{% endblock %}</main></body></html>
"""

MACROS = """
{% macro when(value) -%}{{ value|localtime if value else "–" }}{%- endmacro %}
{% macro pts(value) -%}{{ "–" if value is none else value|fmt }}{%- endmacro %}
"""

STUDENT = """{% extends "base.html" %}{% from "macros.html" import when, pts %}{% block main %}
{% if viewing_as %}<div class="viewing">You are looking at <b>{{ r.student }}</b>'s page as they see it
(grades not yet released are hidden here too). <a href="{{ base }}students">choose another student</a></div>{% endif %}
<h1>{{ r.course.title }}: results of {{ r.name }} ({{ r.student }})</h1>
<p class="sub">{% if r.group %}Tutor group {{ r.group }} · {% endif %}times in {{ r.course.timezone }}</p>
<div class="panel" id="total">
<div class="total">{{ r.total.points|fmt }} of {{ r.total.max_points|fmt }} points in the weeks whose grades are released
{% if r.total.released_weeks %}({{ r.total.released_weeks|join(", ") }}){% endif %}</div>
<div>The exam bonus needs {{ (100 * r.exam_bonus.threshold)|fmt }} % of all {{ r.total.course_max|fmt }} points of the course
= {{ r.exam_bonus.points_needed|fmt }} points.
{% if r.exam_bonus.reached %}<span class="ok">Reached.</span>
{% else %}<span class="warn">Still missing: {{ r.exam_bonus.points_to_go|fmt }} point{{ "" if r.exam_bonus.points_to_go == 1 else "s" }}.</span>{% endif %}</div>
<div class="muted">Only released grades count here; weeks still being graded add to it once your instructor releases them.</div>
</div>
<h2>Weeks</h2>
<table id="weeks"><tr><th>week</th><th>status</th><th>submitted</th><th>deadline</th><th>late penalty</th>
<th class="num">points</th><th>feedback</th></tr>
{% for w in r.assignments %}<tr id="week-{{ w.id }}">
<td>{{ w.id }}<div class="muted">{{ w.title }}</div></td>
<td>{{ w.status }}{% if not w.grades_released and w.status == "submitted" %}<div class="muted">grades not released yet</div>{% endif %}</td>
<td>{{ when(w.submitted_at) }}</td>
<td>{{ when(w.due_applied) }}{% if w.extension %}<div class="muted">{{ w.extension }}</div>{% endif %}
<div class="muted">{{ w.late_policy }}</div></td>
<td>{% if w.late_hours > 0 %}<span class="late">submitted {{ w.late_hours|fmt }} h late: −{{ w.late_penalty|fmt }} points</span>
{% elif w.submitted_at %}on time{% elif w.status == "open" %}{% if w.penalty_now.points > 0 %}<span class="late">submitting now: −{{ w.penalty_now.points|fmt }} points</span>{% else %}on time if submitted now{% endif %}{% else %}–{% endif %}</td>
<td class="num">{% if w.grades_released and w.total is not none %}{{ w.total|fmt }} / {{ w.max_score|fmt }}{% else %}<span class="muted">not released</span>{% endif %}</td>
<td>{% if w.feedback_url %}<a href="{{ w.feedback_url }}">feedback</a>{% else %}<span class="muted">–</span>{% endif %}</td>
</tr>{% else %}<tr><td colspan="7" class="muted">no sheet has been handed out yet</td></tr>{% endfor %}</table>
{% for w in r.assignments if w.grades_released and w.tasks %}
<h2 id="tasks-{{ w.id }}">{{ w.id }}: points per task</h2>
<table><tr><th>task</th><th class="num">points</th><th class="num">of</th><th>tutor points</th><th>comment</th></tr>
{% for t in w.tasks %}<tr><td>{{ t.task }}{% if t.kind == "written" %} <span class="muted">(written)</span>{% endif %}</td>
<td class="num">{{ pts(t.score) }}</td><td class="num">{{ pts(t.max_score) }}</td>
<td class="num">{{ pts(t.tutor_score) }}</td>
<td>{% if t.comment %}<pre class="comment">{{ t.comment }}</pre>{% endif %}</td></tr>{% endfor %}
{% if w.late_penalty %}<tr><td>late penalty</td><td class="num">−{{ w.late_penalty|fmt }}</td><td></td><td></td><td></td></tr>{% endif %}
<tr><th>total</th><th class="num">{{ pts(w.total) }}</th><th class="num">{{ w.max_score|fmt }}</th><th></th><th></th></tr>
</table>{% endfor %}
{% endblock %}
"""

STUDENTS = """{% extends "base.html" %}{% block main %}
<h1>{{ course.title }}: students' results</h1>
<p class="sub">Open a student's page to see it exactly as they do.</p>
{% if instructor %}
<h2>What the students see</h2>
<table id="releases"><tr><th>week</th><th>grades</th><th>released by</th><th class="num">feedback given to</th><th></th></tr>
{% for row in releases %}<tr><td>{{ row.assignment }}</td>
<td>{% if row.released %}<span class="ok">released</span>{% else %}<span class="muted">not released</span>{% endif %}</td>
<td>{{ row.by }} {{ row.at }}</td><td class="num">{{ row.feedback_given }}</td>
<td><form class="inline" method="post" action="{{ base }}release">
<input type="hidden" name="_xsrf" value="{{ xsrf }}"><input type="hidden" name="assignment" value="{{ row.assignment }}">
{% if row.released %}<input type="hidden" name="undo" value="1"><button class="undo" type="submit">withdraw grades</button>
{% else %}<button type="submit">release grades</button>{% endif %}</form></td></tr>{% endfor %}</table>
{% endif %}
<h2>Students</h2>
<table id="students"><tr><th>student</th><th>name</th><th>group</th></tr>
{% for s in students %}<tr><td><a href="{{ base }}s/{{ s.id|urlencode }}">{{ s.id }}</a></td><td>{{ s.name }}</td><td>{{ s.group }}</td></tr>
{% else %}<tr><td colspan="3" class="muted">no students to show</td></tr>{% endfor %}</table>
{% endblock %}
"""

ERROR = """{% extends "base.html" %}{% block main %}
<h1>{{ status }} {{ reason }}</h1><div class="error">{{ message }}</div>
{% endblock %}
"""


def _fmt(value) -> str:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{round(f, 2):g}"


def environment(timezone: str = "UTC") -> Environment:
    import pandas as pd

    def localtime(value) -> str:
        try:
            ts = pd.Timestamp(value)
        except (TypeError, ValueError):
            return str(value)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
        return ts.tz_convert(timezone).strftime("%Y-%m-%d %H:%M %Z")

    env = Environment(
        loader=DictLoader(
            {
                "base.html": BASE,
                "macros.html": MACROS,
                "student.html": STUDENT,
                "students.html": STUDENTS,
                "error.html": ERROR,
            }
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["fmt"] = _fmt
    env.filters["localtime"] = localtime
    env.globals["css"] = CSS
    return env
