"""task traceparent

``tasks.traceparent``: the W3C trace context a task's spans continue, from its
submit through claim, handler run, progress and finish (docs/observability.md).
Set only when the server traces (``CONVEYOR_OTEL_ENABLED``); NULL otherwise, and
for every task created before this migration.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 09:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("traceparent", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # A plain ALTER TABLE … DROP COLUMN (SQLite 3.35+), not batch mode: its table
    # rebuild would lose the DESC of the claim-order indexes.
    op.drop_column("tasks", "traceparent")
