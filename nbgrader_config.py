"""nbgrader configuration of the NAT3008 course root.

gradehub loads this file explicitly (``gradehub.course.load_nbgrader_config``); nbgrader's own
apps find it because the course root is the working directory. Course-level settings that
are not nbgrader's (deadlines, limits, roster) live in ``course.toml``.
"""

import os

c = get_config()  # noqa: F821 - provided by traitlets when the file is loaded

_root = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "nat3008"
c.CourseDirectory.root = _root
c.CourseDirectory.db_url = os.environ.get(
    "GRADEHUB_GRADEBOOK_URL", "sqlite:///" + os.path.join(_root, "gradebook.db")
)
# The embedded default keeps the exchange beside the course instead of nbgrader's
# /usr/local/share/nbgrader/exchange, so a newcomer needs no root and no shared folder.
c.Exchange.root = os.environ.get("GRADEHUB_EXCHANGE", os.path.join(_root, "exchange"))
c.Exchange.path_includes_course = True
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"
