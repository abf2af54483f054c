from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from conveyor.settings import normalise_database_url
from conveyor.store.database import Database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(normalise_database_url(database_url), pool_size=12)
    try:
        yield database
    finally:
        await database.dispose()
