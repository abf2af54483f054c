"""A click retried after its answer was lost acts once: the wallet's deposit and a new
job carry an Idempotency-Key that a retry of the same action sends again.

The first request reaches the real server, which commits it; Playwright then drops
the answer (a connection reset), as a flaky network would. The page shows the
network error, the user clicks again, and the server answers with the first outcome.
"""

from __future__ import annotations

import json
import re
import uuid

from tests.dashboard.pages import sign_in
from tests.server import Api

try:
    from playwright.async_api import Page, Response, Route, expect
except ImportError:  # pages.py has skipped the module already
    raise

PASSWORD = "user-password-1"
UNREACHABLE = "The server could not be reached."


class LoseFirstAnswer:
    """A route handler: the first request is served, its answer dropped; the rest pass."""

    def __init__(self) -> None:
        self.keys: list[str | None] = []

    async def __call__(self, route: Route) -> None:
        self.keys.append(route.request.headers.get("idempotency-key"))
        if len(self.keys) == 1:
            served = await route.fetch()
            assert served.status == 201, await served.text()
            await route.abort("connectionreset")
        else:
            await route.continue_()


async def new_user(server: Api, prefix: str) -> tuple[str, dict[str, str]]:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    return name, await server.user_headers(name, PASSWORD)


async def test_a_deposit_retried_after_a_lost_answer_deposits_once(page: Page, server: Api) -> None:
    name, headers = await new_user(server, "retry")
    await sign_in(page, name, PASSWORD)
    await page.goto(server.base_url + "/#/wallet")
    await expect(page.get_by_text("No transactions yet")).to_be_visible()
    lose = LoseFirstAnswer()
    await page.route("**/api/v1/wallet/deposit", lose)

    deposit = page.locator("#deposit-form").get_by_role("button", name="Deposit")
    await page.locator("#deposit-amount").fill("30")
    await deposit.click()
    await expect(page.locator("#deposit-error")).to_have_text(UNREACHABLE)
    # The server did take it: the page just never heard.
    assert (await server.http.get("/wallet", headers=headers)).json()["available"] == 30

    await deposit.click()
    available = page.locator('#wallet-stats [data-stat="available"] dd')
    await expect(available).to_have_text("30")
    await expect(page.locator("#deposit-error")).to_have_text("")
    assert len(lose.keys) == 2 and lose.keys[0] and lose.keys[0] == lose.keys[1]

    # The next deposit is a new action: a new key, and the server credits it.
    await page.locator("#deposit-amount").fill("30")
    await deposit.click()
    await expect(available).to_have_text("60")
    assert len(lose.keys) == 3 and lose.keys[2] and lose.keys[2] != lose.keys[0]
    history = (await server.http.get("/wallet/transactions", headers=headers)).json()
    deposits = [t for t in history["transactions"] if t["kind"] == "deposit"]
    assert [t["available"] for t in deposits] == [30, 30]
    await expect(page.locator("#wallet-history tbody tr")).to_have_count(2)


async def test_a_job_created_again_after_a_lost_answer_is_created_once(
    page: Page, server: Api
) -> None:
    name, headers = await new_user(server, "retry")
    r = await server.http.post("/wallet/deposit", json={"amount": 100}, headers=headers)
    assert r.status_code == 201, r.text
    await sign_in(page, name, PASSWORD)
    await page.goto(server.base_url + "/#/jobs/new")
    dataset = "\n".join(json.dumps({"n": n}) for n in range(4)).encode()
    await page.get_by_label("Dataset (JSON array or JSONL file)").set_input_files(
        {"name": "items.jsonl", "mimeType": "application/x-ndjson", "buffer": dataset}
    )
    await page.get_by_label("Task type", exact=True).fill("slow")
    await page.get_by_label("Items per chunk").fill("2")
    await page.get_by_label("Price per chunk (credits)").fill("10")
    await expect(page.locator("#job-cost")).to_contain_text("4 items → 2 chunks")
    lose = LoseFirstAnswer()
    await page.route("**/api/v1/jobs", lose)
    uploads: list[int] = []

    def on_response(response: Response) -> None:
        if response.request.method == "POST" and response.url.endswith("/api/v1/artifacts"):
            uploads.append(response.status)

    page.on("response", on_response)
    # An expired access token: the upload renews it through session.js like any call.
    await page.evaluate("sessionStorage.setItem('conveyor.access_token', 'expired')")

    create = page.get_by_role("button", name="Create job")
    await create.click()
    await expect(page.locator("#job-error")).to_have_text(UNREACHABLE)
    jobs = (await server.http.get("/jobs", headers=headers)).json()["jobs"]
    assert len(jobs) == 1, "the server made the job; only its answer was lost"

    await create.click()
    await expect(page).to_have_url(re.compile(rf"#/jobs/{jobs[0]['job_id']}$"))
    assert len(lose.keys) == 2 and lose.keys[0] and lose.keys[0] == lose.keys[1]
    assert len((await server.http.get("/jobs", headers=headers)).json()["jobs"]) == 1
    wallet = (await server.http.get("/wallet", headers=headers)).json()
    assert (wallet["available"], wallet["reserved"]) == (80, 20)
    # One upload: refused with the stale token, renewed, sent again; the retry reused it.
    assert uploads == [401, 201]
