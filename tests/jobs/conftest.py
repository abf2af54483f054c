from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.jobs.helpers import Ledger


@pytest.fixture
async def books(database_url: str) -> AsyncIterator[Ledger]:
    """Direct reads of the ledger and job tables of the database the server uses."""
    reader = Ledger(database_url)
    try:
        yield reader
    finally:
        await reader.close()
