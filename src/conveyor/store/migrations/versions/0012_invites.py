"""registration invites

With ``CONVEYOR_REGISTRATION=invite`` an account can be registered only with an
invite code an admin created. A code is random and shown once; only its SHA-256
is kept (a code has 160 bits of entropy, so a fast hash is enough, unlike a
password). A code works once, until it expires.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-02 17:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import conveyor.store.types

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invites",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", conveyor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", conveyor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_by", sa.String(length=36), nullable=True),
        sa.Column("used_at", conveyor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("code_hash"),
    )


def downgrade() -> None:
    op.drop_table("invites")
