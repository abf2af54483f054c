"""The credits ledger: every movement one transaction of entries summing to zero.

Each function runs inside the caller's transaction (it never begins or commits), so
a chunk's payment lands with the chunk's completion or not at all. Each is
idempotent by ``ref``: a ref already used for that kind raises ``Conflict``, checked
first and enforced by the unique index on (kind, ref), so a duplicate can never pay
twice, even from another replica. Only inserts touch transactions and entries (the
migration's triggers refuse the rest); accounts cache their balance, updated in the
same transaction as the entries that move it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.domain.ledger import (
    CURSOR_PATTERN,
    MAX_AMOUNT,
    PLATFORM_ACCOUNT,
    WORLD_ACCOUNT,
    AccountKind,
    Balances,
    Posting,
    Settlement,
    TransactionKind,
    balanced,
    check_amount,
    split_fee,
    user_account,
)
from conveyor.errors import Conflict, PaymentRequired
from conveyor.store.ledger_reads import (
    Audit,
    audit,
    balances,
    decode_cursor,
    encode_cursor,
    list_movements,
)
from conveyor.store.schema import ledger_accounts, ledger_entries, ledger_transactions

__all__ = [
    "Audit",
    "Balances",
    "ChunkEnd",
    "Settlement",
    "audit",
    "balances",
    "decode_cursor",
    "deposit",
    "encode_cursor",
    "grant_initial",
    "list_movements",
    "release",
    "reserve",
    "settle",
    "settle_ends",
    "was_used",
    "withdraw",
]

AVAILABLE, RESERVED, EARNED = AccountKind.AVAILABLE, AccountKind.RESERVED, AccountKind.EARNED
CURSOR = re.compile(CURSOR_PATTERN)


async def reserve(conn: AsyncConnection, *, user_id: str, amount: int, ref: str) -> None:
    """Move ``amount`` from the user's available balance to its reserved one (a job's budget)."""
    await _between(conn, TransactionKind.RESERVE, ref, user_id, AVAILABLE, RESERVED, amount)


async def settle(
    conn: AsyncConnection,
    *,
    customer_id: str,
    earner_id: str | None,
    amount: int,
    fee_percent: int,
    ref: str,
) -> Settlement:
    """Pay ``amount`` out of the customer's reservation: the fee to the platform, the
    rest to the earner. Without an earner (a node no user owns) all of it goes to the
    platform, which is then the one that earned it."""
    split = split_fee(amount, fee_percent)
    end = ChunkEnd(
        customer_id, amount, ref, paid=True, fee_percent=fee_percent, earner_id=earner_id
    )
    await settle_ends(conn, [end])
    return split if earner_id is not None else Settlement(earned=0, fee=amount)


async def release(conn: AsyncConnection, *, user_id: str, amount: int, ref: str) -> None:
    """Give a reservation back to the available balance (a failed chunk, a cancellation)."""
    await settle_ends(conn, [ChunkEnd(user_id, amount, ref, paid=False)])


@dataclass(frozen=True, slots=True)
class ChunkEnd:
    """What one ended chunk does to its price: settled to ``earner_id`` (None: the
    platform) minus ``fee_percent`` when ``paid``, otherwise released to the customer."""

    customer_id: str
    amount: int
    ref: str
    paid: bool
    fee_percent: int = 0
    earner_id: str | None = None


async def settle_ends(conn: AsyncConnection, ends: Sequence[ChunkEnd]) -> None:
    """Every chunk end of a finish batch, each its own ledger transaction (its own ref,
    its own fee rounding), in the same few statements whatever their number: one check
    of the refs, one lock of the accounts, one insert each for the transactions and
    their entries, one balance update. Settling chunk by chunk cost five round trips
    each inside the finish transaction, and made the ledger most of a job's overhead."""
    if not ends:
        return
    drafts = [_chunk_draft(end) for end in ends]
    # No look-up of the refs first: a used one (the second fence, after the chunk's
    # version) is found by the insert, which refuses the whole batch.
    held = await _lock(conn, [account for draft in drafts for account, _ in draft.postings])
    for account, change in _changes(drafts).items():
        if change < 0 and held[account] + change < 0:
            # A used ref explains a short reservation best (it was spent by that ref):
            # looked up here, on the refusal, not on every batch.
            await _refuse_any_used(conn, [(d.kind, d.ref) for d in drafts])
            raise _overdrawn(-change, held[account])
    await _post_all(conn, drafts)


