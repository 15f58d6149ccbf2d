"""Otter-grader assignments in gradehub: otter's authoring and student workflow, gradehub's grading.

An otter course keeps its ``otter assign`` master notebooks, its OK-format tests and the
student's ``grader.check("q1")``. gradehub releases the master with otter's own assign step and
grades the submission in its sandbox like any sheet, with one difference that matters: the
expected output of a test case never enters the student's kernel. The examples of each
doctest case run in the kernel (:mod:`gradehub.otter.kernel`), what an interactive session
would have displayed is recorded, and the host compares it with the expected output using the
standard library's ``doctest.OutputChecker`` (:mod:`gradehub.otter.verdict`).

Modules, each importing only those above it in this list:

- ``kernel``: imported in the student's kernel; runs examples, records what they displayed
  (imports nothing from gradehub but :mod:`gradehub.testing`);
- ``tests``: OK-format test files parsed with otter's own parser (points as otter resolves them)
  into typed questions, cases and examples, each example split into kernel source and host-only
  expected output;
- ``verdict``: host side; the verdict of a question from what the kernel recorded;
- ``build``: the release notebook and the grading notebook of an otter assignment;
- ``assign``: runs ``otter assign`` on a master notebook, reads otter's graded form;
- ``release``: ``gradehub release`` for an otter assignment, gradebook registration;
- ``grades``: otter's ``final_grades.csv`` layout from the gradebook;
- ``importer``: ``gradehub import-otter``.

This file imports nothing: the kernel imports ``gradehub.otter.kernel`` and must not pull in
otter-grader or nbgrader.
"""
