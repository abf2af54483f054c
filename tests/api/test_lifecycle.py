"""The whole task lifecycle through real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from conveyor.clock import ManualClock
from tests.server import Api, serve_api, serve_app
from tests.server import test_settings as settings_for


async def _setup(api: Api) -> tuple[dict[str, str], dict[str, str], str, dict[str, str]]:
    admin = await api.admin_headers()
    user = await api.user_headers("alice")
    node_id, node = await api.new_node(admin, node_id="n1", task_types=["noop", "email"])
    return admin, user, node_id, node


async def test_submit_claim_progress_complete(api: Api) -> None:
    _admin, user, node_id, node = await _setup(api)
    task = await api.submit(user, task_type="noop", params={"x": 1}, metadata={"m": 2})
    assert task["status"] == "pending" and task["version"] == 1
    claimed = await api.claim(node, task_types=["noop"], max_tasks=5)
    (held,) = claimed["tasks"]
    assert held["task_id"] == task["task_id"] and held["status"] == "in_progress"
    assert held["lease_owner"] == node_id and held["version"] == 2
    for pct in (10, 50, 90):
        r = await api.http.post(
            f"/tasks/{task['task_id']}/progress", json={"data": {"pct": pct}}, headers=node
        )
        assert r.status_code == 201, r.text
    r = await api.http.post(
        f"/tasks/{task['task_id']}/complete",
        json={"version": held["version"], "result": {"ok": True}},
        headers=node,
    )
    assert r.status_code == 200, r.text
    done = (await api.http.get(f"/tasks/{task['task_id']}", headers=user)).json()
    assert done["status"] == "completed" and done["result"] == {"ok": True}
    assert done["version"] == 3 and done["finished_at"]
    history = (await api.http.get(f"/tasks/{task['task_id']}/progress", headers=user)).json()
    assert [p["seq"] for p in history["progress"]] == [1, 2, 3]
    assert [p["data"]["pct"] for p in history["progress"]] == [10, 50, 90]
    again = await api.http.post(
        f"/tasks/{task['task_id']}/complete", json={"version": held["version"]}, headers=node
    )
    assert again.status_code == 409
    assert again.json()["error"]["details"]["status"] == "completed"


async def test_claim_carries_previous_finishes(api: Api) -> None:
    _, user, _, node = await _setup(api)
    ids = [(await api.submit(user))["task_id"] for _ in range(4)]
    first = await api.claim(node, max_tasks=2)
    finishes = [
        {
            "task_id": t["task_id"],
            "version": t["version"],
            "status": "completed",
            "result": {"i": i},
        }
        for i, t in enumerate(first["tasks"])
    ]
    second = await api.claim(node, max_tasks=2, finishes=finishes)
    assert [f["ok"] for f in second["finished"]] == [True, True]
    assert {f["status"] for f in second["finished"]} == {"completed"}
    assert len(second["tasks"]) == 2
    assert {t["task_id"] for t in first["tasks"] + second["tasks"]} == set(ids)
    stale = await api.claim(node, max_tasks=0, finishes=finishes[:1])
    assert stale["finished"][0]["ok"] is False
    assert stale["finished"][0]["error"]["code"] == "conflict"


async def test_fail_retries_then_fails_and_retry_makes_lineage(api: Api) -> None:
    _, user, _, node = await _setup(api)
    task = await api.submit(user, max_attempts=2)
    for expected in ("pending", "failed"):
        (held,) = (await api.claim(node))["tasks"]
        r = await api.http.post(
            f"/tasks/{task['task_id']}/fail",
            json={"version": held["version"], "error": {"msg": "boom"}},
            headers=node,
        )
        assert r.status_code == 200 and r.json()["status"] == expected
    r = await api.http.post(f"/tasks/{task['task_id']}/retry", headers=user)
    assert r.status_code == 201
    new = r.json()
    assert new["original_task_id"] == task["task_id"] and new["status"] == "pending"
    old = (await api.http.get(f"/tasks/{task['task_id']}", headers=user)).json()
    assert old["status"] == "failed" and old["attempts"] == 2
    lineage = (
        await api.http.get("/tasks", params={"original_task_id": task["task_id"]}, headers=user)
    ).json()
    assert [t["task_id"] for t in lineage["tasks"]] == [new["task_id"]]
    r = await api.http.post(f"/tasks/{new['task_id']}/retry", headers=user)
    assert r.status_code == 409


async def test_cancel_is_reported_by_heartbeat(api: Api) -> None:
    _, user, _, node = await _setup(api)
    task = await api.submit(user)
    (held,) = (await api.claim(node))["tasks"]
    r = await api.http.post(f"/tasks/{task['task_id']}/cancel", headers=user)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    beat = await api.http.post(
        "/nodes/heartbeat", json={"task_ids": [task["task_id"]]}, headers=node
    )
    assert beat.json() == {"extended": [], "cancelled": [task["task_id"]], "lost": []}
    r = await api.http.post(
        f"/tasks/{task['task_id']}/complete", json={"version": held["version"]}, headers=node
    )
    assert r.status_code == 409
    assert (
        await api.http.post(f"/tasks/{task['task_id']}/cancel", headers=user)
    ).status_code == 409


async def test_reassign_and_manual_timeout_are_admin_only(api: Api) -> None:
    admin, user, _, node = await _setup(api)
    other_id, other = await api.new_node(admin, node_id="n2")
    task = await api.submit(admin, assigned_node_id="n1")
    await api.claim(node)
    r = await api.http.post(
        f"/tasks/{task['task_id']}/reassign", json={"node_id": other_id}, headers=user
    )
    assert r.status_code == 403
    r = await api.http.post(
        f"/tasks/{task['task_id']}/reassign", json={"node_id": other_id}, headers=admin
    )
    assert r.status_code == 200 and r.json()["assigned_node_id"] == other_id
    assert r.json()["status"] == "pending"
    assert (await api.claim(node))["tasks"] == []
    (held,) = (await api.claim(other))["tasks"]
    r = await api.http.post(
        f"/tasks/{task['task_id']}/timeout", json={"reason": "stuck"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["status"] == "timeout"
    r = await api.http.post(
        f"/tasks/{task['task_id']}/complete", json={"version": held["version"]}, headers=other
    )
    assert r.status_code == 409


async def test_lease_expiry_recovers_then_times_out(api: Api) -> None:
    admin, user, node_id, node = await _setup(api)
    task = await api.submit(user, max_attempts=2)
    await api.claim(node, lease_seconds=1)
    status = await _wait_status(api, user, task["task_id"], {"pending"})
    assert status["attempts"] == 1 and status["error"]["code"] == "lease_expired"
    await api.claim(node, lease_seconds=1)
    # The second expiry spends the last attempt: the sweeper ends the task.
    final = await _wait_status(api, user, task["task_id"], {"timeout"})
    assert final["attempts"] == 2 and final["lease_owner"] is None
    # The sweeper's expiries are on record as runs of that node that lapsed.
    r = await api.http.get(f"/tasks/{task['task_id']}", headers=user)
    history = r.json()["attempt_history"]
    assert [(a["attempt"], a["node_id"], a["outcome"]) for a in history] == [
        (1, node_id, "lease_expired"),
        (2, node_id, "lease_expired"),
    ]
    assert r.json()["runs"] == 2
    r = await api.http.post("/admin/timeouts/process", headers=admin)
    assert r.status_code == 200 and r.json() == {"expired": 0}, "nothing left to expire"
    assert await api.metric("conveyor_leases_expired_total") == 2


async def _wait_status(
    api: Api, headers: dict[str, str], task_id: str, wanted: set[str], timeout: float = 10.0
) -> dict[str, Any]:
    """Poll until the sweeper has moved the task; bounded, not a blind sleep."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        body = dict((await api.http.get(f"/tasks/{task_id}", headers=headers)).json())
        if body["status"] in wanted:
            return body
        assert loop.time() < deadline, f"task stayed {body['status']}"
        await asyncio.sleep(0.05)


