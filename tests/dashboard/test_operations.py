"""The admin's operations pages against a real server and real worker processes:
the live charts (their numbers are the server's /admin/stats and /metrics), a node's
page and its actions, and the users list. Each view is screenshotted at desktop and
phone widths and checked with axe-core."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.audit import audit_view
from tests.dashboard.pages import Page, expect, sign_in
from tests.server import ADMIN, Api, wait_until
from tests.worker.procs import TYPES, WorkerProcess, runs

USER_PASSWORD = "user-password-1"


async def stats(server: Api, admin: dict[str, str]) -> dict[str, Any]:
    r = await server.http.get("/admin/stats", headers=admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def metric(server: Api, name: str) -> float:
    return await server.metric(name)


async def stat_value(page: Page, group: str, name: str) -> float:
    raw = await page.locator(f'#{group} [data-stat="{name}"] dd').get_attribute("data-value")
    assert raw not in (None, ""), f"{group}/{name} shows no number"
    return float(raw)


async def chart_total(page: Page, chart: str, column: int) -> float:
    """What a rate chart adds up to: each point's rate times the seconds it covers."""
    rows = page.locator(f'[data-chart="{chart}"] tbody tr')
    total = 0.0
    for i in range(await rows.count()):
        row = rows.nth(i)
        span = float(await row.get_attribute("data-span") or 0)
        value = await row.locator("td").nth(column + 1).get_attribute("data-value")
        total += float(value or 0) * span
    return total


