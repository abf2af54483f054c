"""ledger transactions by time

An index on ``ledger_transactions.created_at``. A provider's earnings over a window
(``GET /wallet/earnings``) first finds the window's first transaction id through it,
then reads only the earned account's entries from that id on, instead of every
payment the account ever received.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 15:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ledger_transactions_created_at", "ledger_transactions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_ledger_transactions_created_at", table_name="ledger_transactions")
