"""used stream tickets, shared by all replicas

Stream tickets were single-use per replica (an in-memory set), so behind a load
balancer a leaked ticket could be replayed once on each other replica within its
minute. The set now lives in the database every replica shares.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 23:55:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import conveyor.store.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "used_stream_tickets",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", conveyor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_used_stream_tickets")),
    )
    with op.batch_alter_table("used_stream_tickets", schema=None) as batch_op:
        batch_op.create_index("ix_used_stream_tickets_expires", ["expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("used_stream_tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_used_stream_tickets_expires")
    op.drop_table("used_stream_tickets")
