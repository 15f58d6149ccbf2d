"""The one way gradehub opens the course's gradebook database with SQLAlchemy (nbgrader not imported)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from ..course import Course, CourseError, gradebook_url


def gradebook_engine(course: Course) -> Engine:
    """An SQLAlchemy engine on the course's gradebook, without importing nbgrader.

    The URL is :func:`gradehub.course.gradebook_url`'s, as for nbgrader's ``Gradebook``
    (:func:`gradehub.gradebook.open_gradebook`). The caller disposes of the engine.
    """
    engine = create_engine(gradebook_url(course))
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if database and database != ":memory:" and not Path(database).is_file():
        engine.dispose()  # connecting would leave an empty file that nbgrader then refuses
        raise CourseError(f"there is no gradebook at {database} yet: run `gradehub release ASSIGNMENT` first")
    return engine
