"""What a provider's nodes do and earn, read for the dashboard's provider view.

Reads only, from indexes the hot paths keep anyway: running work from the partial
index on in-progress tasks by ``lease_owner``, earnings and paid chunks from the
ledger entries of the user's ``earned`` account (indexed by account and
transaction). Nothing here is called by a claim, a finish or a create.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from conveyor.domain.earnings import Bucket, EarningBucket
from conveyor.domain.ledger import AccountKind, TransactionKind, user_account
from conveyor.domain.states import TaskStatus
from conveyor.store.schema import ledger_entries, ledger_transactions, task_progress, tasks

# SQLite keeps naive UTC text ("2026-12-03 08:59:01.123456"): cut it to the bucket.
_SQLITE_FORMATS: dict[Bucket, str] = {"hour": "%Y-%m-%d %H:00:00", "day": "%Y-%m-%d 00:00:00"}


@dataclass(frozen=True, slots=True)
class RunningRow:
    task_id: str
    task_type: str
    job_id: str | None
    chunk_index: int | None
    node_id: str
    attempts: int
    max_attempts: int
    started_at: datetime | None
    lease_expires_at: datetime | None
    progress: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class PaidRow:
    task_id: str
    earned: int
    paid_at: datetime


@dataclass(frozen=True, slots=True)
class ChunkFacts:
    task_id: str
    task_type: str
    job_id: str | None
    chunk_index: int | None
    node_id: str | None
    status: str
    started_at: datetime | None
    finished_at: datetime | None


def _bucket_of(conn: AsyncConnection, column: Any, bucket: Bucket) -> ColumnElement[Any]:
    if conn.dialect.name == "postgresql":
        # In UTC whatever the session's time zone: buckets must not move with it.
        return func.date_trunc(bucket, func.timezone("UTC", column))
    return func.strftime(_SQLITE_FORMATS[bucket], column)


def _as_utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def earnings(
    conn: AsyncConnection, user_id: str, bucket: Bucket, since: datetime
) -> list[EarningBucket]:
    """Credits the user's nodes were paid per bucket since ``since``: the positive
    ``settle`` entries of its earned account (a withdrawal takes from the same
    account and is not an earning)."""
    tx, entries = ledger_transactions.c, ledger_entries.c
    start = _bucket_of(conn, tx.created_at, bucket).label("start")
    # The window's first transaction id, through the created_at index: the entries
    # are then one range of (account_id, transaction_id), not every payment the
    # account ever had. Exact even though ids and times are not assigned in quite
    # the same order: this is the least id of any transaction in the window, and
    # the created_at condition below still decides each row.
    first_id = select(func.min(tx.id)).where(tx.created_at >= since).scalar_subquery()
    stmt = (
        select(start, func.sum(entries.amount), func.count())
        .select_from(ledger_entries.join(ledger_transactions, tx.id == entries.transaction_id))
        .where(
            entries.account_id == user_account(user_id, AccountKind.EARNED),
            entries.transaction_id >= first_id,
            entries.amount > 0,
            tx.kind == TransactionKind.SETTLE.value,
            tx.created_at >= since,
        )
        .group_by(start)
        .order_by(start)
    )
    return [
        EarningBucket(_as_utc(row[0]), int(row[1]), int(row[2])) for row in await conn.execute(stmt)
    ]


async def latest_paid(conn: AsyncConnection, user_id: str, limit: int) -> list[PaidRow]:
    """The user's latest paid chunks, newest first: one index range, read backwards."""
    tx, entries = ledger_transactions.c, ledger_entries.c
    stmt = (
        select(tx.ref, entries.amount, tx.created_at)
        .select_from(ledger_entries.join(ledger_transactions, tx.id == entries.transaction_id))
        .where(
            entries.account_id == user_account(user_id, AccountKind.EARNED),
            entries.amount > 0,
            tx.kind == TransactionKind.SETTLE.value,
        )
        .order_by(entries.transaction_id.desc())
        .limit(limit)
    )
    return [
        PaidRow(str(row.ref).removeprefix("chunk:"), int(row.amount), row.created_at)
        for row in await conn.execute(stmt)
    ]


async def chunk_facts(conn: AsyncConnection, task_ids: Sequence[str]) -> dict[str, ChunkFacts]:
    """Who ran these tasks and when: never their params or result."""
    if not task_ids:
        return {}
    c = tasks.c
    stmt = select(
        c.id, c.task_type, c.job_id, c.chunk_index, c.lease_owner, c.status,
        c.started_at, c.finished_at,
    ).where(c.id.in_(list(task_ids)))  # fmt: skip
    return {
        row.id: ChunkFacts(
            row.id,
            row.task_type,
            row.job_id,
            row.chunk_index,
            row.lease_owner,
            row.status,
            row.started_at,
            row.finished_at,
        )
        for row in await conn.execute(stmt)
    }


async def running_on(
    conn: AsyncConnection, node_ids: Sequence[str] | None, limit: int
) -> list[RunningRow]:
    """Tasks the nodes hold now (every node's when ``node_ids`` is None), each with
    its latest progress report (the row ``progress_seq`` points at)."""
    if node_ids is not None and not node_ids:
        return []
    c, p = tasks.c, task_progress.c
    stmt = (
        select(
            c.id,
            c.task_type,
            c.job_id,
            c.chunk_index,
            c.lease_owner,
            c.attempts,
            c.max_attempts,
            c.started_at,
            c.lease_expires_at,
            p.data,
        )
        .select_from(
            tasks.outerjoin(task_progress, and_(p.task_id == c.id, p.seq == c.progress_seq))
        )
        .where(c.status == TaskStatus.IN_PROGRESS.value)
        .order_by(c.leased_at.desc(), c.id)
        .limit(limit)
    )
    if node_ids is not None:
        stmt = stmt.where(c.lease_owner.in_(list(node_ids)))
    return [
        RunningRow(
            row.id,
            row.task_type,
            row.job_id,
            row.chunk_index,
            row.lease_owner or "",
            row.attempts,
            row.max_attempts,
            row.started_at,
            row.lease_expires_at,
            row.data,
        )
        for row in await conn.execute(stmt)
    ]
