"""Shared fixtures: which real services this machine has, and fresh databases on them.

PostgreSQL and Redis cases skip with a clear reason when the server is not there,
except in CI (``CI=true``) or with ``CONVEYOR_REQUIRE_SERVICES=1``, where a missing
server is a failure: CI must never pass by skipping the PostgreSQL half.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

PG_HOST = os.environ.get("CONVEYOR_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CONVEYOR_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("CONVEYOR_TEST_PG_USER", "postgres")
REDIS_URL = os.environ.get("CONVEYOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def services_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get(
        "CONVEYOR_REQUIRE_SERVICES", ""
    ) in {"1", "true"}


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if _port_open(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if services_required():
        pytest.fail(f"{message}, and CI requires it", pytrace=False)
    pytest.skip(f"{message}; the {name} cases need a real server")


def pg_dsn(database: str) -> str:
    """A plain libpq-style DSN (asyncpg accepts it; Settings maps it to SQLAlchemy's)."""
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    return pg_dsn("postgres")


@pytest.fixture
async def fresh_pg_database(postgres_server: str) -> AsyncIterator[str]:
    """An empty database of its own, dropped afterwards; yields its DSN."""
    import asyncpg

    name = f"conveyor_t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield pg_dsn(name)
    finally:
        admin = await asyncpg.connect(postgres_server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    host, port = "127.0.0.1", 6379
    require_service("Redis", host, port)
    return REDIS_URL


@pytest.fixture
def unique_prefix() -> str:
    """A key/channel prefix so that parallel runs never see each other's data."""
    return f"conveyor-test:{uuid.uuid4().hex[:10]}:"


# --- databases: the same test on SQLite and on PostgreSQL -----------------------

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def sqlite_factory(tmp_path_factory: pytest.TempPathFactory) -> object:
    from tests.databases import SqliteFactory

    return SqliteFactory(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session")
def postgres_factory() -> Iterator[object]:
    import asyncio

    from tests.databases import PostgresFactory

    require_service("PostgreSQL", PG_HOST, PG_PORT)
    factory = PostgresFactory(pg_dsn("postgres"))
    yield factory
    # Session teardown runs outside any event loop; the template goes in one of its own.
    asyncio.run(factory.close())


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A freshly migrated database of its own, on each backend in turn."""
    if request.param == "sqlite":
        factory = request.getfixturevalue("sqlite_factory")
        yield await factory.new()
        return
    factory = request.getfixturevalue("postgres_factory")
    url = await factory.new()
    try:
        yield url
    finally:
        await factory.drop(url)


@pytest.fixture
async def postgres_url(postgres_factory: object) -> AsyncIterator[str]:
    """A migrated PostgreSQL database, for the cases only PostgreSQL can show."""
    url = await postgres_factory.new()  # type: ignore[attr-defined]
    try:
        yield url
    finally:
        await postgres_factory.drop(url)  # type: ignore[attr-defined]


# --- a running server on each backend ----------------------------------------


@pytest.fixture
async def api(database_url: str, tmp_path: object) -> AsyncIterator[object]:
    """The real app on a real port, on SQLite and on PostgreSQL in turn."""
    from pathlib import Path

    from tests.server import serve_api, test_settings

    settings = test_settings(database_url, Path(str(tmp_path)))
    async with serve_api(settings) as client:
        yield client
