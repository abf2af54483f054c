"""Connections and units of work for both dialects.

Every service call runs in exactly one transaction opened here; nothing else commits.
On SQLite, write transactions start with ``BEGIN IMMEDIATE`` so that two writers
serialise at the start instead of failing with "database is locked" half-way, and an
in-process lock keeps this process's writers from busy-waiting on each other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from conveyor.errors import Unavailable

_IMMEDIATE = "conveyor_immediate"
# SQLSTATEs that say the server, not the statement, is the problem: class 08
# (connection exceptions), and the server shutting down, crashing, starting up
# (``CannotConnectNowError``, which asyncpg's dialect hands over as a plain
# ``DBAPIError``) or out of connection slots.
_UNREACHABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
# A pooled connection idle longer than this is pinged before use (it may have been
# cut by a database restart or a proxy); a busy pool is never pinged, since a ping
# on every checkout costs a round trip per transaction.
IDLE_PING_SECONDS = 2.0
# asyncpg waits a minute for a connection by default; a database host that drops
# packets would hold every request (and /readyz) that long instead of failing fast.
CONNECT_TIMEOUT_SECONDS = 5.0

# Services name the connection type through the store, never through SQLAlchemy.
Connection = AsyncConnection


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        self.engine = _create_engine(url, self.dialect, pool_size, echo)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction, committed when the block ends without error."""
        if self._write_lock is None:
            async with self._transaction(immediate=False) as conn:
                yield conn
            return
        async with self._write_lock, self._transaction(immediate=True) as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self._transaction(immediate=False) as conn:
            yield conn

    @asynccontextmanager
    async def single_statement(self) -> AsyncIterator[AsyncConnection]:
        """A PostgreSQL connection without BEGIN/COMMIT, for a unit of work that is one
        statement: the statement is its own transaction, committed (durably) before
        it returns, so the two round trips a transaction adds are saved."""
        assert self.is_postgres, "SQLite writers go through write()"
        async with self._transaction(immediate=False, autocommit=True) as conn:
            yield conn

    @asynccontextmanager
    async def _transaction(
        self, *, immediate: bool, autocommit: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        """Every unit of work passes here, so a database that cannot be reached
        becomes ``Unavailable`` (503) for every route and duty alike."""
        begun = False
        try:
            async with self.engine.connect() as conn:
                if immediate:
                    conn = await conn.execution_options(**{_IMMEDIATE: True})
                if autocommit:
                    conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    begun = True
                    yield conn
                    return
                async with conn.begin():
                    begun = True
                    yield conn
        except DBAPIError as exc:
            if is_unreachable(exc):
                raise Unavailable("the database is unreachable") from exc
            raise
        except OSError as exc:
            # asyncpg's connect raises bare socket errors (ConnectionRefusedError, a
            # timeout), which SQLAlchemy passes through unwrapped. Once the
            # transaction has begun, an OSError is the caller's own (a file write).
            if not begun:
                raise Unavailable("the database is unreachable") from exc
            raise

    async def ping(self) -> bool:
        try:
            async with self.read() as conn:
                await conn.exec_driver_sql("SELECT 1")
            return True
        except (Unavailable, DBAPIError, OSError):
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


def is_unreachable(exc: BaseException) -> bool:
    """Whether a failure means the database cannot be reached (as opposed to a
    statement it refused): the caller may retry later and it may work."""
    if isinstance(exc, OSError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(sqlstate, str) and (
        sqlstate.startswith("08") or sqlstate in _UNREACHABLE_SQLSTATES
    ):
        return True
    return isinstance(orig, OSError) or isinstance(getattr(orig, "__cause__", None), OSError)


def _create_engine(url: str, dialect: str, pool_size: int, echo: bool) -> AsyncEngine:
    # Statement parameters never reach logs or error messages: they carry password
    # and secret hashes, tokens' session ids and customers' data.
    if dialect != "sqlite":
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            echo=echo,
            hide_parameters=True,
            connect_args={"timeout": CONNECT_TIMEOUT_SECONDS},
        )
        _ping_when_idle(engine)
        return engine
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, echo=echo, hide_parameters=True, connect_args={"timeout": 30})
    _configure_sqlite(engine)
    return engine


def _ping_when_idle(engine: AsyncEngine) -> None:
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool reconnects and retries; every older connection is dropped too,
            # since a dead one usually means the server restarted.
            raise InvalidatePoolError("stale connection") from exc


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
