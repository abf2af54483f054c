"""Used stream tickets: the record that makes a ticket single-use on every replica."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from conveyor.store.database import Connection
from conveyor.store.schema import used_stream_tickets


async def use_once(conn: Connection, jti: str, keep_until: datetime) -> bool:
    """Record ticket ``jti`` as used; False if it already was (on any replica).

    The row must outlive the ticket (``keep_until``): ``purge_expired`` drops it
    only once the ticket itself could no longer verify.
    """
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(used_stream_tickets).values(jti=jti, expires_at=keep_until)
    return bool((await conn.execute(stmt.on_conflict_do_nothing())).rowcount)


async def purge_expired(conn: Connection, now: datetime) -> int:
    table = used_stream_tickets
    result = await conn.execute(delete(table).where(table.c.expires_at < now))
    return int(result.rowcount or 0)
