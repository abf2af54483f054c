"""Used stream tickets: the record that makes a ticket single-use on every replica."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from conveyor.store.database import Connection
from conveyor.store.schema import used_stream_tickets


async def use_once(conn: Connection, jti: str, keep_until: datetime, now: datetime) -> bool:
    """Record ticket ``jti`` as used; False if it already was (on any replica).

    Rows past ``keep_until`` (when their ticket can no longer verify) are dropped on
    the way, so the table holds only the last minute or so of tickets.
    """
    table = used_stream_tickets
    await conn.execute(delete(table).where(table.c.expires_at < now))
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(table).values(jti=jti, expires_at=keep_until).on_conflict_do_nothing()
    return bool((await conn.execute(stmt)).rowcount)
