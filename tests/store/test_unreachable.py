"""Which database failures are "unreachable" (503, retry later) and which are not."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError

from conveyor.errors import Unavailable
from conveyor.store.database import Database, is_unreachable
from tests.server import free_port


def _as_sqlalchemy_raises(error: Exception) -> DBAPIError:
    """The error as asyncpg's dialect hands it over: asyncpg's error wrapped in the
    dialect's DB-API class, wrapped in SQLAlchemy's."""
    wrapped = AsyncAdapt_asyncpg_dbapi.Error(str(error), error)
    return DBAPIError.instance("SELECT 1", {}, wrapped, AsyncAdapt_asyncpg_dbapi.Error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.ConnectionFailureError("connection failure"),
    ],
)
def test_a_server_that_cannot_serve_is_unreachable(error: Exception) -> None:
    assert is_unreachable(_as_sqlalchemy_raises(error))


def test_a_refused_statement_is_not_unreachable() -> None:
    assert not is_unreachable(_as_sqlalchemy_raises(asyncpg.UniqueViolationError("dup")))
    assert not is_unreachable(ValueError("not a database error"))


async def test_a_database_nobody_listens_for_is_unavailable() -> None:
    # A real connect to a closed port: asyncpg raises a bare ConnectionRefusedError.
    db = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none")
    try:
        with pytest.raises(Unavailable):
            async with db.read():
                pass
        assert not await db.ping()
    finally:
        await db.dispose()
