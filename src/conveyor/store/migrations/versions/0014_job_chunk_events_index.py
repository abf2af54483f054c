"""job chunk events index

``ix_tasks_job_changes``: a job's chunks by ``(updated_at, id)``, the order in which
``GET /jobs/{id}/events`` numbers chunk changes. A stream that resumes (a
``Last-Event-ID``) reads the chunks changed after its resume point in pages from
here, and a new stream reads its starting point (the latest change) from its end,
instead of scanning all of a large job's chunks. Partial: plain tasks have no job.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

CHUNKS = sa.text("job_id IS NOT NULL")


def upgrade() -> None:
    # A plain CREATE INDEX, not batch mode: SQLite's table rebuild would lose the
    # DESC of the claim-order indexes.
    op.create_index(
        "ix_tasks_job_changes",
        "tasks",
        ["job_id", "updated_at", "id"],
        sqlite_where=CHUNKS,
        postgresql_where=CHUNKS,
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_job_changes", table_name="tasks")
