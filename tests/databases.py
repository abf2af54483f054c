"""Databases for tests: every store test runs on SQLite and on PostgreSQL.

SQLite: a migrated template file is made once per session and copied per test.
PostgreSQL: a migrated template database is made once per session; each test gets
its own ``CREATE DATABASE … TEMPLATE`` clone, so tests that commit, race or start
server subprocesses never see each other's rows.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

import asyncpg

from conveyor.settings import normalise_database_url
from conveyor.store.database import Database
from conveyor.store.migrate import upgrade
from tests.conftest import pg_dsn


async def migrate(url: str) -> None:
    db = Database(normalise_database_url(url))
    try:
        await upgrade(db)
    finally:
        await db.dispose()


class SqliteFactory:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = root / "template.db"
        self._lock = asyncio.Lock()

    async def new(self) -> str:
        async with self._lock:
            if not self.template.exists():
                await migrate(f"sqlite:///{self.template}")
        target = self.root / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(self.template, target)
        return f"sqlite:///{target}"


class PostgresFactory:
    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self.template = f"conveyor_tmpl_{uuid.uuid4().hex[:10]}"
        self.created: list[str] = []
        self._ready = False
        self._lock = asyncio.Lock()

    async def _ensure_template(self) -> None:
        async with self._lock:
            if self._ready:
                return
            await self._admin(f'CREATE DATABASE "{self.template}"')
            await migrate(pg_dsn(self.template))
            self._ready = True

    async def new(self) -> str:
        await self._ensure_template()
        name = f"conveyor_t_{uuid.uuid4().hex[:12]}"
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return pg_dsn(name)

    async def drop(self, dsn: str) -> None:
        name = dsn.rsplit("/", 1)[1]
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def close(self) -> None:
        if self._ready:
            await self._admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
