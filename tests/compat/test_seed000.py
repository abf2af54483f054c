"""Seed 000 through its profile: the README's calls and its worker loop, on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from tests.compat.seed000_client import Seed000Worker
from tests.server import ADMIN, Api

FLEET = [
    {"node_id": "nodeA", "node_secret": "secret-for-node-a"},
    {"node_id": "nodeB", "node_secret": "secret-for-node-b"},
]


async def _fleet(api: Api) -> None:
    """The seed's example nodes, imported with the secrets they already have."""
    admin = await api.admin_headers()
    r = await api.http.post("/nodes/import", json={"nodes": FLEET}, headers=admin)
    assert r.status_code == 201, r.text
    assert [n["node_id"] for n in r.json()["nodes"]] == ["nodeA", "nodeB"]
    assert "node_secret" not in r.text
    again = await api.http.post("/nodes/import", json={"nodes": FLEET[:1]}, headers=admin)
    assert again.status_code == 409


async def _admin(seed: httpx.AsyncClient) -> dict[str, str]:
    r = await seed.post("/auth/admin/login", json={"username": ADMIN[0], "password": ADMIN[1]})
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"token"}
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def _create(
    seed: httpx.AsyncClient, admin: dict[str, str], task_type: str, node: str, **details: str
) -> str:
    body = {"task_type": task_type, "task_details": details, "assigned_node_id": node}
    r = await seed.post("/tasks", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"task_id"}
    return str(r.json()["task_id"])


async def _workers(api: Api) -> tuple[Seed000Worker, Seed000Worker]:
    worker_a = Seed000Worker(api.base_url, "nodeA", "secret-for-node-a")
    worker_b = Seed000Worker(api.base_url, "nodeB", "secret-for-node-b")
    await worker_a.login()
    await worker_b.login()
    return worker_a, worker_b


async def test_seed000_readme_flow_and_worker_loop(compat: Api) -> None:
    await _fleet(compat)
    seed = httpx.AsyncClient(base_url=compat.base_url)
    admin = await _admin(seed)

    created = {
        "email_send": await _create(seed, admin, "email_send", "nodeA", to="a@example.com"),
        "mystery_type": await _create(seed, admin, "mystery_type", "nodeA"),
    }
    for_b = await _create(seed, admin, "report_generate", "nodeB")
    worker_a, worker_b = await _workers(compat)
    # The lock itself: what one poll returns is in_progress with a 5-minute timeout.
    tasks = await worker_a.get_assigned_tasks()
    assert {t["task_id"] for t in tasks} == set(created.values())
    for task in tasks:
        assert task["status"] == "in_progress" and task["assigned_node_id"] == "nodeA"
        lease = datetime.fromisoformat(task["timeout_at"]) - datetime.fromisoformat(
            task["locked_at"]
        )
        assert lease == timedelta(minutes=5)
    assert await worker_a.get_assigned_tasks() == []  # locked: not handed out twice

    # Node isolation: nodeB can neither see nor finish nodeA's task.
    first = tasks[0]
    r = await worker_b.update_status(first["task_id"], "completed", first["version"])
    assert r.status_code == 404

    for task in tasks:
        handler_ok = task["task_type"] == "email_send"
        r = await worker_a.update_status(
            task["task_id"], "completed" if handler_ok else "failed", task["version"]
        )
        assert r.status_code == 200 and r.json() == {"success": True}
        # The same PATCH again (same version): 409, nothing changes.
        repeat = await worker_a.update_status(task["task_id"], "completed", task["version"])
        assert repeat.status_code == 409

    # The seed's worker loop for nodeB: login, poll, run, report.
    assert await worker_b.poll_once() == 1
    assert worker_b.reports[0][:2] == (for_b, "completed")

    # The same tasks, the same state and version, through the native API.
    native_admin = await compat.admin_headers()
    r = await compat.http.get(f"/tasks/{created['mystery_type']}", headers=native_admin)
    native = r.json()
    assert native["status"] == "failed" and native["params"] == {}
    assert (
        native["version"]
        == next(t["version"] for t in tasks if t["task_type"] == "mystery_type") + 1
    )
    assert [a["outcome"] for a in native["attempt_history"]] == ["failed"]
    assert native["attempt_history"][0]["node_id"] == "nodeA"
    await worker_a.close()
    await worker_b.close()
    await seed.aclose()


async def test_seed000_reassign_and_error_codes(compat: Api) -> None:
    await _fleet(compat)
    seed = httpx.AsyncClient(base_url=compat.base_url)
    admin = await _admin(seed)
    task_id = await _create(seed, admin, "notification_send", "nodeA")
    worker_a, worker_b = await _workers(compat)
    (locked,) = await worker_a.get_assigned_tasks()

    # Failover: the admin moves the task to nodeB; nodeA's version is dead.
    r = await seed.patch(f"/tasks/{task_id}/reassign", json={"new_node_id": "nodeB"}, headers=admin)
    assert r.status_code == 200 and r.json() == {"success": True}
    late = await worker_a.update_status(task_id, "completed", locked["version"])
    assert late.status_code == 404
    assert await worker_b.poll_once() == 1

    missing = await seed.patch(
        "/tasks/no-such-task/reassign", json={"new_node_id": "nodeB"}, headers=admin
    )
    assert missing.status_code == 404 and "error" in missing.json()
    # 400 validation with details; 401 no token; 403 wrong token type.
    bad = await seed.post("/tasks", json={"task_type": "email_send"}, headers=admin)
    assert bad.status_code == 400 and bad.json()["details"]
    assert (await seed.get("/tasks/assigned")).status_code == 401
    assert (await seed.get("/tasks/assigned", headers=admin)).status_code == 403
    node_create = await seed.post(
        "/tasks",
        json={"task_type": "email_send", "task_details": {}, "assigned_node_id": "nodeA"},
        headers={"Authorization": f"Bearer {worker_a.token}"},
    )
    assert node_create.status_code == 403
    wrong = await seed.post(
        "/auth/node/login", json={"node_id": "nodeA", "node_secret": "not-the-secret"}
    )
    assert wrong.status_code == 401
    r = await seed.post("/auth/admin/login", json={"username": ADMIN[0], "password": "nope-nope"})
    assert r.status_code == 401
    await worker_a.close()
    await worker_b.close()
    await seed.aclose()
