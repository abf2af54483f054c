"""Stored first answers for requests that carried an ``Idempotency-Key``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.errors import Conflict
from conveyor.store.schema import idempotency_keys


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_hash: str
    status_code: int
    response: Any


def key_row(principal_id: str, key: str, stored: StoredResponse, now: datetime) -> dict[str, Any]:
    """The row that keeps ``stored`` under the caller's key."""
    return {
        "principal_id": principal_id,
        "key": key,
        "request_hash": stored.request_hash,
        "status_code": stored.status_code,
        "response": stored.response,
        "created_at": now,
    }


async def find(conn: AsyncConnection, principal_id: str, key: str) -> StoredResponse | None:
    stmt = select(idempotency_keys).where(
        idempotency_keys.c.principal_id == principal_id, idempotency_keys.c.key == key
    )
    row = (await conn.execute(stmt)).mappings().first()
    if row is None:
        return None
    return StoredResponse(row["request_hash"], row["status_code"], row["response"])


async def remember(
    conn: AsyncConnection,
    principal_id: str,
    key: str,
    stored: StoredResponse,
    now: datetime,
) -> None:
    """Insert in the same transaction as the work, so the key and its effect land together."""
    try:
        await conn.execute(idempotency_keys.insert(), key_row(principal_id, key, stored, now))
    except IntegrityError as exc:
        # Two first requests with one key raced; the loser's work rolls back.
        raise Conflict("a request with this idempotency key is already in flight") from exc


# Built once per dialect (PostgreSQL: True), values bound at execute.
_INSERT_IF_NEW = {
    postgres: (pg_insert if postgres else sqlite_insert)(idempotency_keys).on_conflict_do_nothing(
        index_elements=["principal_id", "key"]
    )
    for postgres in (False, True)
}


async def insert_if_new(
    conn: AsyncConnection,
    principal_id: str,
    key: str,
    stored: StoredResponse,
    now: datetime,
) -> bool:
    """Keep the first answer under the key unless the key is taken; say which.

    On PostgreSQL a concurrent first request's uncommitted row makes this wait for
    that transaction, then do nothing if it committed: the caller rolls back and
    replays the stored answer, so two racing first requests get one answer."""
    stmt = _INSERT_IF_NEW[conn.dialect.name == "postgresql"]
    return bool((await conn.execute(stmt, key_row(principal_id, key, stored, now))).rowcount)


async def purge_before(conn: AsyncConnection, cutoff: datetime) -> int:
    result = await conn.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff)
    )
    return int(result.rowcount or 0)
