"""The grading service's HTML pages: Jinja2 templates kept in Python (no package data to ship).

Autoescaping is on. The only values marked ``|safe`` are the ``*_html`` fields, which
:mod:`gradehub.tutoring.answers` renders with raw HTML escaped and then sanitizes.
"""

from __future__ import annotations

from jinja2 import DictLoader, Environment, select_autoescape

CSS = """
:root { --fg:#1f2933; --muted:#616e7c; --line:#d9e2ec; --bg:#f5f7fa; --accent:#2f6fb3; --ok:#2f855a;
        --todo:#b7791f; --flag:#c53030; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
       color:var(--fg); background:var(--bg); }
header { display:flex; gap:1.2em; align-items:baseline; padding:.6em 1.2em; background:#243b53; color:#fff; }
header a { color:#fff; text-decoration:none; } header .brand { font-weight:700; }
header nav { display:flex; gap:1em; flex:1; } header .user { opacity:.85; }
main { padding:1em 1.2em 3em; max-width:1400px; margin:0 auto; }
h1 { font-size:1.35em; margin:.3em 0 .6em; } h2 { font-size:1.1em; margin:1.4em 0 .5em; }
table { border-collapse:collapse; background:#fff; border:1px solid var(--line); }
th, td { padding:.35em .7em; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
th { background:#eef2f7; font-weight:600; } td.num { text-align:right; font-variant-numeric:tabular-nums; }
a { color:var(--accent); }
.bar { display:inline-block; width:110px; height:.7em; background:#e4e7eb; border-radius:4px; overflow:hidden;
       vertical-align:middle; margin-right:.4em; }
.bar > span { display:block; height:100%; background:var(--ok); }
.badge { display:inline-block; font-size:.8em; padding:.05em .5em; border-radius:9px; background:#e4e7eb; }
.badge.todo { background:#fefcbf; color:#744210; } .badge.done { background:#c6f6d5; color:#22543d; }
.badge.flag { background:#fed7d7; color:#9b2c2c; } .badge.blank { background:#e2e8f0; color:#4a5568; }
.grid { display:grid; grid-template-columns:minmax(320px, 38%) 1fr; gap:1.2em; align-items:start; }
.side { position:sticky; top:.8em; max-height:calc(100vh - 1.6em); overflow:auto; }
.panel { background:#fff; border:1px solid var(--line); border-radius:8px; padding:.8em 1em; margin-bottom:1em; }
.panel h3 { margin:.1em 0 .4em; font-size:.95em; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
.model { border-left:4px solid var(--ok); } .rubric { border-left:4px solid var(--accent); }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; margin-bottom:1em; }
.card.todo { border-left:4px solid var(--todo); } .card.done { border-left:4px solid var(--ok); }
.card.flagged { border-left:4px solid var(--flag); }
.card .head { display:flex; gap:.8em; align-items:baseline; padding:.5em 1em; border-bottom:1px solid var(--line); }
.card .head .who { font-weight:600; } .card .head .meta { color:var(--muted); font-size:.9em; flex:1; }
.answer { padding:.2em 1em; overflow-x:auto; } .answer pre { background:#f0f4f8; padding:.6em; }
.math { font-family:ui-monospace,"DejaVu Sans Mono",monospace; font-size:.92em; color:#3e4c59; }
form.grade { display:grid; grid-template-columns:auto 1fr; gap:.45em .8em; padding:.7em 1em .9em;
             background:#fafbfc; border-top:1px solid var(--line); border-radius:0 0 8px 8px; align-items:center; }
form.grade label { font-weight:600; font-size:.92em; }
form.grade input[type=number] { width:6em; font-size:1em; padding:.2em; }
form.grade textarea { width:100%; min-height:3.2em; font:inherit; padding:.3em; }
form.grade input[type=text] { width:100%; font:inherit; padding:.2em; }
form.grade .actions { grid-column:2; } button { font:inherit; padding:.3em 1.1em; border-radius:5px;
  border:1px solid var(--accent); background:var(--accent); color:#fff; cursor:pointer; }
form.inline { display:inline; } form.inline button { padding:.1em .6em; font-size:.9em; }
.muted { color:var(--muted); } .problem { color:var(--flag); } .error { background:#fff5f5;
  border:1px solid #feb2b2; padding:.8em 1em; border-radius:8px; }
.pair { display:grid; grid-template-columns:1fr minmax(300px, 40%); gap:1em; align-items:start; }
.disagree td { background:#fff5f5; }
.toolbar { display:flex; gap:1em; align-items:baseline; margin-bottom:.8em; }
.forms { display:flex; flex-wrap:wrap; gap:1em; } .forms form { background:#fff; border:1px solid var(--line);
  border-radius:8px; padding:.6em .8em; } .forms input, .forms select { font:inherit; padding:.15em; }
"""

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · gradehub grading</title><style>{{ css|safe }}</style></head>
<body><header><a class="brand" href="{{ base }}">gradehub · grading</a>
<nav><a href="{{ base }}">Progress</a>
{% for a in me.assignments %}<a href="{{ base }}a/{{ a.id }}">{{ a.id }}</a>{% endfor %}
{% if me.second_marks_open %}<a href="{{ base }}second">Second marking ({{ me.second_marks_open }})</a>{% endif %}
{% if me.instructor %}<a href="{{ base }}moderation">Moderation</a>{% endif %}</nav>
<span class="user">{{ me.name }} · {{ "instructor" if me.instructor else "tutor" }}</span>
{% if logout_url %}<a href="{{ logout_url }}">log out</a>{% endif %}</header>
<main>{% block main %}{% endblock %}</main></body></html>
"""

MACROS = """
{% macro bar(done, total) -%}
<span class="bar"><span style="width:{{ (100 * done / total) if total else 100 }}%"></span></span>{{ done }} / {{ total }}
{%- endmacro %}
{% macro status(a) -%}
{% if a.flag %}<span class="badge flag" title="{{ a.flag.message }}">flagged</span>{% endif %}
{% if a.blank %}<span class="badge blank">left blank: 0 automatically</span>
{% elif a.graded %}<span class="badge done">graded {{ a.score|fmt }} / {{ a.max_score|fmt }}{% if a.graded_by %} by {{ a.graded_by }}{% endif %}</span>
{% else %}<span class="badge todo">to grade{% if a.manual_score is not none %} again: autograded anew{% endif %}</span>{% endif %}
{%- endmacro %}
{% macro grade_form(a, next, xsrf, base) -%}
<form class="grade" method="post" action="{{ base }}grade">
<input type="hidden" name="_xsrf" value="{{ xsrf }}">
<input type="hidden" name="assignment" value="{{ a.assignment }}"><input type="hidden" name="student" value="{{ a.student }}">
<input type="hidden" name="notebook" value="{{ a.notebook }}"><input type="hidden" name="cell" value="{{ a.cell }}">
<input type="hidden" name="next" value="{{ next }}">
<label for="p-{{ a.student }}-{{ a.cell }}">Points</label>
<span><input id="p-{{ a.student }}-{{ a.cell }}" name="points" type="number" min="0" max="{{ a.max_score|fmt }}" step="any"
  value="{{ a.manual_score|fmt if a.manual_score is not none else (a.auto_score|fmt if a.blank else '') }}" required> / {{ a.max_score|fmt }}</span>
