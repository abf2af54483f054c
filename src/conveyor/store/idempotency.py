"""Stored first answers for requests that carried an ``Idempotency-Key``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.errors import Conflict
from conveyor.store.schema import idempotency_keys


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_hash: str
    status_code: int
    response: Any


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
        await conn.execute(
            idempotency_keys.insert().values(
                principal_id=principal_id,
                key=key,
                request_hash=stored.request_hash,
                status_code=stored.status_code,
                response=stored.response,
                created_at=now,
            )
        )
    except IntegrityError as exc:
        # Two first requests with one key raced; the loser's work rolls back.
        raise Conflict("a request with this idempotency key is already in flight") from exc


async def purge_before(conn: AsyncConnection, cutoff: datetime) -> int:
    result = await conn.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff)
    )
    return int(result.rowcount or 0)
