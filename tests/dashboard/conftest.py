"""Browser fixtures: Debian's Chromium driven by Playwright, and a real server.

Playwright never downloads a browser here: the tests use ``/usr/bin/chromium``
(``scripts/setup.sh`` installs it with apt-get). Without it the browser cases skip,
except in CI (``CI=true``) or with ``CONVEYOR_REQUIRE_SERVICES=1``, where they fail.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from tests.conftest import services_required
from tests.server import Api, serve_api, test_settings
from tests.worker.procs import WorkerProcess, start_worker

if TYPE_CHECKING:
    from playwright.async_api import Browser, ConsoleMessage, Dialog, Page

CHROMIUM = Path(os.environ.get("CONVEYOR_TEST_CHROMIUM", "/usr/bin/chromium"))
# Playwright's expect() polls up to this long; live updates arrive in milliseconds.
EXPECT_TIMEOUT_MS = 10_000


def unavailable(message: str) -> NoReturn:
    if services_required():
        pytest.fail(f"{message}, and CI requires the browser tests", pytrace=False)
    pytest.skip(f"{message}; run scripts/setup.sh")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    # Imported here so that a virtualenv without Playwright skips these tests (or fails
    # them in CI) instead of breaking the collection of the whole suite.
    try:
        from playwright.async_api import async_playwright, expect
    except ImportError:
        unavailable("Playwright is not installed")
    if not CHROMIUM.exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    """The real app under uvicorn on SQLite: the page only speaks HTTP, so one backend
    is enough for most views. A test whose page depends on what the database does
    (claims, the ledger) also runs on PostgreSQL with
    ``@pytest.mark.parametrize("server", BACKENDS, indirect=True)``."""
    backend = getattr(request, "param", "sqlite")
    factory: Any = request.getfixturevalue(f"{backend}_factory")
    url = await factory.new()
    try:
        async with serve_api(test_settings(url, tmp_path)) as api:
            yield api
    finally:
        if backend == "postgres":
            await factory.drop(url)


@dataclass
class PageProblems:
    """What must never happen in the page: uncaught errors and CSP violations (an
    inline script or style the policy blocked means the page is broken)."""

    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.errors.append(f"CSP: {message.text}")

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"uncaught: {error}")


@pytest.fixture
async def page(browser: Browser, server: Api) -> AsyncIterator[Page]:
    context = await browser.new_context(base_url=server.base_url)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    problems = PageProblems()
    try:
        opened = await context.new_page()
        opened.on("console", problems.on_console)
        opened.on("pageerror", problems.on_page_error)
        dialogs: list[str] = []

        async def on_dialog(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            await dialog.dismiss()

        opened.on("dialog", on_dialog)
        yield opened
        assert not dialogs, f"the page opened dialogs: {dialogs}"
        assert not problems.errors, problems.errors
    finally:
        await context.close()


@pytest.fixture
async def workers(
    server: Api, tmp_path: Path
) -> AsyncIterator[Callable[[str, str], WorkerProcess]]:
    """Starts `conveyor worker` processes for nodes; all are stopped at the end."""
    started: list[WorkerProcess] = []

    def start(node_id: str, secret: str) -> WorkerProcess:
        worker = start_worker(server.base_url, node_id, secret, tmp_path, "--concurrency", "4")
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)
        for worker in started:
            try:
                await worker.wait_exit(15)
            except TimeoutError:
                worker.stop()
