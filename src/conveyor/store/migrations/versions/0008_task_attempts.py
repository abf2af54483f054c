"""task attempt history

Every run of a task that ends (completed, failed, released, lease expired,
cancelled, timed out, reassigned) gets a ``task_attempts`` row: which node ran it,
from when to when, how it ended and the error it reported, so that a task that
failed three times keeps all three stories, not only the last. ``tasks.runs``
counts those rows, so that a task's response says how often it ran (``attempts``
counts only the charged runs). Tasks that ended before this migration have no
history (``runs`` starts at 0).

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-02 10:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import conveyor.store.types

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("runs", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    op.create_table(
        "task_attempts",
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=True),
        sa.Column("started_at", conveyor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", conveyor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column(
            "error",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_task_attempts_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_id", "attempt", name=op.f("pk_task_attempts")),
    )


def downgrade() -> None:
    op.drop_table("task_attempts")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("runs")