async def test_long_poll_claim_returns_when_a_task_arrives(
    database_url: str, tmp_path: Path
) -> None:
    # The parked claim never re-checks on its own here: only the wake-up sent when
    # the task is created can end it before its 10 s wait.
    settings = settings_for(database_url, tmp_path, claim_recheck_seconds=600)
    async with serve_api(settings) as api:
        _, user, _, node = await _setup(api)
        waiting = asyncio.create_task(api.claim(node, task_types=["email"], wait_seconds=10))
        await api.claims_parked()
        assert not waiting.done()
        task = await api.submit(user, task_type="email")
        got = await asyncio.wait_for(waiting, 5)
    assert [t["task_id"] for t in got["tasks"]] == [task["task_id"]]


async def test_start_by_id_and_assigned_listing(api: Api) -> None:
    admin, _user, node_id, node = await _setup(api)
    pinned = await api.submit(admin, assigned_node_id=node_id)
    listed = (await api.http.get("/tasks/assigned", headers=node)).json()
    assert [t["task_id"] for t in listed["tasks"]] == [pinned["task_id"]]
    r = await api.http.post(f"/tasks/{pinned['task_id']}/start", headers=node)
    assert r.status_code == 200 and r.json()["lease_owner"] == node_id
    r = await api.http.post(
        f"/tasks/{pinned['task_id']}/release", json={"version": r.json()["version"]}, headers=node
    )
    assert r.status_code == 200 and r.json()["status"] == "pending"
    assert r.json()["attempts"] == 0