def _chunk_draft(end: ChunkEnd) -> _Draft:
    check_amount(end.amount)
    source = user_account(end.customer_id, RESERVED)
    if not end.paid:
        target = user_account(end.customer_id, AVAILABLE)
        return _Draft(
            TransactionKind.RELEASE, end.ref, [(source, -end.amount), (target, end.amount)]
        )
    if end.earner_id is None:
        postings = [(source, -end.amount), (PLATFORM_ACCOUNT, end.amount)]
        return _Draft(TransactionKind.SETTLE, end.ref, postings)
    split = split_fee(end.amount, end.fee_percent)
    postings = [
        (source, -end.amount),
        (user_account(end.earner_id, EARNED), split.earned),
        (PLATFORM_ACCOUNT, split.fee),
    ]
    return _Draft(TransactionKind.SETTLE, end.ref, [p for p in postings if p[1] != 0])


async def _between(
    conn: AsyncConnection,
    kind: TransactionKind,
    ref: str,
    user_id: str,
    source: AccountKind,
    target: AccountKind,
    amount: int,
) -> None:
    """Move credits between two of one user's accounts; short of them is a 402 when
    spending the available balance and a caller's bug (409) when it is a reservation."""
    check_amount(amount)
    await _refuse_used(conn, kind, ref)
    src, dst = user_account(user_id, source), user_account(user_id, target)
    held = await _lock(conn, [src, dst])
    if held[src] < amount:
        raise _short(amount, held[src]) if source is AVAILABLE else _overdrawn(amount, held[src])
    await _post(conn, kind, ref, [(src, -amount), (dst, amount)])


async def deposit(
    conn: AsyncConnection,
    *,
    user_id: str,
    amount: int,
    ref: str,
    details: dict[str, Any] | None = None,
    kind: TransactionKind = TransactionKind.DEPOSIT,
) -> None:
    """Credits paid in through a provider: from the world to the user's available balance."""
    check_amount(amount)
    await _refuse_used(conn, kind, ref)
    held = await _lock(conn, [user_account(user_id, AVAILABLE), WORLD_ACCOUNT])
    # Every other account is at least zero and they all sum to minus the world's
    # balance: keeping that within 64 bits keeps every balance within 64 bits.
    if held[WORLD_ACCOUNT] - amount < -MAX_AMOUNT:
        raise Conflict(
            "this deposit would take the credits held past 2^63 - 1",
            code="ledger_full",
            details={"held": -held[WORLD_ACCOUNT], "amount": amount},
        )
    postings = [(WORLD_ACCOUNT, -amount), (user_account(user_id, AVAILABLE), amount)]
    await _post(conn, kind, ref, postings, details)


async def grant_initial(conn: AsyncConnection, *, user_id: str, amount: int) -> bool:
    """The starting balance a new user gets once (seed 001's DEV_INITIAL_WALLET);
    False when this user already had it."""
    if await _used(conn, TransactionKind.INITIAL, user_id):
        return False
    await deposit(conn, user_id=user_id, amount=amount, ref=user_id, kind=TransactionKind.INITIAL)
    return True


