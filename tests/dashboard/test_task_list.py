"""The task list's search (id prefix, type by substring) and its columns, in a real
browser against a real server on SQLite and on PostgreSQL: the filtering is the
server's (``q=`` and ``type_contains=``), so both databases are exercised."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.dashboard.audit import audit_view
from tests.dashboard.pages import Page, expect, row, sign_in
from tests.server import Api, serve_api
from tests.server import test_settings as make_settings

USER_PASSWORD = "user-password-1"


@pytest.fixture
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """Overrides the SQLite-only server of conftest.py: this module runs on both."""
    async with serve_api(make_settings(database_url, tmp_path)) as api:
        yield api


async def test_search_by_id_prefix_and_type_substring_with_every_column(
    page: Page, server: Api
) -> None:
    admin = await server.admin_headers()
    user = await server.user_headers("ivy", USER_PASSWORD)
    await server.submit(user, task_id="img-0001", task_type="resize_image", priority=5)
    await server.submit(user, task_id="img-0002", task_type="Image.thumbnail")
    await server.submit(user, task_id="vid-0001", task_type="transcode")
    later = await server.submit(
        user, task_id="img-later", task_type="resize_image", delay_seconds=3600
    )
    _, node = await server.new_node(admin, node_id="list-w1", task_types=["transcode"])
    (held,) = (await server.claim(node, task_types=["transcode"]))["tasks"]
    r = await server.http.post(
        "/tasks/vid-0001/complete", json={"version": held["version"]}, headers=node
    )
    assert r.status_code == 200, r.text

    await sign_in(page, "ivy", USER_PASSWORD)
    rows = page.locator("#tasks-body tr")
    await expect(rows).to_have_count(4)
    done = row(page, "vid-0001")
    await expect(done.locator(".col-node")).to_have_text("list-w1")
    for column in ("started", "finished", "duration"):
        await expect(done.locator(f".col-{column}")).not_to_have_text("—")
    await expect(row(page, "img-0001").locator(".col-priority")).to_have_text("5")
    # A delayed task says it is waiting, and until when.
    waiting = row(page, "img-later").locator(".col-run-at")
    await expect(waiting).to_contain_text("waits until")
    assert later["run_at"] > later["created_at"]
    await expect(row(page, "img-0001").locator(".col-run-at")).not_to_contain_text("waits")
    await audit_view(page, "tasks-list")

    # A user has no firehose; the list still follows its tasks, within a few seconds.
    _, resizer = await server.new_node(admin, node_id="list-w2", task_types=["resize_image"])
    (claimed,) = (await server.claim(resizer, task_types=["resize_image"]))["tasks"]
    assert claimed["task_id"] == "img-0001"  # the higher priority goes first
    status = row(page, "img-0001").locator(".col-status")
    await expect(status).to_have_text("in_progress", timeout=5000)
    await expect(row(page, "img-0001").locator(".col-node")).to_have_text("list-w2")
    fresh = await server.submit(user, task_id="img-fresh", task_type="resize_image")
    await expect(page.locator("#tasks-body tr").first).to_have_attribute(
        "data-task-id", fresh["task_id"], timeout=5000
    )

    search = page.get_by_label("Task id")
    apply = page.get_by_role("button", name="Apply")
    await search.fill("img-000")
    await apply.click()
    await expect(rows).to_have_count(2)
    await expect(row(page, "img-fresh")).to_have_count(0)
    await search.fill("vid-0001")
    await apply.click()
    await expect(rows).to_have_count(1)
    await expect(row(page, "vid-0001")).to_be_visible()

    await search.fill("")
    await page.get_by_label("Type", exact=True).fill("IMAGE")
    await apply.click()
    await expect(rows).to_have_count(4)
    await search.fill("img-0")
    await page.get_by_label("Type", exact=True).fill("thumb")
    await apply.click()
    await expect(rows).to_have_count(1)
    await expect(row(page, "img-0002")).to_be_visible()

    # What the server would refuse is explained before asking it.
    await search.fill("has space")
    await apply.click()
    await expect(page.locator("#tasks-error")).to_contain_text("A task id is 1-64")
    await expect(search).to_have_attribute("aria-invalid", "true")
    await search.fill("zzz")
    await page.get_by_label("Type", exact=True).fill("")
    await apply.click()
    await expect(page.locator("#tasks-error")).to_have_text("")
    await expect(rows).to_have_count(0)
    await expect(page.locator("#tasks-empty")).to_be_visible()