async def test_batch_create_and_idempotency(api: Api) -> None:
    _, user, _, _ = await _setup(api)
    body = {"tasks": [{"task_type": "noop", "params": {"i": i}} for i in range(3)]}
    key = {"Idempotency-Key": "batch-1", **user}
    first = await api.http.post("/tasks", json=body, headers=key)
    assert first.status_code == 201 and len(first.json()["tasks"]) == 3
    again = await api.http.post("/tasks", json=body, headers=key)
    assert again.status_code == 201 and again.json() == first.json()
    changed = await api.http.post("/tasks", json={"tasks": body["tasks"][:1]}, headers=key)
    assert changed.status_code == 409
    listed = (await api.http.get("/tasks", headers=user)).json()
    assert len(listed["tasks"]) == 3


async def test_admin_stats_and_ops_endpoints(api: Api) -> None:
    admin, user, _, _ = await _setup(api)
    await api.submit(user)
    stats = (await api.http.get("/admin/stats", headers=admin)).json()
    assert stats["tasks"]["by_status"]["pending"] == 1
    assert (await api.http.get("/admin/stats", headers=user)).status_code == 403
    base = api.base_url
    assert (await api.http.get(f"{base}/healthz")).json() == {"status": "ok"}
    assert (await api.http.get(f"{base}/readyz")).status_code == 200
    metrics = await api.http.get(f"{base}/metrics")
    assert "conveyor_tasks_created_total" in metrics.text
    # Requests count under their route template, whatever the id in the path.
    for _ in range(2):
        r = await api.http.get(f"/tasks/{uuid.uuid4()}", headers=user)
        assert r.status_code == 404
    assert (
        await api.metric(
            'conveyor_http_requests_total{method="GET",route="/api/v1/tasks/{task_id}",status="4xx"}'
        )
        == 2
    )
    r = await api.http.get("/no-such-path")
    assert (
        await api.metric(
            'conveyor_http_requests_total{method="GET",route="unmatched",status="4xx"}'
        )
        == 1
    )
    # Every request is timed under the same template (to the start of its response).
    timed = 'conveyor_http_request_seconds_count{method="GET",route="/api/v1/tasks/{task_id}"}'
    assert await api.metric(timed) == 2
    docs = await api.http.get(f"{base}/openapi.json")
    assert "/api/v1/worker/claim" in docs.json()["paths"]


async def test_manual_timeout_processing_expires_overdue_leases(
    database_url: str, tmp_path: Path
) -> None:
    """``POST /admin/timeouts/process`` alone, with no sweeper and a clock we move."""
    clock = ManualClock()
    settings = settings_for(database_url, tmp_path)
    async with serve_app(settings, clock=clock, run_duties=False) as base_url:
        api = Api(base_url)
        try:
            admin, user, _, node = await _setup(api)
            task = await api.submit(user, max_attempts=3)
            await api.claim(node, lease_seconds=5)
            r = await api.http.post("/admin/timeouts/process", headers=admin)
            assert r.json() == {"expired": 0}, "the lease has not run out yet"
            clock.advance(6)
            r = await api.http.post("/admin/timeouts/process", headers=admin)
            assert r.json() == {"expired": 1}
            back = (await api.http.get(f"/tasks/{task['task_id']}", headers=user)).json()
            assert (back["status"], back["attempts"], back["lease_owner"]) == ("pending", 1, None)
        finally:
            await api.close()
