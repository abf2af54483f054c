"""No existence oracles (issue 10, item 7): another principal's task or a node one may
not use answers exactly like an id that does not exist, on create, start, heartbeat,
progress and pin. Real server, both databases."""

from __future__ import annotations

from tests.server import Api, assert_like_missing

MISSING = "no-such-id"


async def test_start_and_progress_on_another_nodes_task_answer_like_a_missing_one(
    api: Api,
) -> None:
    admin = await api.admin_headers()
    _, mine = await api.new_node(admin, node_id="mine")
    _, other = await api.new_node(admin, node_id="other")
    pinned = (await api.submit(admin, assigned_node_id="mine"))["task_id"]
    held = (await api.submit(admin))["task_id"]
    (claimed,) = (await api.claim(mine, max_tasks=1, task_types=["noop"]))["tasks"]
    assert claimed["task_id"] == pinned
    r = await api.http.post(f"/tasks/{held}/start", headers=mine)
    assert r.status_code == 200, r.text
    for task_id in (pinned, held):
        for path, body in (("start", None), ("progress", {"data": {"p": 1}})):
            real = await api.http.post(f"/tasks/{task_id}/{path}", json=body, headers=other)
            missing = await api.http.post(f"/tasks/{MISSING}/{path}", json=body, headers=other)
            assert_like_missing(real, missing, task_id, MISSING)
            assert real.status_code == 404


async def test_heartbeat_reports_cancelled_only_to_the_node_that_held_the_task(
    api: Api,
) -> None:
    admin = await api.admin_headers()
    user = await api.user_headers("alice")
    _, holder = await api.new_node(admin, node_id="holder")
    _, prober = await api.new_node(admin, node_id="prober")
    task_id = (await api.submit(user))["task_id"]
    (claimed,) = (await api.claim(holder, max_tasks=1))["tasks"]
    assert claimed["task_id"] == task_id
    r = await api.http.post(f"/tasks/{task_id}/cancel", headers=user)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    # The holder learns its task was cancelled, so it can stop the handler.
    r = await api.http.post("/nodes/heartbeat", json={"task_ids": [task_id]}, headers=holder)
    assert r.status_code == 200, r.text
    assert r.json()["cancelled"] == [task_id] and r.json()["lost"] == []
    # Any other node is told exactly what it is told about an id that never existed.
    r = await api.http.post(
        "/nodes/heartbeat", json={"task_ids": [task_id, MISSING]}, headers=prober
    )
    assert r.status_code == 200, r.text
    assert r.json()["cancelled"] == [] and sorted(r.json()["lost"]) == sorted([task_id, MISSING])


async def test_a_cancelled_pinned_task_is_reported_to_its_pinned_node(api: Api) -> None:
    admin = await api.admin_headers()
    _, pinned_node = await api.new_node(admin, node_id="pinned")
    task_id = (await api.submit(admin, assigned_node_id="pinned"))["task_id"]
    assert (await api.http.post(f"/tasks/{task_id}/cancel", headers=admin)).status_code == 200
    r = await api.http.post("/nodes/heartbeat", json={"task_ids": [task_id]}, headers=pinned_node)
    assert r.json()["cancelled"] == [task_id]


async def test_a_node_one_may_not_use_looks_like_an_unknown_node(api: Api) -> None:
    """Users pin to their own nodes and the admins' fleet; another user's node answers
    exactly like a node that does not exist, and nothing is written."""
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    bob = await api.user_headers("bob")
    r = await api.http.post("/nodes", json={"name": "bobs", "node_id": "bobs-node"}, headers=bob)
    assert r.status_code == 201, r.text
    await api.create_node(admin, node_id="fleet-node")
    before = (await api.http.get("/tasks", headers=admin)).json()["tasks"]
    real = await api.http.post(
        "/tasks", json={"task_type": "noop", "assigned_node_id": "bobs-node"}, headers=alice
    )
    missing = await api.http.post(
        "/tasks", json={"task_type": "noop", "assigned_node_id": MISSING}, headers=alice
    )
    assert_like_missing(real, missing, "bobs-node", MISSING)
    assert (real.status_code, real.json()["error"]["code"]) == (404, "node_not_found")
    assert (await api.http.get("/tasks", headers=admin)).json()["tasks"] == before
    # Bob's node is his to pin to, the fleet's anyone's, and admins' any at all.
    for who, node in ((bob, "bobs-node"), (alice, "fleet-node"), (admin, "bobs-node")):
        r = await api.http.post(
            "/tasks", json={"task_type": "noop", "assigned_node_id": node}, headers=who
        )
        assert r.status_code == 201 and r.json()["assigned_node_id"] == node, r.text


async def test_a_taken_task_id_answers_the_same_whoever_took_it(api: Api) -> None:
    """Caller-chosen ids share one namespace, so a taken id must be refused; the refusal
    is the same for one's own task and another user's, and tells nothing about it."""
    alice = await api.user_headers("alice")
    mallory = await api.user_headers("mallory")
    await api.submit(alice, task_id="alice-own")
    await api.submit(mallory, task_id="mallory-own")
    other = await api.http.post(
        "/tasks", json={"task_type": "noop", "task_id": "alice-own"}, headers=mallory
    )
    own = await api.http.post(
        "/tasks", json={"task_type": "noop", "task_id": "mallory-own"}, headers=mallory
    )
    assert_like_missing(other, own, "alice-own", "mallory-own")
    assert other.status_code == 409
    assert not other.json()["error"].get("details"), "nothing about the other task"