<label for="c-{{ a.student }}-{{ a.cell }}">Comment</label>
<textarea id="c-{{ a.student }}-{{ a.cell }}" name="comment" placeholder="What the student reads in their feedback">{{ a.comment or '' }}</textarea>
<label><input type="checkbox" name="flag" value="1" {% if a.flag %}checked{% endif %}> Flag</label>
<input type="text" name="flag_message" placeholder="A question for the instructor (only they see it)" value="{{ a.flag.message if a.flag else '' }}">
<span class="actions"><button type="submit">Save</button></span>
</form>
{%- endmacro %}
{% macro rubric_panels(r) -%}
{% if r.question_html %}<div class="panel"><h3>Question</h3>{{ r.question_html|safe }}</div>{% endif %}
<div class="panel model"><h3>Model answer</h3>{{ r.model_answer_html|safe }}</div>
{% if r.rubric_html %}<div class="panel rubric"><h3>Rubric</h3>{{ r.rubric_html|safe }}</div>{% endif %}
{%- endmacro %}
"""

DASHBOARD = """{% extends "base.html" %}{% from "macros.html" import bar %}{% block main %}
<h1>{{ me.course.title }} — grading progress</h1>
{% if me.instructor %}
<h2>Per week</h2>
<table><tr><th>week</th><th>answers graded</th><th class="num">to grade</th><th class="num">flagged</th><th></th></tr>
{% for t in progress.totals %}<tr><td>{{ t.assignment }}</td><td>{{ bar(t.graded, t.answers) }}</td>
<td class="num">{{ t.to_grade }}</td><td class="num">{{ t.flagged }}</td>
<td><a href="{{ base }}a/{{ t.assignment }}">grade</a> · <a href="{{ base }}moderation/{{ t.assignment }}">moderation</a></td></tr>
{% else %}<tr><td colspan="5" class="muted">no graded submissions yet</td></tr>{% endfor %}</table>
{% endif %}
<h2>{{ "Per tutor and week" if me.instructor else "Your students" }}</h2>
<table id="progress"><tr>{% if me.instructor %}<th>tutor</th>{% endif %}<th>week</th><th class="num">students</th>
<th>answers graded</th><th class="num">to grade</th><th class="num">flagged</th><th class="num">graded by them</th>
<th class="num">second marks open</th><th></th></tr>
{% for r in progress.rows %}<tr>{% if me.instructor %}<td>{{ r.tutor }}</td>{% endif %}<td>{{ r.assignment }}</td>
<td class="num">{{ r.students }}</td><td>{{ bar(r.graded, r.answers) }}</td><td class="num">{{ r.to_grade }}</td>
<td class="num">{{ r.flagged }}</td><td class="num">{{ r.graded_by_tutor }}</td><td class="num">{{ r.second_marks_open }}</td>
<td>{% if not me.instructor or r.tutor == me.name %}<a href="{{ base }}a/{{ r.assignment }}">grade</a>{% endif %}</td></tr>
{% else %}<tr><td colspan="9" class="muted">no students allocated</td></tr>{% endfor %}</table>
{% if me.instructor %}
<h2>Flags</h2>
<table><tr><th>week</th><th>student</th><th>question</th><th>raised by</th><th>message</th><th></th></tr>
{% for f in flags %}<tr><td>{{ f.assignment }}</td><td><a href="{{ base }}a/{{ f.assignment }}/s/{{ f.student }}">{{ f.student }}</a></td>
<td>{{ f.notebook }}/{{ f.cell }}</td><td>{{ f.raised_by }}</td><td>{{ f.message }}</td>
<td><form class="inline" method="post" action="{{ base }}admin/resolve"><input type="hidden" name="_xsrf" value="{{ xsrf }}">
{% for k in ("assignment", "student", "notebook", "cell") %}<input type="hidden" name="{{ k }}" value="{{ f[k] }}">{% endfor %}
<button>resolve</button></form></td></tr>
{% else %}<tr><td colspan="6" class="muted">no open flags</td></tr>{% endfor %}</table>
<h2>Tutor allocation</h2>
<table><tr><th>group</th><th>tutors (course.toml)</th></tr>
{% for g, ts in allocation.groups.items() %}<tr><td>{{ g }}</td><td>{{ ts|join(", ") }}</td></tr>{% endfor %}</table>
<p class="muted">Moved or split students:
{% for s in allocation.students if s.override %}{{ s.student }} → {{ s.override.tutor }} ({{ s.override.reason }}){{ ", " if not loop.last }}{% else %}none{% endfor %}</p>
<div class="forms">
<form method="post" action="{{ base }}admin/move"><input type="hidden" name="_xsrf" value="{{ xsrf }}">
<b>Move</b> <select name="student">{% for s in allocation.students %}<option value="{{ s.student }}">{{ s.student }} ({{ s.group }}: {{ s.tutors|join(", ") }})</option>{% endfor %}</select>
to tutor <input name="tutor" size="12" placeholder="account; empty: back to group"> <button>move</button></form>
<form method="post" action="{{ base }}admin/split"><input type="hidden" name="_xsrf" value="{{ xsrf }}">
<b>Split</b> group <select name="group">{% for g in allocation.groups %}<option>{{ g }}</option>{% endfor %}</select>
between <input name="tutor1" size="10"> and <input name="tutor2" size="10"> <button>split</button></form>
<form method="post" action="{{ base }}admin/moderate"><input type="hidden" name="_xsrf" value="{{ xsrf }}">
<b>Moderate</b> <select name="assignment">{% for a in me.assignments %}<option>{{ a.id }}</option>{% endfor %}</select>
sample <input name="sample" type="number" min="1" value="5" style="width:4em"> answers, marker
<input name="marker" size="10" placeholder="auto"> <button>draw</button></form>
</div>
{% endif %}
{% endblock %}"""

ASSIGNMENT = """{% extends "base.html" %}{% from "macros.html" import bar %}{% block main %}
<h1>{{ assignment }} — {{ title }}</h1>
<h2>Question by question</h2>
<table id="questions"><tr><th>question</th><th class="num">points</th><th>graded</th><th class="num">flagged</th><th></th></tr>
{% for q in questions %}<tr><td>{{ q.notebook }} / {{ q.cell }}</td><td class="num">{{ q.max_score|fmt }}</td>
<td>{{ bar(q.graded, q.answers) }}</td><td class="num">{{ q.flagged }}</td>
<td><a href="{{ base }}a/{{ assignment }}/q/{{ q.notebook }}/{{ q.cell }}">grade this question</a>
· <a href="{{ base }}a/{{ assignment }}/q/{{ q.notebook }}/{{ q.cell }}?todo=1">only the open ones</a></td></tr>
{% else %}<tr><td colspan="5" class="muted">this week has no free-response questions</td></tr>{% endfor %}</table>
<h2>Student by student</h2>
<table id="students"><tr><th>student</th><th>name</th><th>group</th><th>graded</th><th class="num">flagged</th><th></th></tr>
{% for s in students %}<tr><td>{{ s.student }}</td><td>{{ s.student_name }}</td><td>{{ s.group }}</td>
<td>{{ bar(s.graded, s.answers) }}</td><td class="num">{{ s.flagged }}</td>
<td><a href="{{ base }}a/{{ assignment }}/s/{{ s.student }}">grade this student</a></td></tr>
{% else %}<tr><td colspan="6" class="muted">none of your students has a graded submission yet</td></tr>{% endfor %}</table>
{% endblock %}"""

QUESTION = """{% extends "base.html" %}{% from "macros.html" import status, grade_form, rubric_panels %}{% block main %}
<div class="toolbar"><h1>{{ q.assignment }} · {{ q.cell }} <span class="muted">({{ q.max_score|points }})</span></h1>
<span class="muted">{{ q.answers|selectattr("graded")|list|length }} of {{ q.answers|length }} graded</span>
{% if todo %}<a href="?">show all answers</a>{% else %}<a href="?todo=1">only the open ones</a>{% endif %}</div>
<div class="grid"><aside class="side">{{ rubric_panels(q) }}</aside>
<section>{% for a in q.answers %}
<article class="card {{ 'flagged' if a.flag else ('done' if a.graded else 'todo') }}" id="card-{{ a.student }}">
<div class="head"><span class="who">{{ a.student_name }}</span><span class="meta">{{ a.student }} · group {{ a.group }}</span>{{ status(a) }}</div>
{% if a.variant %}<div class="meta variant">their data: {{ a.variant }}</div>{% endif %}
<div class="answer">{{ a.answer_html|safe }}</div>
{{ grade_form(a, here ~ "#card-" ~ (loop.nextitem or a).student, xsrf, base) }}
</article>{% else %}<p class="muted">No answers{{ " left to grade" if todo }}.</p>{% endfor %}</section></div>
{% endblock %}"""

STUDENT = """{% extends "base.html" %}{% from "macros.html" import status, grade_form, rubric_panels %}{% block main %}
<div class="toolbar"><h1>{{ s.assignment }} · {{ s.student_name }} <span class="muted">({{ s.student }}, group {{ s.group }})</span></h1>
{% if prev %}<a href="{{ base }}a/{{ s.assignment }}/s/{{ prev }}">← {{ prev }}</a>{% endif %}
{% if next %}<a href="{{ base }}a/{{ s.assignment }}/s/{{ next }}">{{ next }} →</a>{% endif %}</div>
{% if s.variant %}<p class="meta variant">Their data (per-student variant, as graded): {{ s.variant }}</p>{% endif %}
{% for a in s.answers %}
<div class="pair" id="card-{{ a.cell }}">
<article class="card {{ 'flagged' if a.flag else ('done' if a.graded else 'todo') }}">
<div class="head"><span class="who">{{ a.notebook }} / {{ a.cell }}</span><span class="meta">{{ a.max_score|points }}</span>{{ status(a) }}</div>
<div class="answer">{{ a.answer_html|safe }}</div>
{{ grade_form(a, here ~ "#card-" ~ (loop.nextitem or a).cell, xsrf, base) }}
</article>
<aside>{{ rubric_panels(a.rubric) }}</aside></div>
{% endfor %}
{% endblock %}"""

MODERATION = """{% extends "base.html" %}{% block main %}
<h1>Moderation{% if assignment %} · {{ assignment }}{% endif %}</h1>
<p>{{ m.marked }} of {{ m.items|length }} sampled answers second-marked; <b>{{ m.disagreements }}</b> disagree.</p>
<table id="moderation"><tr><th>week</th><th>student</th><th>question</th><th>first marker</th><th class="num">first mark</th>
<th class="num">mark now</th><th>second marker</th><th class="num">second mark</th><th class="num">difference</th><th>second comment</th></tr>
{% for i in m.items %}<tr class="{{ 'disagree' if i.disagree }}"><td>{{ i.assignment }}</td>
<td><a href="{{ base }}a/{{ i.assignment }}/s/{{ i.student }}">{{ i.student }}</a></td><td>{{ i.notebook }}/{{ i.cell }}</td>
<td>{{ i.first_marker or "?" }}</td><td class="num">{{ i.first_score|fmt }}</td><td class="num">{{ i.current_score|fmt }}</td>
<td>{{ i.marker }}</td><td class="num">{{ i.second_score|fmt if i.marked else "open" }}</td>
<td class="num">{{ "%+g"|format(i.difference) if i.difference is not none else "" }}</td><td>{{ i.second_comment or "" }}</td></tr>
{% else %}<tr><td colspan="10" class="muted">no sample drawn yet (draw one on the progress page)</td></tr>{% endfor %}</table>
{% endblock %}"""

SECOND = """{% extends "base.html" %}{% from "macros.html" import rubric_panels %}{% block main %}
<h1>Second marking</h1>
<p class="muted">Mark these answers on your own: the first mark stays hidden until the instructor compares them.</p>
{% for i in items %}
<div class="pair" id="item-{{ loop.index }}">
<article class="card {{ 'done' if i.marked else 'todo' }}">
<div class="head"><span class="who">{{ i.assignment }} · {{ i.cell }}</span><span class="meta">{{ i.student }}</span>
{% if i.marked %}<span class="badge done">your mark {{ i.second_score|fmt }}</span>{% else %}<span class="badge todo">open</span>{% endif %}</div>
<div class="answer">{{ i.answer_html|safe }}</div>
<form class="grade" method="post" action="{{ base }}second"><input type="hidden" name="_xsrf" value="{{ xsrf }}">
{% for k in ("assignment", "student", "notebook", "cell") %}<input type="hidden" name="{{ k }}" value="{{ i[k] }}">{% endfor %}
<label>Points</label><span><input name="points" type="number" min="0" max="{{ i.max_score|fmt }}" step="any" required
 value="{{ i.second_score|fmt if i.marked else '' }}"> / {{ i.max_score|fmt }}</span>
