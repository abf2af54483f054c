"""The job page after a network drop: its stream comes back with a fresh ticket and
the last event id (``?after=``), and the chunk changes made meanwhile are replayed
into the grid, with no second read of the grid."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from tests.dashboard.pages import sign_in
from tests.dashboard.proxy import CuttableProxy
from tests.jobs.helpers import complete, create_job, fund
from tests.server import Api

if TYPE_CHECKING:
    from playwright.async_api import Page, Request

PASSWORD = "user-password-1"


async def test_the_job_page_resumes_its_stream_after_a_drop(page: Page, server: Api) -> None:
    from playwright.async_api import expect

    name = f"resume-{uuid.uuid4().hex[:6]}"
    owner = await server.user_headers(name, PASSWORD)
    await fund(server, owner, 100)
    admin = await server.admin_headers()
    _, node = await server.new_node(admin, node_id=f"n-{name}", max_concurrency=10)
    job_id = (await create_job(server, owner, items=[1, 2, 3], chunk_size=1))["job_id"]
    urls: list[str] = []

    def seen(request: Request) -> None:
        urls.append(request.url)

    page.on("request", seen)
    proxy = CuttableProxy(int(server.base_url.rsplit(":", 1)[1]))
    async with proxy.serve() as base:
        await sign_in(page, name, PASSWORD, base=base)
        await page.goto(base + f"/#/jobs/{job_id}")
        stream = page.locator("#job-stream")
        await expect(stream).to_have_text("live")
        tasks = sorted(
            (await server.claim(node, max_tasks=3))["tasks"], key=lambda t: t["chunk_index"]
        )
        await expect(page.locator("#chunk-grid li.chunk-in_progress")).to_have_count(3)

        proxy.cut()
        await expect(stream).to_have_text("reconnecting")
        # Changed while the page is cut off: replayed when it is back.
        for task in tasks[:2]:
            assert (await complete(server, node, task)).status_code == 200
        await expect(page.locator("#chunk-grid li.chunk-completed")).to_have_count(2)
        await expect(stream).to_have_text("live")
    events = [u for u in urls if f"/jobs/{job_id}/events" in u]
    assert len(events) >= 2 and "after=" not in events[0]
    assert all("after=" in u for u in events[1:])
    assert sum(f"/jobs/{job_id}/chunks" in u for u in urls) == 1
