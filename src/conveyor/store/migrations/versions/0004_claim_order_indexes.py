"""claim order indexes end with the id tie-breaker

The claim orders by (priority DESC, run_at, id). Without ``id`` in the pending
indexes PostgreSQL had to sort every pending row of the claimed types to find the
first one, so a claim cost grew with the queue (4 ms at 2,000 pending); with it
the index yields rows in claim order and the scan stops at the limit.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def _recreate(with_id: bool) -> None:
    tail = ["id"] if with_id else []
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_claimable")
        batch_op.drop_index("ix_tasks_pending_order")
        batch_op.create_index(
            "ix_tasks_claimable",
            ["task_type", sa.text("priority DESC"), "run_at", *tail],
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        )
        batch_op.create_index(
            "ix_tasks_pending_order",
            [sa.text("priority DESC"), "run_at", *tail],
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        )


def upgrade() -> None:
    _recreate(with_id=True)


def downgrade() -> None:
    _recreate(with_id=False)