async def withdraw(
    conn: AsyncConnection,
    *,
    user_id: str,
    amount: int,
    ref: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Credits paid out: earnings first, then the available balance, to the world.
    What is reserved for running work can never be withdrawn."""
    check_amount(amount)
    await _refuse_used(conn, TransactionKind.WITHDRAW, ref)
    earned_id, available_id = user_account(user_id, EARNED), user_account(user_id, AVAILABLE)
    held = await _lock(conn, [earned_id, available_id, WORLD_ACCOUNT])
    withdrawable = held[earned_id] + held[available_id]
    if withdrawable < amount:
        raise _short(amount, withdrawable)
    from_earned = min(held[earned_id], amount)
    postings = [(earned_id, -from_earned), (available_id, from_earned - amount)]
    postings = [p for p in postings if p[1] != 0] + [(WORLD_ACCOUNT, amount)]
    await _post(conn, TransactionKind.WITHDRAW, ref, postings, details)


async def was_used(conn: AsyncConnection, kind: TransactionKind, ref: str) -> bool:
    return await _used(conn, kind, ref)


# --- the one way money moves --------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Draft:
    """A ledger transaction about to be posted."""

    kind: TransactionKind
    ref: str
    postings: list[Posting]
    details: dict[str, Any] | None = None


async def _post(
    conn: AsyncConnection,
    kind: TransactionKind,
    ref: str,
    postings: Sequence[Posting],
    details: dict[str, Any] | None = None,
) -> int:
    return (await _post_all(conn, [_Draft(kind, ref, list(postings), details)]))[0]


async def _post_all(conn: AsyncConnection, drafts: Sequence[_Draft]) -> list[int]:
    """Insert the transactions, their entries and the balances they move: three
    statements for any number of transactions. Their ids, in the drafts' order."""
    for draft in drafts:
        if not balanced(draft.postings):
            raise ValueError(f"unbalanced postings {draft.postings!r}")
    if conn.dialect.name == "postgresql":
        return await _post_in_one(conn, drafts)
    ids = await _insert_transactions(conn, drafts)
    await _post_entries(conn, drafts, ids)
    return ids


def _ids_in_order(drafts: Sequence[_Draft], rows: Any) -> list[int]:
    """The inserted transactions' ids in the drafts' order (RETURNING gives them in
    any); a draft whose ref was already used inserted nothing: ``ledger_duplicate``."""
    ids = {(row.kind, row.ref): int(row.id) for row in rows}
    for d in drafts:
        if (d.kind.value, d.ref) not in ids:
            raise _used_conflict(d.kind, d.ref)
    return [ids[(d.kind.value, d.ref)] for d in drafts]


# PostgreSQL: transactions, entries and balances in one statement, one round trip
# where three were (a finish batch that pays chunks runs it inside its transaction).
# Entries and balance changes are joined to the transactions actually inserted, so
# that a used ref moves nothing even before the refusal rolls everything back. The
# accounts are already row-locked, in id order, by ``_lock``.
_POST_IN_ONE = text(
    """
WITH tx AS (
    INSERT INTO ledger_transactions (kind, ref, details, created_at)
    SELECT t.kind, t.ref, CAST(t.details AS jsonb), CAST(:now AS timestamptz)
    FROM unnest(CAST(:kinds AS text[]), CAST(:refs AS text[]), CAST(:details AS text[]))
        AS t(kind, ref, details)
    ON CONFLICT (kind, ref) DO NOTHING
    RETURNING id, kind, ref
), posting AS (
    SELECT tx.id AS transaction_id, p.account, p.amount
    FROM tx JOIN unnest(
        CAST(:p_kinds AS text[]), CAST(:p_refs AS text[]),
        CAST(:p_accounts AS text[]), CAST(:p_amounts AS bigint[])
    ) AS p(kind, ref, account, amount) ON p.kind = tx.kind AND p.ref = tx.ref
), entries AS (
    INSERT INTO ledger_entries (transaction_id, account_id, amount)
    SELECT transaction_id, account, amount FROM posting
), moved AS (
    UPDATE ledger_accounts SET balance = ledger_accounts.balance + c.change
    FROM (SELECT account, CAST(sum(amount) AS bigint) AS change FROM posting GROUP BY account)
        AS c
    WHERE ledger_accounts.id = c.account
)
SELECT id, kind, ref FROM tx
"""
)


async def _post_in_one(conn: AsyncConnection, drafts: Sequence[_Draft]) -> list[int]:
    postings = [(d, account, amount) for d in drafts for account, amount in d.postings]
    params = {
        "now": datetime.now(UTC),
        "kinds": [d.kind.value for d in drafts],
        "refs": [d.ref for d in drafts],
        "details": [None if d.details is None else json.dumps(d.details) for d in drafts],
        "p_kinds": [d.kind.value for d, _, _ in postings],
        "p_refs": [d.ref for d, _, _ in postings],
        "p_accounts": [account for _, account, _ in postings],
        "p_amounts": [amount for _, _, amount in postings],
    }
    return _ids_in_order(drafts, (await conn.execute(_POST_IN_ONE, params)).all())


async def _insert_transactions(conn: AsyncConnection, drafts: Sequence[_Draft]) -> list[int]:
    """The drafts' transactions, their ids in the drafts' order; a ref already used
    refuses them all (``ledger_duplicate``)."""
    now = datetime.now(UTC)
    rows = [
        {"kind": d.kind.value, "ref": d.ref, "details": d.details, "created_at": now}
        for d in drafts
    ]
    # Matched back by (kind, ref), unique, so the order RETURNING gives them in does
    # not matter. A ref already used (by a concurrent transaction, or never checked
    # before) inserts nothing and comes back missing: refused without the error that
    # would leave a PostgreSQL transaction unusable.
    return _ids_in_order(drafts, await conn.execute(_INSERT_TRANSACTIONS, rows))


async def _post_entries(conn: AsyncConnection, drafts: Sequence[_Draft], order: list[int]) -> None:
    """The drafts' entries, under their transactions' ids, and the balances they move."""
    entries = [
        {"transaction_id": tx_id, "account_id": account, "amount": amount}
        for tx_id, draft in zip(order, drafts, strict=True)
        for account, amount in draft.postings
    ]
    await conn.execute(insert(ledger_entries), entries)
    changes = _changes(drafts)
    change = case(changes, value=ledger_accounts.c.id, else_=0)
    await conn.execute(
        update(ledger_accounts)
        .where(ledger_accounts.c.id.in_(list(changes)))
        .values(balance=ledger_accounts.c.balance + change)
    )


# SQLite's (PostgreSQL posts in one statement, above).
_INSERT_TRANSACTIONS = (
    sqlite_insert(ledger_transactions)
    .on_conflict_do_nothing(index_elements=["kind", "ref"])
    .returning(ledger_transactions.c.id, ledger_transactions.c.kind, ledger_transactions.c.ref)
)


def _changes(drafts: Sequence[_Draft]) -> dict[str, int]:
    """Each account's net change over the drafts."""
    changes: dict[str, int] = {}
    for draft in drafts:
        for account, amount in draft.postings:
            changes[account] = changes.get(account, 0) + amount
    return changes


async def _lock(conn: AsyncConnection, account_ids: Sequence[str]) -> dict[str, int]:
    """Create the accounts if they are new, then row-lock them (in id order, so two
    transactions locking overlapping accounts cannot deadlock) and read their balances.
    SQLite has no row locks; its write transactions are serialised instead."""
    wanted = sorted(set(account_ids))
    held = await _select_for_update(conn, wanted)
    missing = [account for account in wanted if account not in held]
    if missing:
        await _create(conn, missing)
        held = await _select_for_update(conn, wanted)
    return held


async def _select_for_update(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, int]:
    stmt = (
        select(ledger_accounts.c.id, ledger_accounts.c.balance)
        .where(ledger_accounts.c.id.in_(list(ids)))
        .order_by(ledger_accounts.c.id)
        .with_for_update()
    )
    return {row.id: int(row.balance) for row in await conn.execute(stmt)}


async def _create(conn: AsyncConnection, account_ids: Sequence[str]) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    now = datetime.now(UTC)
    rows = [
        {**_describe(account), "id": account, "balance": 0, "created_at": now}
        for account in account_ids
    ]
    await conn.execute(insert(ledger_accounts).values(rows).on_conflict_do_nothing())


def _describe(account_id: str) -> dict[str, str | None]:
    if account_id in (PLATFORM_ACCOUNT, WORLD_ACCOUNT):
        return {"kind": account_id, "user_id": None}
    kind, _, user_id = account_id.partition(":")
    return {"kind": kind, "user_id": user_id}


async def _used(conn: AsyncConnection, kind: TransactionKind, ref: str) -> bool:
    stmt = select(func.count()).where(
        ledger_transactions.c.kind == kind.value, ledger_transactions.c.ref == ref
    )
    return bool((await conn.execute(stmt)).scalar_one())


async def _refuse_used(conn: AsyncConnection, kind: TransactionKind, ref: str) -> None:
    await _refuse_any_used(conn, [(kind, ref)])


async def _refuse_any_used(
    conn: AsyncConnection, refs: Sequence[tuple[TransactionKind, str]]
) -> None:
    """One look-up for all the refs (per kind: the unique index's prefix)."""
    by_kind: dict[TransactionKind, list[str]] = {}
    for kind, ref in refs:
        by_kind.setdefault(kind, []).append(ref)
    tx = ledger_transactions.c
    stmt = (
        select(tx.kind, tx.ref)
        .where(or_(*(and_(tx.kind == k.value, tx.ref.in_(named)) for k, named in by_kind.items())))
        .limit(1)
    )
    used = (await conn.execute(stmt)).first()
    if used is not None:
        raise _used_conflict(TransactionKind(used.kind), str(used.ref))


def _used_conflict(kind: TransactionKind, ref: str) -> Conflict:
    return Conflict(
        f"{kind.value} {ref!r} was already recorded",
        code="ledger_duplicate",
        details={"kind": kind.value, "ref": ref},
    )


def _overdrawn(amount: int, reserved: int) -> Conflict:
    # The caller's own bookkeeping is off: paying or releasing more than it reserved.
    return Conflict(
        "not that much is reserved",
        code="ledger_overdrawn",
        details={"required": amount, "reserved": reserved},
    )


def _short(amount: int, available: int) -> PaymentRequired:
    shortfall = amount - available
    return PaymentRequired(
        f"{amount} credits needed, {available} available ({shortfall} short)",
        details={"required": amount, "available": available, "shortfall": shortfall},
    )
