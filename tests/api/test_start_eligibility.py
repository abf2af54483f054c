"""Start by id obeys the claim's rules: labels, capacity, pin, types and due time,
because it is the claim narrowed to one task (store/claim.py's one pick). Both
databases, real server; the capacity case with many starts at once."""

from __future__ import annotations

import asyncio

from tests.server import Api, assert_like_missing


async def _start(api: Api, node: dict[str, str], task_id: str) -> tuple[int, dict[str, object]]:
    r = await api.http.post(f"/tasks/{task_id}/start", headers=node)
    return r.status_code, r.json()


async def test_start_needs_the_labels_the_task_requires(api: Api) -> None:
    admin, user = await api.admin_headers(), await api.user_headers("alice")
    _, plain = await api.new_node(admin, node_id="plain", labels={"gpu": "no"})
    gpu_id, gpu = await api.new_node(admin, node_id="gpu", labels={"gpu": "yes"})
    task = await api.submit(user, required_labels={"gpu": "yes"})
    # A task the node could never run is not its to know of: answered as a missing id.
    path = "/tasks/{}/start"
    real = await api.http.post(path.format(task["task_id"]), headers=plain)
    missing = await api.http.post(path.format("no-such-task"), headers=plain)
    assert_like_missing(real, missing, task["task_id"], "no-such-task")
    status, body = await _start(api, gpu, task["task_id"])
    assert status == 200 and body["lease_owner"] == gpu_id


async def test_start_stops_at_the_node_capacity(api: Api) -> None:
    admin, user = await api.admin_headers(), await api.user_headers("alice")
    _, node = await api.new_node(admin, node_id="small", max_concurrency=1)
    first, second = (await api.submit(user)), (await api.submit(user))
    assert (await _start(api, node, first["task_id"]))[0] == 200
    status, body = await _start(api, node, second["task_id"])
    assert status == 409 and "capacity" in body["error"]["message"]  # type: ignore[index]
    # Nor can a claim go past it: both paths count the same held tasks.
    assert (await api.claim(node))["tasks"] == []


async def test_many_starts_at_once_never_overrun_capacity(api: Api) -> None:
    admin, user = await api.admin_headers(), await api.user_headers("alice")
    node_id, node = await api.new_node(admin, node_id="racer", max_concurrency=3)
    ids = [(await api.submit(user))["task_id"] for _ in range(12)]
    results = await asyncio.gather(*[_start(api, node, task_id) for task_id in ids])
    started = [body for status, body in results if status == 200]
    assert len(started) == 3, [status for status, _ in results]
    assert {status for status, _ in results} == {200, 409}
    listed = (await api.http.get("/tasks?status=in_progress", headers=admin)).json()["tasks"]
    assert len(listed) == 3 and {t["lease_owner"] for t in listed} == {node_id}


async def test_start_refuses_what_a_claim_would_not_take(api: Api) -> None:
    admin, user = await api.admin_headers(), await api.user_headers("alice")
    _, typed = await api.new_node(admin, node_id="typed", task_types=["email"])
    other_id, _ = await api.new_node(admin, node_id="other")
    wrong_type = await api.submit(user, task_type="noop")
    status, _ = await _start(api, typed, wrong_type["task_id"])
    assert status == 404, "a type the node does not run is not its to see"
    later = await api.submit(user, task_type="email", delay_seconds=3600)
    status, body = await _start(api, typed, later["task_id"])
    assert status == 409 and "due" in body["error"]["message"]  # type: ignore[index]
    pinned = await api.submit(admin, task_type="email", assigned_node_id=other_id)
    status, _ = await _start(api, typed, pinned["task_id"])
    assert status == 404, "a task pinned to another node is not this node's to see"
