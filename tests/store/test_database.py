"""The connection pool survives PostgreSQL dropping its connections (a restart, a
proxy's idle timeout) without a failed request, and without pinging a busy pool."""

from __future__ import annotations

import asyncpg
import pytest

from conveyor.settings import normalise_database_url
from conveyor.store import database as database_module
from conveyor.store.database import Database
from tests.conftest import pg_dsn


async def _backend_pids(db: Database, count: int) -> set[int]:
    """Check out ``count`` connections at once so the pool holds that many."""
    conns = [await db.engine.connect() for _ in range(count)]
    try:
        pids = set()
        for conn in conns:
            result = await conn.exec_driver_sql("SELECT pg_backend_pid()")
            pids.add(int(result.scalar_one()))
            await conn.rollback()
        return pids
    finally:
        for conn in conns:
            await conn.close()


async def test_idle_connections_cut_by_the_server_are_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(normalise_database_url(postgres_url), pool_size=3)
    try:
        pids = await _backend_pids(db, 3)
        admin = await asyncpg.connect(pg_dsn("postgres"))
        try:
            for pid in pids:
                assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        # Every pooled connection is now dead and counts as idle.
        monkeypatch.setattr(database_module, "IDLE_PING_SECONDS", 0.0)
        for _ in range(5):
            async with db.read() as conn:
                result = await conn.exec_driver_sql("SELECT pg_backend_pid()")
                assert int(result.scalar_one()) not in pids
    finally:
        await db.dispose()


async def test_a_busy_pool_is_not_pinged(postgres_url: str) -> None:
    db = Database(normalise_database_url(postgres_url), pool_size=2)
    pings = 0
    real_ping = db.engine.sync_engine.dialect.do_ping

    def counting_ping(dbapi_connection: object) -> bool:
        nonlocal pings
        pings += 1
        return bool(real_ping(dbapi_connection))

    db.engine.sync_engine.dialect.do_ping = counting_ping  # type: ignore[method-assign]
    try:
        for _ in range(20):
            async with db.read() as conn:
                await conn.exec_driver_sql("SELECT 1")
        assert pings == 0
    finally:
        await db.dispose()
