"""progress sequence numbers are 64-bit on PostgreSQL too

``tasks.progress_seq`` and ``task_progress.seq`` were ``integer`` (32-bit) on
PostgreSQL while SQLite's INTEGER holds 64 bits, so an ``after_seq`` or
``Last-Event-ID`` between 2**31 and 2**63 was a fine query on SQLite and a 500 on
PostgreSQL. Both are ``bigint`` now and the API bounds the query at 2**63 - 1.
SQLite needs no change: its INTEGER already is 64-bit.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 11:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = (("tasks", "progress_seq"), ("task_progress", "seq"))


def _retype(old: sa.types.TypeEngine[int], new: sa.types.TypeEngine[int]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, existing_type=old, type_=new, existing_nullable=False)


def upgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger())


def downgrade() -> None:
    _retype(sa.BigInteger(), sa.Integer())
