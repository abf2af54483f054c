"""jobs count their open chunks

``jobs.open_chunks``: how many of the job's chunks have not ended yet. A finish
batch takes it down by the chunks it ended in the same ``UPDATE`` that locks the
job's row, and the job ends when it reaches zero: one statement where a locked
read of the job and a look for any open chunk were two or three. Chunks end only
through the guarded transitions (a terminal status is never left), so the count
stays exact; jobs created before this revision are counted here.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 19:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("open_chunks", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
    op.execute(
        "UPDATE jobs SET open_chunks = (SELECT count(*) FROM tasks WHERE tasks.job_id = jobs.id"
        " AND tasks.status IN ('pending', 'in_progress'))"
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("open_chunks")
