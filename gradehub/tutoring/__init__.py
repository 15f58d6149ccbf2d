"""Tutors grade the free-response answers of their own group.

- :mod:`.permissions`: who may read and write what (pure functions);
- :mod:`.store`: the tutoring tables in the gradebook database, and nbgrader's grades;
- :mod:`.answers`: the student's answer and the model answer/rubric, rendered safely;
- :mod:`.api`: every action, taking the actor first (the service and the CLI call it);
- :mod:`.service`: the JupyterHub service (tornado): HTML pages and a JSON API.
"""
