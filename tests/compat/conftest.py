"""A real server with every seed profile on, on SQLite and on PostgreSQL in turn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.server import Api, serve_api
from tests.server import test_settings as make_settings

API_KEY_004 = "tracker-key-" + "k" * 24
ORIGIN = "https://app.example"
PROFILES = {
    "compat_profiles": "000,001,002,003,004",
    "compat_004_api_key": API_KEY_004,
    "cors_origins": ORIGIN,
}


@pytest.fixture
async def compat(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with serve_api(make_settings(database_url, tmp_path, **PROFILES)) as client:
        yield client
