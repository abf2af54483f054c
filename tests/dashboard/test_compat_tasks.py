"""A task made through a seed profile, seen in the dashboard: same row, live status,
and the ``waiting_for_worker`` notice while no live node could run it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.compat.conftest import API_KEY_004, PROFILES
from tests.conftest import services_required
from tests.dashboard.pages import back_to_list, open_task, row, sign_in
from tests.server import ADMIN, Api, serve_api
from tests.server import test_settings as make_settings

try:
    from playwright.async_api import Page, expect
except ImportError:
    if services_required():
        raise
    pytest.skip("Playwright is not installed; run scripts/setup.sh", allow_module_level=True)

TRACKER = "/compat/004/api/v1/tasks"


@pytest.fixture
async def server(sqlite_factory: object, tmp_path: Path) -> AsyncIterator[Api]:
    url = await sqlite_factory.new()  # type: ignore[attr-defined]
    async with serve_api(make_settings(url, tmp_path, **PROFILES)) as api:
        yield api


async def test_profile_task_in_the_dashboard(page: Page, server: Api) -> None:
    tracker = httpx.AsyncClient(base_url=server.base_url, headers={"X-API-Key": API_KEY_004})
    r = await tracker.post(TRACKER, json={"taskId": "from-004", "taskType": "transcode"})
    assert r.status_code == 201, r.text

    await sign_in(page, *ADMIN)
    await expect(row(page, "from-004").locator(".col-status")).to_have_text("pending")
    await expect(row(page, "from-004").locator(".col-type")).to_have_text("transcode")
    await open_task(page, "from-004")
    await expect(page.locator("#detail-stream")).to_have_text("live")
    await expect(page.locator("#detail-waiting")).to_contain_text("waiting_for_worker")

    r = await tracker.post(TRACKER + "/claim", json={"taskTypes": ["transcode"], "workerId": "w1"})
    assert r.json()["taskId"] == "from-004"
    await expect(page.locator("#detail-status")).to_have_text("in_progress")
    await expect(page.locator("#detail-waiting")).to_be_hidden()
    await expect(page.locator("#detail-node")).to_have_text("w004.w1")
    await back_to_list(page)
    await expect(row(page, "from-004").locator(".col-node")).to_have_text("w004.w1")
    await tracker.aclose()
