"""The ledger's reads: balances, a user's movements (keyset-paged), and the audit of
what must always hold. The writes are in ``store.ledger``, which re-exports these."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.domain.ledger import (
    CURSOR_PATTERN,
    USER_KINDS,
    AccountKind,
    Balances,
    Movement,
    user_account,
)
from conveyor.errors import InvalidInput
from conveyor.store.schema import ledger_accounts, ledger_entries, ledger_transactions

AVAILABLE, RESERVED, EARNED = AccountKind.AVAILABLE, AccountKind.RESERVED, AccountKind.EARNED
CURSOR = re.compile(CURSOR_PATTERN)


async def balances(conn: AsyncConnection, user_id: str) -> Balances:
    ids = {user_account(user_id, kind): kind for kind in USER_KINDS}
    stmt = select(ledger_accounts.c.id, ledger_accounts.c.balance).where(
        ledger_accounts.c.id.in_(list(ids))
    )
    found = {ids[row.id]: int(row.balance) for row in await conn.execute(stmt)}
    return Balances(
        available=found.get(AVAILABLE, 0),
        reserved=found.get(RESERVED, 0),
        earned=found.get(EARNED, 0),
    )


async def list_movements(
    conn: AsyncConnection, user_id: str, cursor: str | None, limit: int
) -> tuple[list[Movement], str | None]:
    """The user's transactions, newest first, keyset-paginated by transaction id."""
    kinds = {user_account(user_id, kind): kind for kind in USER_KINDS}
    entries = ledger_entries.c
    stmt = (
        select(entries.transaction_id)
        .where(entries.account_id.in_(list(kinds)))
        .distinct()
        .order_by(entries.transaction_id.desc())
        .limit(limit + 1)
    )
    if cursor:
        stmt = stmt.where(entries.transaction_id < decode_cursor(cursor))
    found = [int(row[0]) for row in await conn.execute(stmt)]
    page = await _movements(conn, kinds, found[:limit])
    return page, (encode_cursor(page[-1].id) if len(found) > limit else None)


async def _movements(
    conn: AsyncConnection, kinds: dict[str, AccountKind], ids: list[int]
) -> list[Movement]:
    if not ids:
        return []
    tx, entries = ledger_transactions.c, ledger_entries.c
    stmt = (
        select(
            tx.id, tx.kind, tx.ref, tx.details, tx.created_at, entries.account_id, entries.amount
        )
        .select_from(ledger_transactions.join(ledger_entries, entries.transaction_id == tx.id))
        .where(tx.id.in_(ids), entries.account_id.in_(list(kinds)))
    )
    deltas: dict[int, dict[AccountKind, int]] = {i: {} for i in ids}
    heads: dict[int, Any] = {}
    for row in await conn.execute(stmt):
        heads[row.id] = row
        change = deltas[row.id]
        change[kinds[row.account_id]] = change.get(kinds[row.account_id], 0) + int(row.amount)
    return [
        Movement(
            id=i,
            kind=heads[i].kind,
            ref=heads[i].ref,
            created_at=heads[i].created_at,
            available=deltas[i].get(AVAILABLE, 0),
            reserved=deltas[i].get(RESERVED, 0),
            earned=deltas[i].get(EARNED, 0),
            details=heads[i].details,
        )
        for i in ids
    ]


def encode_cursor(transaction_id: int) -> str:
    """Opaque to clients; it is the last transaction id of the page, in decimal."""
    return str(transaction_id)


def decode_cursor(cursor: str) -> int:
    """A cursor is client input like any other: what it decodes to must be storable."""
    if not CURSOR.fullmatch(cursor):
        raise InvalidInput("invalid cursor", details=[{"field": "cursor"}])
    return int(cursor)


@dataclass(frozen=True, slots=True)
class Audit:
    """What must always hold: the whole ledger sums to zero, every transaction too,
    and each cached balance equals its entries."""

    total: int
    unbalanced_transactions: list[int]
    drifted_accounts: list[str]
    negative_accounts: list[str]


async def audit(conn: AsyncConnection) -> Audit:
    total = (
        await conn.execute(select(func.coalesce(func.sum(ledger_entries.c.amount), 0)))
    ).scalar_one()
    per_tx = (
        select(ledger_entries.c.transaction_id)
        .group_by(ledger_entries.c.transaction_id)
        .having(func.sum(ledger_entries.c.amount) != 0)
    )
    sums = (
        select(ledger_entries.c.account_id, func.sum(ledger_entries.c.amount).label("total"))
        .group_by(ledger_entries.c.account_id)
        .subquery()
    )
    drift = (
        select(ledger_accounts.c.id)
        .select_from(ledger_accounts.outerjoin(sums, sums.c.account_id == ledger_accounts.c.id))
        .where(ledger_accounts.c.balance != func.coalesce(sums.c.total, 0))
    )
    negative = select(ledger_accounts.c.id).where(
        ledger_accounts.c.kind != AccountKind.WORLD.value, ledger_accounts.c.balance < 0
    )
    return Audit(
        total=int(total),
        unbalanced_transactions=[int(r[0]) for r in await conn.execute(per_tx)],
        drifted_accounts=[str(r[0]) for r in await conn.execute(drift)],
        negative_accounts=[str(r[0]) for r in await conn.execute(negative)],
    )
