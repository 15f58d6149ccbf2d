"""SQL over nbgrader's gradebook tables that more than one part of gradehub reads.

Plain SQL for SQLite and PostgreSQL alike, and no nbgrader import: ``gradehub report`` reads
the gradebook with pandas without paying for nbgrader's start-up, and the tutor grading
service filters the same rows with its own WHERE clause.
"""

from __future__ import annotations

# One row per submitted cell: who, which week, which notebook, which cell.
_PER_SUBMITTED_CELL = """
SELECT sa.student_id AS student, a.name AS assignment, n.name AS notebook, bc.name AS {cell_as}, {columns}
FROM {table} x
JOIN submitted_notebook sn ON sn.id = x.notebook_id
JOIN submitted_assignment sa ON sa.id = sn.assignment_id
JOIN assignment a ON a.id = sa.assignment_id
JOIN notebook n ON n.id = sn.notebook_id
JOIN base_cell bc ON bc.id = x.cell_id
"""


def grades_sql(cell_as: str = "cell") -> str:
    """Every grade of every submission; append a WHERE on ``sa``/``a``/``n``/``bc`` to filter."""
    return _PER_SUBMITTED_CELL.format(
        cell_as=cell_as,
        table="grade",
        columns="x.auto_score AS auto_score, x.manual_score AS manual_score, "
        "x.extra_credit AS extra_credit, x.needs_manual_grade AS needs_manual_grade",
    )


def comments_sql(cell_as: str = "cell") -> str:
    """Every comment row of every submission (empty ones included; filter with a WHERE)."""
    return _PER_SUBMITTED_CELL.format(cell_as=cell_as, table="comment", columns="x.manual_comment AS manual_comment")
