"""The dashboard in a real browser against a real server.

The test plays the worker over HTTP while Chromium shows the page; every check on
the page is one of Playwright's auto-waiting ``expect`` assertions, so live updates
are waited for, never slept for.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import services_required
from tests.dashboard.pages import back_to_list, open_task, row, sign_in
from tests.dashboard.proxy import CuttableProxy
from tests.server import ADMIN, Api

try:
    from playwright.async_api import Page, expect
except ImportError:
    if services_required():
        raise
    pytest.skip("Playwright is not installed; run scripts/setup.sh", allow_module_level=True)

USER_PASSWORD = "user-password-1"
XSS = "<img src=x onerror=alert(1)>"


async def error_message(api: Api, path: str, body: dict[str, Any], **kw: Any) -> str:
    """What the API itself says to this request, to compare with what the page shows."""
    r = await api.http.post(path, json=body, **kw)
    assert r.status_code >= 400, r.text
    return str(r.json()["error"]["message"])


async def test_wrong_password_shows_the_api_error_then_admin_sees_the_cluster(
    page: Page, server: Api
) -> None:
    admin = await server.admin_headers()
    await server.create_node(admin, node_id="gpu-1", task_types=["noop"])
    await server.submit(admin, task_type="noop")
    message = await error_message(
        server, "/auth/login", {"username": ADMIN[0], "password": "not-the-password"}
    )

    await sign_in(page, ADMIN[0], "not-the-password")
    await expect(page.locator("#login-error")).to_have_text(message)
    await expect(page.locator("#app-view")).to_be_hidden()

    await page.get_by_label("Password", exact=True).fill(ADMIN[1])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#whoami")).to_have_text(ADMIN[0])
    await expect(page.locator("#tasks-panel")).to_be_visible()
    await page.get_by_role("link", name="Operations").click()
    await expect(page.locator("#admin-panel")).to_be_visible()
    node = page.locator('#nodes-body tr[data-node-id="gpu-1"]')
    await expect(node).to_contain_text("gpu-1")
    await expect(page.locator('#stats-tasks [data-stat="pending"] dd')).to_have_text("1")
    await expect(page.locator('#stats-nodes [data-stat="total"] dd')).to_have_text("1")
    await expect(page.locator("#firehose-state")).to_have_text("live")

    # The token is in this tab's sessionStorage only, never in the address bar.
    stored = await page.evaluate("sessionStorage.getItem('conveyor.access_token')")
    assert stored and stored not in page.url and "token" not in page.url

    await page.get_by_role("button", name="Log out").click()
    await expect(page.locator("#login-view")).to_be_visible()
    await expect(page.locator("#admin-panel")).to_be_hidden()
    assert await page.evaluate("sessionStorage.length") == 0


async def test_user_submits_a_task_and_watches_it_live(page: Page, server: Api) -> None:
    admin = await server.admin_headers()
    user = await server.user_headers("alice", USER_PASSWORD)
    too_deep: dict[str, Any] = {"x": 1}
    for _ in range(40):
        too_deep = {"x": too_deep}
    api_message = await error_message(
        server, "/tasks", {"task_type": "render", "params": too_deep}, headers=user
    )

    await sign_in(page, "alice", USER_PASSWORD)
    await expect(page.locator("#submit-panel")).to_be_visible()
    # A user's header offers no admin pages, and typing one in is refused politely.
    await expect(page.get_by_role("link", name="Operations")).to_be_hidden()
    await page.goto("/#/ops")
    await expect(page.locator("main")).to_contain_text("You need to be an admin")
    await page.get_by_role("link", name="Tasks", exact=True).click()
    await expect(page.locator("#submit-panel")).to_be_visible()
    marker = await page.evaluate("window.__sameDocument = 'yes'")
    assert marker == "yes"

    submit = page.get_by_role("button", name="Submit", exact=True)
    await page.get_by_label("Task type").fill("render")
    await page.get_by_label("Params (JSON object)").fill("{not json")
    await submit.click()
    await expect(page.locator("#submit-error")).to_contain_text("not valid JSON")
    # The server refuses what the browser cannot check; the page shows its message.
    await page.get_by_label("Params (JSON object)").fill(json.dumps(too_deep))
    await submit.click()
    await expect(page.locator("#submit-error")).to_contain_text(api_message)
    await expect(page.locator("#tasks-body tr")).to_have_count(0)

    await page.get_by_label("Params (JSON object)").fill('{"frames": 3}')
    await submit.click()
    await expect(page.locator("#submit-error")).to_have_text("")
    first = page.locator("#tasks-body tr")
    await expect(first).to_have_count(1)
    task_id = await first.get_attribute("data-task-id")
    assert task_id
    stored = (await server.http.get(f"/tasks/{task_id}", headers=user)).json()
    assert stored["params"] == {"frames": 3} and stored["task_type"] == "render"
    await expect(row(page, task_id).locator(".col-status")).to_have_text("pending")
    await expect(row(page, task_id).locator(".col-type")).to_have_text("render")
    await expect(row(page, task_id).get_by_role("button", name="Cancel")).to_be_visible()

    await open_task(page, task_id)
    await expect(page.locator("#detail-id")).to_have_text(task_id)
    await expect(page.locator("#detail-stream")).to_have_text("live")

    _, node = await server.new_node(admin, node_id="w1", task_types=["render"])
    (held,) = (await server.claim(node, task_types=["render"]))["tasks"]
    assert held["task_id"] == task_id
    await expect(page.locator("#detail-status")).to_have_text("in_progress")
    r = await server.http.post(
        f"/tasks/{task_id}/progress", json={"data": {"percent": 50}}, headers=node
    )
    assert r.status_code == 201, r.text
    await expect(page.locator("#detail-percent")).to_have_text("50%")
    await expect(page.locator("#detail-progress")).to_have_js_property("value", 50)
    await expect(page.locator("#detail-log li")).to_have_count(1)
    await expect(page.locator("#detail-log")).to_contain_text('{"percent":50}')

    r = await server.http.post(
        f"/tasks/{task_id}/complete",
        json={"version": held["version"], "result": {"frames_done": 3}},
        headers=node,
    )
    assert r.status_code == 200, r.text
    await expect(page.locator("#detail-status")).to_have_text("completed")
    await expect(page.locator("#detail-result")).to_contain_text('"frames_done": 3')
    await expect(page.locator("#detail-stream")).to_have_text("finished")
    await expect(page.locator("#detail-node")).to_have_text("w1")
    await back_to_list(page)
    await expect(row(page, task_id).locator(".col-status")).to_have_text("completed")
    await expect(row(page, task_id).locator(".col-node")).to_have_text("w1")
    await expect(row(page, task_id).get_by_role("button", name="Cancel")).to_have_count(0)
    # Live, not reloaded: the document is the one the test marked.
    assert await page.evaluate("window.__sameDocument") == "yes"


async def test_the_firehose_updates_rows_live_for_an_admin(page: Page, server: Api) -> None:
    admin = await server.admin_headers()
    user = await server.user_headers("bob", USER_PASSWORD)
    task = await server.submit(user, task_type="crunch")
    task_id = task["task_id"]

    await sign_in(page, *ADMIN)
    status = row(page, task_id).locator(".col-status")
    await expect(status).to_have_text("pending")
    await expect(page.locator("#firehose-state")).to_have_text("live")
    # The browser sees the stream open a moment before the server has subscribed it.
    await server.wait_metric("conveyor_sse_subscribers", 1, "the dashboard's firehose")

    _, node = await server.new_node(admin, node_id="w2", task_types=["crunch"])
    (held,) = (await server.claim(node, task_types=["crunch"]))["tasks"]
    await expect(status).to_have_text("in_progress")
    await expect(row(page, task_id).locator(".col-node")).to_have_text("w2")
    r = await server.http.post(
        f"/tasks/{task_id}/complete", json={"version": held["version"]}, headers=node
    )
    assert r.status_code == 200, r.text
    await expect(status).to_have_text("completed")

    # A task the page never listed shows up when its status changes.
    later = await server.submit(user, task_type="crunch")
    r = await server.http.post(f"/tasks/{later['task_id']}/cancel", headers=user)
    assert r.status_code == 200, r.text
    await expect(row(page, later["task_id"]).locator(".col-status")).to_have_text("cancelled")
    await expect(row(page, later["task_id"]).get_by_role("button", name="Retry")).to_be_visible()
    # The rows moved through the firehose alone: no task stream was opened.
    await expect(page.locator("#detail-panel")).to_be_hidden()


async def test_user_text_is_shown_as_text_never_markup(page: Page, server: Api) -> None:
    admin = await server.admin_headers()
    user = await server.user_headers("mallory", USER_PASSWORD)
    task = await server.submit(user, task_type="xss", params={"note": XSS})
    _, node = await server.new_node(admin, node_id="w3", task_types=["xss"])
    (held,) = (await server.claim(node, task_types=["xss"]))["tasks"]
    r = await server.http.post(
        f"/tasks/{task['task_id']}/progress", json={"data": {"msg": XSS}}, headers=node
    )
    assert r.status_code == 201, r.text
    r = await server.http.post(
        f"/tasks/{task['task_id']}/complete",
        json={"version": held["version"], "result": {"html": XSS}},
        headers=node,
    )
    assert r.status_code == 200, r.text

    await sign_in(page, "mallory", USER_PASSWORD)
    await open_task(page, task["task_id"])
    await expect(page.locator("#detail-params")).to_contain_text(XSS)
    await expect(page.locator("#detail-log")).to_contain_text(XSS)
    await expect(page.locator("#detail-result")).to_contain_text(XSS)
    await expect(page.locator("#detail-stream")).to_have_text("finished")

    await back_to_list(page)
    await page.get_by_label("Task type").fill("xss")
    await page.get_by_label("Params (JSON object)").fill('{"note": "' + XSS + '"}')
    await page.get_by_role("button", name="Submit", exact=True).click()
    await expect(page.locator("#tasks-body tr")).to_have_count(2)
    await expect(page.locator("#notice")).to_contain_text("Submitted task")
    # The text is shown as text: no element came of it anywhere in the page.
    await expect(page.locator("img")).to_have_count(0)


async def test_a_refused_token_is_refreshed_once_then_the_session_ends(
    page: Page, server: Api
) -> None:
    await server.user_headers("carol", USER_PASSWORD)
    await sign_in(page, "carol", USER_PASSWORD)
    await expect(page.locator("#submit-panel")).to_be_visible()
    refresh = await page.evaluate("sessionStorage.getItem('conveyor.refresh_token')")

    # As if the access token had expired: the next call gets a 401, the page spends
    # the refresh token for a new pair and repeats the call.
    await page.evaluate("sessionStorage.setItem('conveyor.access_token', 'expired')")
    await page.get_by_label("Task type").fill("after_refresh")
    await page.get_by_role("button", name="Submit", exact=True).click()
    await expect(page.locator("#tasks-body tr .col-type")).to_have_text("after_refresh")
    assert await page.evaluate("sessionStorage.getItem('conveyor.access_token')") != "expired"
    assert await page.evaluate("sessionStorage.getItem('conveyor.refresh_token')") != refresh

    # When the refresh is refused as well, the page signs out and says why.
    await page.evaluate(
        "sessionStorage.setItem('conveyor.access_token', 'expired');"
        "sessionStorage.setItem('conveyor.refresh_token', 'spent')"
    )
    await page.get_by_role("button", name="Submit", exact=True).click()
    await expect(page.locator("#login-view")).to_be_visible()
    await expect(page.locator("#notice")).to_contain_text("session has expired")
    assert await page.evaluate("sessionStorage.length") == 0


async def test_filters_and_load_more_follow_the_cursor(page: Page, server: Api) -> None:
    user = await server.user_headers("dave", USER_PASSWORD)
    batch = [{"task_type": "bulk", "params": {"i": i}} for i in range(30)]
    batch += [{"task_type": "other", "params": {}} for _ in range(2)]
    r = await server.http.post("/tasks", json={"tasks": batch}, headers=user)
    assert r.status_code == 201, r.text
    cancelled = r.json()["tasks"][-1]["task_id"]
    r = await server.http.post(f"/tasks/{cancelled}/cancel", headers=user)
    assert r.status_code == 200, r.text

    await sign_in(page, "dave", USER_PASSWORD)
    rows = page.locator("#tasks-body tr")
    more = page.get_by_role("button", name="Load more")
    await expect(rows).to_have_count(25)
    await more.click()
    await expect(rows).to_have_count(32)
    await expect(more).to_be_hidden()

    await page.get_by_label("Type", exact=True).fill("other")
    await page.get_by_role("button", name="Apply").click()
    await expect(rows).to_have_count(2)
    await page.get_by_label("Status", exact=True).select_option("cancelled")
    await page.get_by_role("button", name="Apply").click()
    await expect(rows).to_have_count(1)
    await expect(row(page, cancelled).locator(".col-status")).to_have_text("cancelled")

    # Retry from the table: a new pending task, linked to the old one, opened live.
    await row(page, cancelled).get_by_role("button", name="Retry").click()
    await expect(page.locator("#detail-status")).to_have_text("pending")
    retried = await page.locator("#detail-id").text_content()
    assert retried and retried != cancelled
    stored = (await server.http.get(f"/tasks/{retried}", headers=user)).json()
    assert stored["original_task_id"] == cancelled


async def test_streams_come_back_with_fresh_tickets_after_a_network_drop(
    page: Page, server: Api
) -> None:
    admin = await server.admin_headers()
    _, node = await server.new_node(admin, node_id="w4", task_types=["flaky"], max_concurrency=2)
    watched = (await server.submit(admin, task_type="flaky"))["task_id"]
    (held,) = (await server.claim(node, task_types=["flaky"]))["tasks"]
    assert held["task_id"] == watched
    other = (await server.submit(admin, task_type="flaky"))["task_id"]
    proxy = CuttableProxy(int(server.base_url.rsplit(":", 1)[1]))

    async with proxy.serve() as base:
        await sign_in(page, *ADMIN, base=base)
        await expect(page.locator("#firehose-state")).to_have_text("live")
        await open_task(page, watched)
        await expect(page.locator("#detail-stream")).to_have_text("live")
        r = await server.http.post(
            f"/tasks/{watched}/progress", json={"data": {"percent": 10}}, headers=node
        )
        assert r.status_code == 201, r.text
        await expect(page.locator("#detail-percent")).to_have_text("10%")

        proxy.cut()
        await expect(page.locator("#firehose-state")).to_have_text("reconnecting")
        # Changed while the page is cut off: each stream must catch up by itself,
        # with a new ticket (the old ones are spent).
        r = await server.http.post(
            f"/tasks/{watched}/progress", json={"data": {"percent": 20}}, headers=node
        )
        assert r.status_code == 201, r.text
        (second,) = (await server.claim(node, task_types=["flaky"]))["tasks"]
        assert second["task_id"] == other

        await expect(page.locator("#detail-percent")).to_have_text("20%")
        await expect(page.locator("#detail-log li")).to_have_count(2)
        await expect(page.locator("#detail-stream")).to_have_text("live")
        await expect(page.locator("#firehose-state")).to_have_text("live")

        await back_to_list(page)
        status = row(page, other).locator(".col-status")
        await expect(status).to_have_text("in_progress")
        # The list's rows follow the firehose again once it is back, and read anew
        # what changed while it was away.
        proxy.cut()
        await expect(page.locator("#firehose-state")).to_have_text("reconnecting")
        r = await server.http.post(
            f"/tasks/{other}/complete", json={"version": second["version"]}, headers=node
        )
        assert r.status_code == 200, r.text
        await expect(status).to_have_text("completed")
        await expect(page.locator("#firehose-state")).to_have_text("live")