<label>Comment</label><textarea name="comment">{{ i.second_comment or '' }}</textarea>
<span class="actions"><button>Save second mark</button></span></form></article>
<aside>{{ rubric_panels(i.rubric) }}</aside></div>
{% else %}<p class="muted">Nothing to second-mark.</p>{% endfor %}
{% endblock %}"""

ERROR = """{% extends "base.html" %}{% block main %}
<h1>{{ status }} · {{ reason }}</h1><p class="error">{{ message }}</p><p>
<a href="{{ base }}">progress</a></p>{% endblock %}"""

LOGIN = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>log in · gradehub grading</title>
<style>{{ css|safe }}</style></head><body><header><span class="brand">gradehub · grading</span></header>
<main><h1>Log in</h1>{% if error %}<p class="error">{{ error }}</p>{% endif %}
<form method="post" class="panel" style="max-width:22em"><input type="hidden" name="_xsrf" value="{{ xsrf }}">
<p><label>Account<br><input name="username" autofocus></label></p>
<p><label>Password<br><input name="password" type="password"></label></p>
<input type="hidden" name="next" value="{{ next }}"><button type="submit">Log in</button></form></main></body></html>"""


def _fmt(value) -> str:
    if value is None or value == "":
        return "–"
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


def _points(value) -> str:
    return f"{_fmt(value)} point" + ("" if _fmt(value) == "1" else "s")


def environment() -> Environment:
    env = Environment(
        loader=DictLoader(
            {
                "base.html": BASE,
                "macros.html": MACROS,
                "dashboard.html": DASHBOARD,
                "assignment.html": ASSIGNMENT,
                "question.html": QUESTION,
                "student.html": STUDENT,
                "moderation.html": MODERATION,
                "second.html": SECOND,
                "error.html": ERROR,
                "login.html": LOGIN,
            }
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["fmt"] = _fmt
    env.filters["points"] = _points
    env.globals["css"] = CSS
    return env
