"""A task's page (#/tasks/<id>) against a real server and a real worker process:
the error with its traceback, who ran each attempt and how it ended, the lineage of
retries both ways, artifacts to download, and the router's own error pages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.dashboard.audit import audit_view
from tests.dashboard.pages import Page, expect, open_task, row, sign_in
from tests.server import ADMIN, Api, wait_until
from tests.worker.procs import TYPES, WorkerProcess

USER_PASSWORD = "user-password-1"


async def test_a_failed_task_shows_its_traceback_attempts_lineage_and_artifacts(
    page: Page, server: Api, workers: Callable[[str, str], WorkerProcess], tmp_path: Path
) -> None:
    admin = await server.admin_headers()
    user = await server.user_headers("erin", USER_PASSWORD)
    task = await server.submit(user, task_type="boom", params={"x": 7}, max_attempts=2)
    task_id = task["task_id"]
    workers(*(await server.create_node(admin, node_id="tp-w1", task_types=TYPES)))

    async def failed() -> bool:
        r = await server.http.get(f"/tasks/{task_id}", headers=user)
        return bool(r.json()["status"] == "failed")

    await wait_until(failed, 30, "the worker failed the task twice")
    stored = (await server.http.get(f"/tasks/{task_id}", headers=user)).json()
    upload = await server.http.post(
        "/artifacts",
        files={"file": ("input.csv", b"a,b\n1,2\n", "text/csv")},
        data={"task_id": task_id},
        headers=user,
    )
    assert upload.status_code == 201, upload.text

    await sign_in(page, "erin", USER_PASSWORD)
    listed = row(page, task_id)
    await expect(listed.locator(".col-status")).to_have_text("failed")
    await expect(listed.locator(".col-node")).to_have_text("tp-w1")
    await expect(listed.locator(".col-finished")).not_to_have_text("—")
    await expect(listed.locator(".col-duration")).not_to_have_text("—")

    await open_task(page, task_id)
    await expect(page.locator("#detail-status")).to_have_text("failed")
    await expect(page.locator("#detail-outcome-title")).to_have_text("Error")
    await expect(page.locator("#detail-result")).to_contain_text("bad value 7")
    traceback = page.locator("#detail-traceback")
    await expect(traceback).to_contain_text("Traceback (most recent call last)")
    await expect(traceback).to_contain_text("ValueError: bad value 7")
    assert stored["error"]["traceback"].strip().endswith("ValueError: bad value 7")

    # Each attempt: the node that ran it and how it ended, as the API records them.
    attempts = page.locator("#attempts-body tr")
    await expect(attempts).to_have_count(len(stored["attempt_history"]))
    assert len(stored["attempt_history"]) == 2
    for i, attempt in enumerate(stored["attempt_history"]):
        await expect(attempts.nth(i).locator(".col-node")).to_have_text(attempt["node_id"])
        await expect(attempts.nth(i)).to_contain_text(attempt["outcome"])
    await expect(attempts.nth(0)).to_contain_text("bad value 7")
    await expect(page.locator("#lineage")).to_contain_text("No original and no retries")

    artifact = page.locator(f'#artifacts li[data-artifact-id="{upload.json()["id"]}"]')
    await expect(artifact).to_contain_text("input.csv")
    async with page.expect_download() as download_info:
        await artifact.get_by_role("button", name="Download input.csv").click()
    download = await download_info.value
    assert download.suggested_filename == "input.csv"
    assert Path(await download.path()).read_bytes() == b"a,b\n1,2\n"
    await expect(page.locator("#detail-stream")).to_have_text("finished")
    await audit_view(page, "task-page-failed")

    # Retry: the new task's page links back to the original, and the original on to it.
    await page.get_by_role("button", name="Retry").click()
    await expect(page.locator("#detail-id")).not_to_have_text(task_id)
    retry_id = await page.locator("#detail-id").text_content()
    assert retry_id
    await expect(page.locator("#lineage")).to_contain_text("Retry of")
    await page.locator("#lineage").get_by_role("link", name=task_id).click()
    await expect(page.locator("#detail-id")).to_have_text(task_id)
    await expect(page.locator("#lineage")).to_contain_text("Retried as")
    await expect(page.locator("#lineage").get_by_role("link", name=retry_id)).to_be_visible()
    await expect(page.locator("#artifacts-empty")).to_be_hidden()


async def test_the_router_explains_what_it_cannot_show(page: Page, server: Api) -> None:
    await server.user_headers("frank", USER_PASSWORD)
    await sign_in(page, "frank", USER_PASSWORD)
    await expect(page.locator("#tasks-panel")).to_be_visible()
    # An empty list says why it is empty.
    await expect(page.locator("#tasks-empty")).to_be_visible()
    await expect(page.locator("#tasks-empty")).to_contain_text("No tasks match")
    await audit_view(page, "tasks-empty")

    # Somebody else's task, or none: the API's 404, in words.
    await page.goto("/#/tasks/no-such-task")
    await expect(page.locator("#detail-error")).to_contain_text("not found")
    await audit_view(page, "task-page-not-found")

    await page.goto("/#/users")
    await expect(page.locator("main")).to_contain_text("You need to be an admin")
    await audit_view(page, "admin-only")
    await page.goto("/#/nowhere")
    await expect(page.locator("main")).to_contain_text("No such page")

    # A view module that does not load (a network error, a broken deploy): the
    # router says so where the view would be, and the rest of the page works on.
    await page.route("**/dashboard/static/views/wallet.js", lambda route: route.abort())
    await page.get_by_role("link", name="Wallet").click()
    await expect(page.locator(".view-message")).to_contain_text("This view failed to load")
    await page.get_by_role("link", name="Tasks", exact=True).click()
    await expect(page.locator("#tasks-panel")).to_be_visible()


async def test_an_admin_sees_every_owner_and_users_see_only_theirs(page: Page, server: Api) -> None:
    alice = await server.user_headers("gina", USER_PASSWORD)
    theirs = await server.submit(alice, task_type="private")
    await sign_in(page, *ADMIN)
    await open_task(page, theirs["task_id"])
    await expect(page.locator("#detail-owner")).not_to_have_text("—")
    await page.get_by_role("button", name="Log out").click()
    await server.user_headers("hank", USER_PASSWORD)
    await sign_in(page, "hank", USER_PASSWORD)
    await page.goto(f"/#/tasks/{theirs['task_id']}")
    await expect(page.locator("#detail-error")).to_contain_text("not found")
