"""The registry over HTTP on both databases: delete, cleanup, counts, filters, patch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests import server
from tests.server import Api, serve_api


@pytest.fixture
async def fast_api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """Nodes go dead after half a second of silence."""
    settings = server.test_settings(
        database_url, tmp_path, node_unhealthy_after_seconds=0.2, node_dead_after_seconds=0.5
    )
    async with serve_api(settings) as client:
        yield client


async def test_delete_releases_leases_without_charging_an_attempt(api: Api) -> None:
    admin = await api.admin_headers()
    user = await api.user_headers("alice")
    node_id, node = await api.new_node(admin, node_id="n1")
    task = await api.submit(user)
    (claimed,) = (await api.claim(node, max_tasks=1))["tasks"]
    assert claimed["task_id"] == task["task_id"]
    r = await api.http.get("/nodes", headers=admin)
    (listed,) = r.json()["nodes"]
    assert (listed["in_flight"], listed["finished"]) == (1, 0)
    r = await api.http.delete(f"/nodes/{node_id}", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["released"] == [task["task_id"]]
    r = await api.http.get(f"/tasks/{task['task_id']}", headers=admin)
    assert r.json()["status"] == "pending"
    assert r.json()["attempts"] == 0
    assert (await api.http.get(f"/nodes/{node_id}", headers=admin)).status_code == 404
    assert (await api.http.delete(f"/nodes/{node_id}", headers=admin)).status_code == 404
    # The deleted node's token no longer works.
    r = await api.http.post("/worker/claim", json={}, headers=node)
    assert r.status_code in (401, 403)


async def test_finished_counts_filters_and_patch(api: Api) -> None:
    admin = await api.admin_headers()
    user = await api.user_headers("bob")
    _, gpu = await api.new_node(admin, node_id="gpu", labels={"gpu": "true"}, task_types=["a"])
    await api.create_node(admin, node_id="cpu", task_types=["b"])
    await api.submit(user, task_type="a")
    (t,) = (await api.claim(gpu, max_tasks=1))["tasks"]
    r = await api.http.post(
        f"/tasks/{t['task_id']}/complete", json={"version": t["version"], "result": 1}, headers=gpu
    )
    assert r.status_code == 200, r.text
    r = await api.http.get("/nodes", params={"label": "gpu=true"}, headers=admin)
    (only,) = r.json()["nodes"]
    assert (only["node_id"], only["in_flight"], only["finished"]) == ("gpu", 0, 1)
    r = await api.http.get("/nodes", params={"task_type": "b"}, headers=admin)
    assert [n["node_id"] for n in r.json()["nodes"]] == ["cpu"]
    assert (await api.http.get("/nodes", params={"label": "x"}, headers=admin)).status_code == 400
    patch = {"max_concurrency": 7, "labels": {"zone": "eu"}, "task_types": ["c"]}
    r = await api.http.patch("/nodes/cpu", json=patch, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["max_concurrency"], r.json()["labels"], r.json()["task_types"]) == (
        7,
        {"zone": "eu"},
        ["c"],
    )
    r = await api.http.patch("/nodes/cpu", json={"rotate_secret": True}, headers=admin)
    await api.node_headers("cpu", r.json()["node_secret"])
    r = await api.http.patch("/nodes/cpu", json={"status": "draining"}, headers=admin)
    assert r.json()["status"] == "draining"


async def test_cleanup_removes_only_nodes_dead_long_enough(fast_api: Api) -> None:
    api = fast_api
    admin = await api.admin_headers()
    user = await api.user_headers("carol")
    await api.create_node(admin, node_id="quiet")
    _, live = await api.new_node(admin, node_id="live")
    task = await api.submit(user)
    pinned = await api.submit(admin, assigned_node_id="quiet")
    (claimed,) = (await api.claim(live, max_tasks=1))["tasks"]
    assert claimed["task_id"] == task["task_id"]
    for _ in range(100):
        nodes = (await api.http.get("/nodes", headers=admin)).json()["nodes"]
        if all(n["health"] == "dead" for n in nodes):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"nodes never died: {nodes}")
    # Declared dead: its lease is released at once, an attempt charged.
    r = await api.http.get(f"/tasks/{task['task_id']}", headers=admin)
    assert (r.json()["status"], r.json()["attempts"]) == ("pending", 1)
    r = await api.http.post("/nodes/cleanup", json={"dead_for_seconds": 3600}, headers=admin)
    assert r.json()["deleted"] == []
    r = await api.http.post("/nodes/cleanup", json={"dead_for_seconds": 0}, headers=admin)
    assert sorted(r.json()["deleted"]) == ["live", "quiet"]
    assert (await api.http.get("/nodes", headers=admin)).json()["nodes"] == []
    # Tasks pinned to a removed node can never run: cancelled, saying why.
    got = (await api.http.get(f"/tasks/{pinned['task_id']}", headers=admin)).json()
    assert (got["status"], got["error"]["code"]) == ("cancelled", "node_deleted")
    got = (await api.http.get(f"/tasks/{task['task_id']}", headers=admin)).json()
    assert got["status"] == "pending"
    r = await api.http.post("/nodes/cleanup", json={"dead_for_seconds": -1}, headers=admin)
    assert r.status_code == 400


async def test_delete_cancels_the_pending_tasks_pinned_to_the_node(api: Api) -> None:
    admin = await api.admin_headers()
    user = await api.user_headers("carol")
    node_id, node = await api.new_node(admin, node_id="pinned-host")
    await api.create_node(admin, node_id="other")
    running = await api.submit(admin, assigned_node_id=node_id)
    queued = await api.submit(admin, assigned_node_id=node_id)
    free = await api.submit(user)
    (claimed,) = (await api.claim(node, max_tasks=1))["tasks"]
    assert claimed["task_id"] == running["task_id"]  # the oldest pinned one
    r = await api.http.delete(f"/nodes/{node_id}", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["released"] == [running["task_id"]]
    for task in (running, queued):
        got = (await api.http.get(f"/tasks/{task['task_id']}", headers=admin)).json()
        assert got["status"] == "cancelled", got
        assert got["error"]["code"] == "node_deleted"
    got = (await api.http.get(f"/tasks/{free['task_id']}", headers=user)).json()
    assert got["status"] == "pending"
    assert got["error"] is None
