"""A Conveyor server tuned for push tests: quick probes, short timeouts, no backoff."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests import server
from tests.server import Api, serve_api


@pytest.fixture
async def push_api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    settings = server.test_settings(
        database_url,
        tmp_path,
        push_probe_healthy_seconds=0.5,
        push_probe_failing_seconds=0.2,
        push_probe_dead_seconds=0.3,
        push_probe_timeout_seconds=0.5,
        push_request_timeout_seconds=1.0,
        push_unhealthy_after_failures=2,
        push_dead_after_failures=4,
        dispatch_concurrency=16,
    )
    async with serve_api(settings) as client:
        yield client
