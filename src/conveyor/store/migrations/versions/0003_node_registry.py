"""node registry: derived secrets' version, completed-by index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("secret_version", sa.Integer(), server_default=sa.text("1"), nullable=False)
        )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tasks_completed_by",
            ["lease_owner"],
            sqlite_where=sa.text("status = 'completed'"),
            postgresql_where=sa.text("status = 'completed'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_completed_by")
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_column("secret_version")
