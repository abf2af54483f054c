"""Leader election for periodic duties: exactly one replica runs them at a time.

On PostgreSQL a session-level advisory lock is held on a dedicated connection; if
that connection dies the lock goes with it and another replica takes over at its
next try. A database restart kills it too: the next ``acquire`` finds it dead and
takes the lock again on a new connection. While the database cannot be reached,
``acquire`` raises (the duty runner counts that and retries with backoff) rather
than answering "not leader", which would hide the outage. SQLite is embedded in
one process, which is always the leader.
"""

from __future__ import annotations

import contextlib
import zlib

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.store.database import Database


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock``."""
    return zlib.crc32(f"conveyor:{name}".encode()) - 2**31


class LeaderLock:
    def __init__(self, db: Database, name: str) -> None:
        self._db = db
        self._key = lock_key(name)
        self._conn: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._db.is_sqlite

    async def acquire(self) -> bool:
        """Take or confirm leadership; cheap to call on every tick."""
        if self._db.is_sqlite:
            return True
        if self._conn is not None:
            if await self._still_alive(self._conn):
                return True
            await self._drop()
        conn = await self._db.engine.connect()
        try:
            got = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key})
            ).scalar()
            await conn.commit()
        except BaseException:
            await _close(conn)
            raise
        if got:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def release(self) -> None:
        if self._conn is None:
            return
        try:
            await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            await self._conn.commit()
        except (DBAPIError, OSError):
            pass  # the connection is gone, and the lock with it
        await self._drop()

    async def _still_alive(self, conn: AsyncConnection) -> bool:
        try:
            await conn.execute(text("SELECT 1"))
            await conn.commit()
            return True
        except Exception:
            # Whatever the failure, this connection (and the lock on it) is not to
            # be trusted: the caller drops it and takes the lock anew.
            return False

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await _close(conn)


async def _close(conn: AsyncConnection) -> None:
    """Close a connection that may already be dead, without raising."""
    try:
        await conn.close()
    except Exception:
        # Closing a dead connection fails; dropping it from the pool cannot.
        with contextlib.suppress(Exception):
            await conn.invalidate()