async def test_operations_charts_show_the_servers_numbers(
    page: Page, server: Api, workers: Callable[[str, str], WorkerProcess]
) -> None:
    admin = await server.admin_headers()
    node_id, secret = await server.create_node(admin, node_id="ops-w1", task_types=TYPES)
    # Nothing runs "queued_only": it stays in the queue, one of them delayed.
    for _ in range(3):
        await server.submit(admin, task_type="queued_only")
    await server.submit(admin, task_type="queued_only", delay_seconds=3600)

    await sign_in(page, *ADMIN)
    await page.get_by_role("link", name="Operations").click()
    await expect(page.locator("#admin-panel")).to_be_visible()
    bar = page.locator('[data-chart="queue"] li[data-label="queued_only"]')
    await expect(bar).to_have_attribute("data-value", "4")
    await expect(bar).to_contain_text("1 delayed")
    await expect(page.locator('#stats-tasks [data-stat="completed"] dd')).to_have_text("0")
    # The first sample (nothing finished yet) is drawn before any work starts, so the
    # rates drawn from here on add up to everything the worker finishes.
    await expect(page.locator('[data-chart="oldest"] tbody tr')).not_to_have_count(0)

    r = await server.http.post(
        "/tasks",
        json={
            "tasks": [{"task_type": "echo", "params": {"i": i}} for i in range(6)]
            + [{"task_type": "boom", "max_attempts": 1} for _ in range(2)]
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    workers(node_id, secret)

    async def finished() -> bool:
        by_status = (await stats(server, admin))["tasks"]["by_status"]
        return by_status["completed"] == 6 and by_status["failed"] == 2

    await wait_until(finished, 30, "the worker finished the 8 tasks")
    # Live: the page re-reads within 2 s (and sooner after a firehose event).
    completed = page.locator('#stats-tasks [data-stat="completed"] dd')
    await expect(completed).to_have_text("6", timeout=3000)
    await expect(page.locator('#stats-tasks [data-stat="failed"] dd')).to_have_text("2")

    async def drawn() -> bool:
        completed = await chart_total(page, "throughput", 0)
        failed = await chart_total(page, "throughput", 1)
        return abs(completed - 6) < 1e-6 and abs(failed - 2) < 1e-6

    await wait_until(drawn, 10, "the throughput chart adds up to 6 completed and 2 failed")
    assert float(await page.locator('[data-chart="throughput"]').get_attribute("data-max") or 0) > 0

    # Claims and their latency: the numbers /metrics exposes, once the worker is idle.
    claims = await metric(server, "conveyor_task_claims_total")
    assert claims == 8
    await expect(page.locator('#stats-claims [data-stat="claims"] dd')).to_have_text("8")
    latency_sum = await metric(server, "conveyor_claim_latency_seconds_sum")
    latency_count = await metric(server, "conveyor_claim_latency_seconds_count")
    assert latency_count == 8
    shown = await stat_value(page, "stats-claims", "mean claim latency")
    assert shown == pytest.approx(latency_sum / latency_count)
    # The latency chart drew the claims' mean over the intervals they fell in.
    means = page.locator('[data-chart="latency"] tbody td[data-value]:not([data-value=""])')
    await expect(means.first).to_be_attached()

    # The queue's numbers are /admin/stats' (the echo and boom work is gone from it).
    now = await stats(server, admin)
    (queued,) = now["queue"]["by_type"]
    assert queued["task_type"] == "queued_only" and queued["pending"] == 4
    await expect(page.locator('[data-chart="queue"] li')).to_have_count(1)
    await expect(page.locator('#stats-claims [data-stat="ready to run"] dd')).to_have_text("3")
    oldest = await stat_value(page, "stats-claims", "oldest pending")
    assert abs(oldest - now["queue"]["oldest_pending_age_seconds"]) < 5
    node_row = page.locator('#nodes-body tr[data-node-id="ops-w1"]')
    await expect(node_row).to_contain_text("healthy")
    # A gap in the latency line (no claim in the latest interval) does not blank the
    # readout: it shows the latest mean there was.
    readout = page.locator('[data-chart="latency"] [data-series="latency"]')
    assert float(await readout.get_attribute("data-value") or "nan") > 0
    await audit_view(page, "operations")
    for size in ({"width": 1440, "height": 900}, {"width": 390, "height": 844}):
        await page.set_viewport_size(size)
        # The bar keeps to its track: its figure is never drawn over it.
        drawn_bar = await bar.locator("svg").bounding_box()
        figure = await bar.locator(".bar-value").bounding_box()
        assert drawn_bar is not None and figure is not None
        assert drawn_bar["x"] + drawn_bar["width"] <= figure["x"], (size, drawn_bar, figure)


async def test_admin_drains_a_node_and_no_new_claims_reach_it(
    page: Page, server: Api, workers: Callable[[str, str], WorkerProcess], tmp_path: Path
) -> None:
    admin = await server.admin_headers()
    a_id, a_secret = await server.create_node(admin, node_id="node-a", task_types=TYPES)
    b_id, b_secret = await server.create_node(admin, node_id="node-b", task_types=TYPES)
    workers(a_id, a_secret)

    await sign_in(page, *ADMIN)
    await page.goto("/#/ops")
    await page.locator('#nodes-body tr[data-node-id="node-a"] a').click()
    await expect(page.locator("#node-id")).to_have_text("node-a")
    await expect(page.locator("#node-status")).to_have_text("active")
    await expect(page.locator("#node-health")).to_have_text("healthy")
    before = (await server.http.get("/nodes/node-a", headers=admin)).json()["last_seen"]

    await page.get_by_role("button", name="Drain").click()
    await expect(page.locator("#node-status")).to_have_text("draining")
    await expect(page.get_by_role("button", name="Drain")).to_be_hidden()
    assert (await server.http.get("/nodes/node-a", headers=admin)).json()["status"] == "draining"

    # New work while node-a drains: its worker keeps asking, but only node-b gets any.
    ids = [(await server.submit(admin, task_type="echo"))["task_id"] for _ in range(5)]
    b_worker = workers(b_id, b_secret)

    async def all_done() -> bool:
        states = [(await server.http.get(f"/tasks/{i}", headers=admin)).json() for i in ids]
        return all(s["status"] == "completed" for s in states)

    await wait_until(all_done, 30, "node-b ran the 5 tasks")
    ran_on = {node for event, task, node in runs(tmp_path) if task in ids}
    assert ran_on == {"node-b"}, ran_on

    async def a_polled() -> bool:
        now = (await server.http.get("/nodes/node-a", headers=admin)).json()
        return bool(now["last_seen"] and now["last_seen"] != before)

    await wait_until(a_polled, 10, "node-a's worker still asking for work while drained")
    for task_id in ids:
        history = (await server.http.get(f"/tasks/{task_id}", headers=admin)).json()
        assert history["lease_owner"] in (None, "node-b") and history["attempts"] <= 1
    await audit_view(page, "node-detail")

    # Enabled again, with node-b gone, new work reaches node-a.
    b_worker.proc.send_signal(signal.SIGTERM)
    assert await b_worker.wait_exit(15) == 0
    await page.get_by_role("button", name="Enable").click()
    await expect(page.locator("#node-status")).to_have_text("active")
    again = (await server.submit(admin, task_type="echo"))["task_id"]

    async def ran_on_a() -> bool:
        return ("run", again, "node-a") in runs(tmp_path)

    await wait_until(ran_on_a, 20, "node-a took work again once enabled")

    # A new secret, shown once; the old one stops working at once.
    await page.get_by_role("button", name="Rotate secret").click()
    secret = page.locator("#node-secret")
    await expect(secret).not_to_have_text("")
    new_secret = await secret.text_content()
    assert new_secret and new_secret != a_secret
    old = await server.http.post(
        "/auth/node/login", json={"node_id": "node-a", "node_secret": a_secret}
    )
    assert old.status_code == 401, old.text
    fresh = await server.http.post(
        "/auth/node/login", json={"node_id": "node-a", "node_secret": new_secret}
    )
    assert fresh.status_code == 200, fresh.text
    await page.get_by_role("button", name="Disable").click()
    await expect(page.locator("#node-status")).to_have_text("disabled")
    await audit_view(page, "node-secret-shown")
    await page.reload()
    await expect(page.locator("#node-status")).to_have_text("disabled")
    await expect(page.locator("#node-secret-box")).to_be_hidden()

    # Delete asks first, in the page; keeping it changes nothing.
    await page.get_by_role("button", name="Delete…").click()
    await expect(page.locator("#node-confirm")).to_be_visible()
    await page.get_by_role("button", name="Keep it").click()
    await expect(page.locator("#node-confirm")).to_be_hidden()
    assert (await server.http.get("/nodes/node-a", headers=admin)).status_code == 200
    await page.get_by_role("button", name="Delete…").click()
    await page.get_by_role("button", name="Delete node").click()
    await expect(page).to_have_url(server.base_url + "/#/ops")
    await expect(page.locator("#notice")).to_contain_text("Deleted node node-a")
    await expect(page.locator('#nodes-body tr[data-node-id="node-b"]')).to_be_visible()
    await expect(page.locator('#nodes-body tr[data-node-id="node-a"]')).to_have_count(0)
    assert (await server.http.get("/nodes/node-a", headers=admin)).status_code == 404


async def test_admin_disables_users_and_changes_roles(page: Page, server: Api) -> None:
    await server.user_headers("alice", USER_PASSWORD)
    await server.user_headers("bob", USER_PASSWORD)
    admin = await server.admin_headers()

    await sign_in(page, *ADMIN)
    await page.get_by_role("link", name="Users").click()
    alice = page.locator('#users-body tr[data-username="alice"]')
    await expect(alice).to_contain_text("enabled")
    await alice.get_by_role("button", name="Disable alice").click()
    await expect(alice).to_contain_text("disabled")
    refused = await server.http.post(
        "/auth/login", json={"username": "alice", "password": USER_PASSWORD}
    )
    assert refused.status_code in (401, 403), refused.text
    await alice.get_by_role("button", name="Enable alice").click()
    await expect(alice).to_contain_text("enabled")
    await server.login("alice", USER_PASSWORD)

    bob = page.locator('#users-body tr[data-username="bob"]')
    await bob.get_by_role("button", name="Make admin: bob").click()
    await expect(bob.locator(".col-role")).to_have_text("admin")
    users = (await server.http.get("/admin/users", headers=admin)).json()["users"]
    assert {u["username"]: u["role"] for u in users}["bob"] == "admin"
    await bob.get_by_role("button", name="Make user: bob").click()
    await expect(bob.locator(".col-role")).to_have_text("user")

    # The last admin cannot demote itself: the API's reason is shown, nothing changes.
    me = page.locator(f'#users-body tr[data-username="{ADMIN[0]}"]')
    await me.get_by_role("button", name=f"Make user: {ADMIN[0]}").click()
    r = await server.http.patch(
        f"/admin/users/{await me.get_attribute('data-user-id')}",
        json={"role": "user"},
        headers=admin,
    )
    assert r.status_code == 409, r.text
    await expect(page.locator("#users-error")).to_have_text(r.json()["error"]["message"])
    await expect(me.locator(".col-role")).to_have_text("admin")
    await audit_view(page, "users")

    await page.goto("/#/nodes/no-such-node")
    await expect(page.locator("#node-error")).to_contain_text("no-such-node")
    await expect(page.locator("#node-body")).to_be_hidden()
    await audit_view(page, "node-not-found")
