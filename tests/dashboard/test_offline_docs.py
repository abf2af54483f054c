"""The API docs work with no way out of the machine (issue 16, item 5): Swagger UI at
/docs and ReDoc at /redoc load their assets from the package. Chromium with every
request off the server's own origin refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.server import Api

if TYPE_CHECKING:
    from playwright.async_api import Browser, Route


async def test_swagger_ui_and_redoc_render_offline(browser: Browser, server: Api) -> None:
    from playwright.async_api import expect

    context = await browser.new_context(base_url=server.base_url)
    outside: list[str] = []

    async def only_our_server(route: Route) -> None:
        if route.request.url.startswith(server.base_url):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_our_server)
    try:
        page = await context.new_page()
        await page.goto("/docs")
        # The operations are drawn from /openapi.json by the bundled Swagger UI.
        await expect(page.locator(".opblock").first).to_be_visible()
        assert await page.locator(".opblock").count() > 20
        await expect(page.get_by_text("/api/v1/tasks/{task_id}").first).to_be_visible()

        await page.goto("/redoc")
        await expect(page.locator("h1", has_text="Conveyor").first).to_be_visible()
        await expect(page.get_by_text("/api/v1/tasks/{task_id}").first).to_be_attached()
    finally:
        await context.close()
    assert outside == [], f"the docs reached outside the server: {outside}"
