"""Grading across machines on Dask distributed: the coordinator scores and writes, nodes execute.

``gradehub autograde ASSIGNMENT --cluster tcp://SCHEDULER:8786`` (or ``[grading] cluster`` in
``course.toml``) hands each submission's job (sanitize + execute in the sandbox) to the workers
of a Dask cluster instead of worker processes on this machine; this process still runs the
reference, scores every reply and is the gradebook's only writer, exactly as in a local run.

- :mod:`.transfer`: what travels (a node has no course root): the files a job reads, by content
  hash, and the student's submitted files as bytes; back, the executed notebooks and records.
- :mod:`.node`: what runs on a grading node (a Dask worker with a Docker engine and the grader
  image): the job in a ``gradehub.sandbox.worker`` process, as locally.
- :mod:`.runner`: :class:`~.runner.DaskRunner`, the :class:`gradehub.grading.JobRunner` that
  submits the jobs; a worker that dies mid-job has its jobs run by another (Dask reschedules).
"""
