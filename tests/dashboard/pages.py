"""Steps through the dashboard that several browser tests take."""

from __future__ import annotations

import re

import pytest

from tests.conftest import services_required

try:
    from playwright.async_api import Locator, Page, expect
except ImportError:
    if services_required():
        raise
    # Imported by test modules only: skips the module that imports this one.
    pytest.skip("Playwright is not installed; run scripts/setup.sh", allow_module_level=True)


async def sign_in(page: Page, username: str, password: str, base: str = "") -> None:
    await page.goto(base + "/")
    await page.get_by_label("Username", exact=True).fill(username)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Sign in").click()


def row(page: Page, task_id: str) -> Locator:
    return page.locator(f'#tasks-body tr[data-task-id="{task_id}"]')


async def open_task(page: Page, task_id: str) -> None:
    """From the list to the task's page (#/tasks/<id>), as a user clicks it."""
    await row(page, task_id).locator("a.task-link").click()
    await expect(page).to_have_url(re.compile(rf"#/tasks/{re.escape(task_id)}$"))


async def back_to_list(page: Page) -> None:
    await page.get_by_role("link", name="All tasks").click()
    await expect(page.locator("#tasks-panel")).to_be_visible()
