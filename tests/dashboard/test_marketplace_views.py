"""The customer (jobs), provider and wallet views in Chromium, against a real server
and a real ``conveyor worker`` process on a user-owned node.

- a customer funds its wallet, is told exactly why a job it cannot afford is 402,
  creates the job from an uploaded JSONL dataset and watches the chunk grid fill in
  live: each cell's change is timestamped in the page and compared with the chunk's
  own ``leased_at`` / ``finished_at`` (within 1 s), then downloads the results;
- a provider registers a node in the page (its secret shown once), runs a worker
  with it, sees its running chunks and its earnings rise, and drains the node;
- the wallet deposits, refuses a withdrawal past the balance with the shortfall,
  withdraws, and pages through the history with its cursor.

Each view goes through ``audit_view`` (tests/dashboard/audit.py): screenshots at
1440x900 and 390x844 in ``artifacts/screenshots/`` (git-ignored), no sideways page
scroll on the phone, and no serious or critical axe-core findings at either width.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.dashboard.audit import audit_view
from tests.dashboard.pages import sign_in
from tests.server import Api, wait_until
from tests.worker.procs import REPO, WorkerProcess, start_worker

try:
    from playwright.async_api import Page, expect
except ImportError:  # pages.py has skipped the module already
    raise

PASSWORD = "user-password-1"
Headers = dict[str, str]


async def new_user(api: Api, prefix: str) -> tuple[str, Headers]:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    return name, await api.user_headers(name, PASSWORD)


async def register_node(api: Api, owner: Headers, node_id: str) -> str:
    r = await api.http.post(
        "/nodes",
        json={"name": node_id, "node_id": node_id, "task_types": ["slow"], "max_concurrency": 2},
        headers=owner,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["node_secret"])


def stop(worker: WorkerProcess) -> None:
    if worker.proc.poll() is None:
        worker.proc.send_signal(signal.SIGTERM)
        try:
            worker.proc.wait(15)
        except Exception:
            worker.stop()


def epoch_ms(value: str) -> float:
    return datetime.fromisoformat(value).timestamp() * 1000


# The grid is the view where the database shows: chunks are claimed, leased and
# paid through the ledger, and PostgreSQL does that differently from SQLite.
@pytest.mark.parametrize("server", BACKENDS, indirect=True)
async def test_a_customer_funds_creates_and_watches_the_grid_fill_live(
    page: Page, server: Api, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # The layout is the same whatever the database: audited on the first run only.
    audited = request.node.callspec.params["server"] == BACKENDS[0]

    async def audit(name: str) -> None:
        if audited:
            await audit_view(page, name)

    alice, alice_h = await new_user(server, "alice")
    _, bob_h = await new_user(server, "bob")
    secret = await register_node(server, bob_h, "bobs-box")
    await sign_in(page, alice, PASSWORD)

    await page.goto(server.base_url + "/#/jobs")
    await expect(page.get_by_text("You have no jobs yet.")).to_be_visible()
    await audit("jobs-empty")

    await page.get_by_role("link", name="New job").click()
    await expect(page).to_have_url(re.compile(r"#/jobs/new$"))
    dataset = "\n".join(json.dumps({"n": n}) for n in range(12)).encode()
    await page.get_by_label("Dataset (JSON array or JSONL file)").set_input_files(
        {"name": "items.jsonl", "mimeType": "application/x-ndjson", "buffer": dataset}
    )
    await page.get_by_label("Task type", exact=True).fill("slow")
    await page.get_by_label("Items per chunk").fill("2")
    await page.get_by_label("Slots (chunks at once)").fill("2")
    await page.get_by_label("Price per chunk (credits)").fill("10")
    await page.get_by_label("Required capabilities (labels)").fill("")
    # The cost is known before submitting: 12 items in chunks of 2, 10 credits each.
    await expect(page.locator("#job-cost")).to_contain_text(
        "12 items → 6 chunks \N{MULTIPLICATION SIGN} 10 = 60 credits"
    )
    await expect(page.locator("#job-cost")).to_contain_text("You have 0 credits available")
    await page.get_by_role("button", name="Create job").click()
    error = page.locator("#job-error")
    await expect(error).to_contain_text("needs 60 credits and you have 0 available: 60 short")
    await expect(error.get_by_role("link", name="Deposit credits in your wallet")).to_be_visible()
    await audit("job-new-402")
    r = await server.http.get("/jobs", headers=alice_h)
    assert r.json()["jobs"] == [], "a refused job leaves nothing behind"

    r = await server.http.post("/wallet/deposit", json={"amount": 100}, headers=alice_h)
    assert r.status_code == 201, r.text
    await page.get_by_role("button", name="Create job").click()
    await expect(page).to_have_url(re.compile(r"#/jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]
    cells = page.locator("#chunk-grid li")
    await expect(cells).to_have_count(6)
    await expect(page.locator("#chunk-grid li.chunk-pending")).to_have_count(6)
    await expect(page.locator("#job-stream")).to_have_text("live")
    await expect(page.locator('#job-money [data-stat="reserved"] dd')).to_have_text("60")
    await audit("job-waiting")

    worker = start_worker(server.base_url, "bobs-box", secret, tmp_path, "--concurrency", "2")
    try:
        await expect(page.locator("#chunk-grid li.chunk-in_progress").first).to_be_visible()
        await audit("job-running")
        await expect(page.locator("#job-status")).to_have_text("completed", timeout=40_000)
    finally:
        stop(worker)
    await expect(page.locator("#chunk-grid li.chunk-completed")).to_have_count(6)
    await expect(page.locator('#job-money [data-stat="spent"] dd')).to_have_text("60")
    await expect(page.locator('#job-money [data-stat="reserved"] dd')).to_have_text("0")
    await expect(page.locator("#job-stream")).to_have_text("finished")

    # Each cell changed within 1 s of its chunk: compared with the chunk's own times.
    chunks = (await server.http.get(f"/jobs/{job_id}/chunks", headers=alice_h)).json()["chunks"]
    for chunk in chunks:
        task = (await server.http.get(f"/tasks/{chunk['task_id']}", headers=alice_h)).json()
        cell = page.locator(f'#chunk-grid li[data-index="{chunk["chunk_index"]}"]')
        changes = (("in-progress", task["leased_at"]), ("completed", task["finished_at"]))
        for status, stamp in changes:
            seen = await cell.get_attribute(f"data-at-{status}")
            where = f"chunk {chunk['chunk_index']} {status}"
            assert seen is not None, f"{where} was never shown live"
            lag = float(seen) - epoch_ms(stamp)
            assert -50 <= lag <= 1000, f"{where} shown {lag:.0f} ms after it happened"

    # Hover: the node, attempts and the first items.
    await cells.nth(1).hover()
    tip = page.locator("#chunk-tip")
    await expect(tip).to_contain_text("Chunk 1")
    await expect(tip).to_contain_text("node bobs-box")
    await expect(tip).to_contain_text("runs 1 · failed attempts 0")
    await expect(tip).to_contain_text('{"n":2}')
    # The keyboard reaches the same details: arrows move between squares.
    await cells.nth(1).focus()
    await page.keyboard.press("ArrowRight")
    await expect(cells.nth(2)).to_be_focused()
    await expect(tip).to_contain_text("Chunk 2")
    await expect(tip).to_contain_text('{"n":4}')
    await page.keyboard.press("End")
    await expect(tip).to_contain_text("Chunk 5")
    await audit("job-completed")

    async with page.expect_download() as info:
        await page.get_by_role("button", name="Download results").click()
    download = await info.value
    lines = Path(await download.path()).read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"node": "bobs-box"}] * 6

    await page.goto(server.base_url + "/#/jobs")
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    await expect(row).to_contain_text("completed")
    await expect(row).to_contain_text("6 / 6")
    await expect(row).to_contain_text("60 of 60")
    await audit("jobs-list")


async def test_a_customer_cancels_a_job_and_its_reservation_comes_back(
    page: Page, server: Api
) -> None:
    dave, dave_h = await new_user(server, "dave")
    r = await server.http.post("/wallet/deposit", json={"amount": 50}, headers=dave_h)
    assert r.status_code == 201, r.text
    body = {"task_type": "slow", "items": list(range(9)), "chunk_size": 3,
            "max_concurrency": 1, "price_per_chunk": 5}  # fmt: skip
    r = await server.http.post("/jobs", json=body, headers=dave_h)
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]
    await sign_in(page, dave, PASSWORD)
    await page.goto(server.base_url + f"/#/jobs/{job_id}")
    await expect(page.locator("#chunk-grid li.chunk-pending")).to_have_count(3)
    await expect(page.locator("#job-stream")).to_have_text("live")
    await page.get_by_role("button", name="Cancel job").click()
    await expect(page.locator("#job-status")).to_have_text("cancelled")
    await expect(page.locator("#chunk-grid li.chunk-cancelled")).to_have_count(3)
    await expect(page.locator('#job-money [data-stat="refunded"] dd')).to_have_text("15")
    await expect(page.locator('#job-money [data-stat="reserved"] dd')).to_have_text("0")
    await expect(page.get_by_role("button", name="Cancel job")).to_be_hidden()
    wallet = (await server.http.get("/wallet", headers=dave_h)).json()
    assert (wallet["available"], wallet["reserved"]) == (50, 0)
    await page.get_by_role("link", name="All jobs").click()
    await expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_contain_text("cancelled")

    # A job that is not the caller's (or does not exist) reads as the API says it.
    await page.goto(server.base_url + "/#/jobs/00000000-0000-4000-8000-000000000000")
    await expect(page.locator("#job-page .error")).to_contain_text("not found")
    await expect(page.locator("#job-stream")).to_have_text("offline")
    await audit_view(page, "job-not-found")


async def test_a_code_job_is_created_from_an_array_dataset_and_a_bundle(
    page: Page, server: Api
) -> None:
    erin, erin_h = await new_user(server, "erin")
    r = await server.http.post("/wallet/deposit", json={"amount": 20}, headers=erin_h)
    assert r.status_code == 201, r.text
    await sign_in(page, erin, PASSWORD)
    await page.goto(server.base_url + "/#/jobs/new")
    items = json.dumps([{"word": w} for w in ["a", "b", "c", "d", "e"]]).encode()
    await page.get_by_label("Dataset (JSON array or JSONL file)").set_input_files(
        {"name": "words.json", "mimeType": "application/json", "buffer": items}
    )
    await page.get_by_label("My code").check()
    await expect(page.get_by_label("Task type", exact=True)).to_be_hidden()
    code = b"import json, sys\nprint(json.dumps([len(i['word']) for i in json.load(sys.stdin)]))\n"
    await page.get_by_label("Code bundle (.py, .js or .zip)").set_input_files(
        {"name": "main.py", "mimeType": "text/x-python", "buffer": code}
    )
    await page.get_by_label("Items per chunk").fill("2")
    await page.get_by_label("Price per chunk (credits)").fill("3")
    await page.get_by_label("Required capabilities (labels)").fill("gpu")
    await page.get_by_role("button", name="Create job").click()
    await expect(page.locator("#job-error")).to_contain_text('"gpu" is not key=value')
    await page.get_by_label("Required capabilities (labels)").fill("region=eu")
    await expect(page.locator("#job-cost")).to_contain_text("5 items → 3 chunks")
    await expect(page.locator("#job-cost")).to_contain_text("= 9 credits")
    await page.get_by_role("button", name="Create job").click()
    await expect(page).to_have_url(re.compile(r"#/jobs/[0-9a-f-]{36}$"))
    job = (await server.http.get(f"/jobs/{page.url.rsplit('/', 1)[1]}", headers=erin_h)).json()
    assert (job["runtime"], job["chunk_count"], job["required_labels"]) == (
        "python",
        3,
        {"region": "eu", "runtime:python": "true"},
    )
    await expect(page.locator("#job-page")).to_contain_text("(python code)")
    await expect(page.locator("#chunk-grid li")).to_have_count(3)


async def test_a_provider_registers_a_node_and_sees_its_earnings_rise(
    page: Page, server: Api, tmp_path: Path
) -> None:
    bob, bob_h = await new_user(server, "bob")
    _, alice_h = await new_user(server, "alice")
    await sign_in(page, bob, PASSWORD)
    await page.goto(server.base_url + "/#/provider")
    await expect(page.get_by_text("You have no nodes yet.")).to_be_visible()
    await expect(page.get_by_text("Your nodes are not running anything right now.")).to_be_visible()
    await expect(page.locator('[data-stat="earned-now"] dd')).to_have_text("0")
    await audit_view(page, "provider-empty")

    await page.get_by_label("Name", exact=True).fill("bob's box")
    await page.get_by_label("Task types (comma separated)").fill("slow")
    await page.get_by_label("Capacity (tasks at once)").fill("2")
    await page.get_by_role("button", name="Register node").click()
    await expect(page.locator("#node-secret-box")).to_contain_text("shown only this once")
    node_id = await page.locator("#new-node-id").inner_text()
    secret = await page.locator("#new-node-secret").inner_text()
    node_row = page.locator(f'tr[data-node-id="{node_id}"]')
    await expect(node_row).to_contain_text("active")
    await audit_view(page, "provider-registered")

    r = await server.http.post("/wallet/deposit", json={"amount": 100}, headers=alice_h)
    assert r.status_code == 201, r.text
    body = {"task_type": "slow", "items": list(range(8)), "chunk_size": 2,
            "max_concurrency": 2, "price_per_chunk": 10}  # fmt: skip
    r = await server.http.post("/jobs", json=body, headers=alice_h)
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]
    worker = start_worker(server.base_url, node_id, secret, tmp_path, "--concurrency", "2")
    try:
        running = page.locator("#provider-running tbody tr")
        await expect(running.first).to_contain_text(node_id)
        await audit_view(page, "provider-running")
        # 10 credits a chunk less the 10 % fee: 9 each, rising as chunks complete.
        earned = page.locator('[data-stat="earned-balance"] dd')
        await expect(earned).not_to_have_text("0")
        await expect(earned).to_have_text("36", timeout=30_000)
        await expect(page.locator('[data-stat="earned-total"] dd')).to_have_text("36")

        async def finished() -> bool:
            got = (await server.http.get(f"/jobs/{job_id}", headers=alice_h)).json()
            return bool(got["status"] == "completed")

        await wait_until(finished, 20, "the job completed")
    finally:
        stop(worker)
    await expect(page.locator("#provider-paid tbody tr")).to_have_count(4)
    await expect(page.locator("#provider-paid tbody tr").first).to_contain_text("9 credits")
    assert await page.locator(".earnings-chart rect.bar-earned").count() == 24

    await node_row.get_by_role("button", name=re.compile("^Drain")).click()
    await expect(node_row).to_contain_text("draining")
    node = (await server.http.get(f"/nodes/{node_id}", headers=bob_h)).json()
    assert node["status"] == "draining"
    await audit_view(page, "provider-earned")


async def test_the_wallet_deposits_withdraws_and_pages_its_history(page: Page, server: Api) -> None:
    carol, carol_h = await new_user(server, "carol")
    await sign_in(page, carol, PASSWORD)
    await page.goto(server.base_url + "/#/wallet")
    await expect(page.get_by_text("No transactions yet")).to_be_visible()
    await audit_view(page, "wallet-empty")

    await page.get_by_label("Amount (credits)").first.fill("30")
    await page.locator("#deposit-form").get_by_role("button", name="Deposit").click()
    available = page.locator('#wallet-stats [data-stat="available"] dd')
    await expect(available).to_have_text("30")
    await expect(page.locator("#wallet-history tbody tr")).to_have_count(1)

    await page.locator("#withdraw-amount").fill("45")
    await page.locator("#withdraw-form").get_by_role("button", name="Withdraw").click()
    await expect(page.locator("#withdraw-error")).to_contain_text("at most 30 credits")
    await expect(page.locator("#withdraw-error")).to_contain_text("15 short")
    await expect(available).to_have_text("30")
    await page.locator("#withdraw-amount").fill("12")
    await page.locator("#withdraw-form").get_by_role("button", name="Withdraw").click()
    await expect(available).to_have_text("18")
    await expect(page.locator("#wallet-history tbody tr").first).to_contain_text("Withdrawal")

    for amount in range(1, 24):
        r = await server.http.post("/wallet/deposit", json={"amount": amount}, headers=carol_h)
        assert r.status_code == 201, r.text
    await page.reload()
    rows = page.locator("#wallet-history tbody tr")
    await expect(rows).to_have_count(20)
    await expect(rows.first).to_contain_text("+23")
    await audit_view(page, "wallet")
    await page.get_by_role("button", name="Load older").click()
    await expect(rows).to_have_count(25)
    await expect(page.get_by_role("button", name="Load older")).to_be_hidden()
    ids = [int(v) for v in await rows.evaluate_all("rs => rs.map(r => r.dataset.transactionId)")]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 25
    await expect(rows.last).to_contain_text("+30")


@pytest.fixture(autouse=True)
def _screenshots_are_ignored() -> None:
    probe = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", "-q", "artifacts/screenshots/probe.png"],
        check=False,
    )
    assert probe.returncode == 0, "screenshots must stay out of git"
