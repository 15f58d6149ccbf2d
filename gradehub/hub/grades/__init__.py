"""The students' grades page: a hub service (``grades``, ``/services/grades/``).

``access`` (who may see whose results: pure) → ``pages`` (the HTML, autoescaped, no script) →
``service`` (tornado, hub OAuth, the JSON API documented there). The data comes from
:func:`gradehub.results.student_results`.
"""
