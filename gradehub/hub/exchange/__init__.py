"""The multi-user exchange: a hub-authenticated service, and nbgrader exchange classes that use it.

* :mod:`.store`: the exchange folder and its rules (who may read and add what, limits, paths);
* :mod:`.uploads`: a request body, streamed to a spool file, unpacked into a staging folder;
* :mod:`.index`: the inbound folder's index, so a student's own submissions are found directly;
* :mod:`.service`: the tornado service around the store (``gradehub-exchange``, a hub service);
* :mod:`.client`: nbgrader's exchange classes in the students' servers, which call the service.

Nothing is imported here: the client runs in the notebook image, where gradehub is installed
without its dependencies.

nbgrader's file exchange trusts the filesystem: students write into a shared ``inbound/``
folder and the submission's time is whatever their own process wrote. In containers every
student is uid 1000, so file permissions cannot keep one student out of another's work, and
a student can write any ``timestamp.txt``. Here the exchange folder lives only where the hub
runs; students reach it through this service:

* **who**: every request carries the server's ``$JUPYTERHUB_API_TOKEN``; the hub says whose it
  is. A student can only list, fetch feedback for, and add submissions of their own name.
* **when**: the service stamps the submission time itself (UTC), when the upload is complete,
  and ignores any ``timestamp.txt`` sent along; the folder name's suffix (random, or derived
  from the client's upload id: a retry with the same id stores nothing twice) makes every
  submission a new folder, so nothing is ever overwritten.
* **what**: paths are checked (no ``..``, no absolute paths, no links, no name that is both a
  file and a folder), and only released assignments accept submissions. A malformed request is
  a 400, never a 500.
* **how much**: ``[exchange]`` of ``course.toml`` caps the bytes of one submission and of all of
  a student's submissions to one assignment (413), the submissions per student and assignment,
  and their rate per student (429, with ``Retry-After``). The client in the student's server
  shows the service's message in JupyterLab's Assignments panel.
* **from when**: an assignment is listed and handed out only from its ``release`` date, unless
  the instructor released or unreleased it in the formgrader (``gradehub.hub.releases``).

On disk the service writes nbgrader's own layout (``<exchange>/<course>/inbound/<student>+
<assignment>+<timestamp>+<random>/`` with ``timestamp.txt`` and ``submission_secret.txt``), so
``gradehub collect``, nbgrader's collect and the formgrader work on it unchanged; released
assignments are read from ``outbound/`` (``gradehub.exchange.publish``) and feedback from
``feedback/`` (nbgrader's release_feedback).

Run by the hub as the managed service ``gradehub-exchange``::

    python -m gradehub.hub.exchange.service --course-root DIR

In each single-user server, ``gradehub.hub.singleuser`` points nbgrader's ``ExchangeFactory`` at
the classes of :mod:`gradehub.hub.exchange.client` (only nbgrader and the standard library are
needed there).

REST API (JSON answers; file contents base64):

===========================================  ================================================
``GET  /api/assignments``                    released assignments: id and notebooks
``GET  /api/assignments/<a>``                the released files of one assignment
``GET  /api/submissions[?assignment_id=a]``  the caller's own submissions (time, receipt) and
                                             feedback state, from the index (:mod:`.index`)
``POST /api/assignments/<a>/submissions``    submit an uncompressed tar of the folder
                                             (``application/x-tar``; legacy: JSON
                                             ``{"files": {path: b64}}``), optional header
                                             ``X-Gradehub-Upload-Id``; returns time and receipt
``GET  /api/assignments/<a>/feedback``       the caller's feedback, by submission time
===========================================  ================================================

Uploads are streamed to disk and committed off the event loop (:mod:`.uploads`); a submission is
stored exactly when the client is told so (:meth:`.store.ExchangeStore.commit`).
"""

