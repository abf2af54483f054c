"""Who sees what: another user's job, chunks, results and stream are 404; user-owned
nodes take marketplace work and their owner's tasks only, never another user's
private task, while admin nodes claim beside them; pins to a node one may not use
answer like an unknown node."""

from __future__ import annotations

import asyncio

from tests.jobs.helpers import complete, create_job, fund
from tests.server import Api


async def _user_node(api: Api, owner: dict[str, str], name: str) -> tuple[str, dict[str, str]]:
    r = await api.http.post("/nodes", json={"name": name}, headers=owner)
    assert r.status_code == 201, r.text
    return r.json()["node_id"], await api.node_headers(r.json()["node_id"], r.json()["node_secret"])


async def test_another_users_job_is_not_found_anywhere(api: Api) -> None:
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    mallory = await api.user_headers("mallory")
    await fund(api, alice, 100)
    job_id = (await create_job(api, alice, items=[1, 2], chunk_size=1))["job_id"]
    for path in ("", "/chunks", "/results", "/events"):
        r = await api.http.get(f"/jobs/{job_id}{path}", headers=mallory)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "not_found"
        missing = await api.http.get(f"/jobs/{'0' * 36}{path}", headers=mallory)
        assert missing.status_code == 404
    assert (await api.http.post(f"/jobs/{job_id}/cancel", headers=mallory)).status_code == 404
    assert (await api.http.get("/jobs", headers=mallory)).json()["jobs"] == []
    assert [j["job_id"] for j in (await api.http.get("/jobs", headers=alice)).json()["jobs"]] == [
        job_id
    ]
    assert (await api.http.get(f"/jobs/{job_id}", headers=admin)).status_code == 200
    everyone = (await api.http.get("/jobs", headers=admin)).json()["jobs"]
    assert [j["job_id"] for j in everyone] == [job_id]
    _, node = await api.new_node(admin, node_id="n1")
    assert (await api.http.get("/jobs", headers=node)).status_code == 403
    assert (await api.http.get(f"/jobs/{job_id}", headers=node)).status_code == 403


async def test_user_nodes_take_chunks_and_their_owners_tasks_only(api: Api) -> None:
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    bob = await api.user_headers("bob")
    await fund(api, alice, 1000)
    bob_node_id, bob_node = await _user_node(api, bob, "bob-box")
    alice_node_id, alice_node = await _user_node(api, alice, "alice-box")
    _, shared = await api.new_node(admin, node_id="shared")
    alice_tasks = {(await api.submit(alice))["task_id"] for _ in range(15)}
    bob_tasks = {(await api.submit(bob))["task_id"] for _ in range(5)}
    job_id = (
        await create_job(api, alice, items=list(range(20)), chunk_size=1, max_concurrency=20)
    )["job_id"]

    got: dict[str, list[dict[str, object]]] = {"bob": [], "alice": [], "shared": []}

    async def drain(name: str, headers: dict[str, str]) -> None:
        while True:
            tasks = (await api.claim(headers, max_tasks=3))["tasks"]
            if not tasks:
                return
            got[name].extend(tasks)
            for task in tasks:
                r = await complete(api, headers, task, {"ok": True})
                assert r.status_code == 200, r.text

    # Both kinds of node claim at once.
    await asyncio.gather(
        drain("bob", bob_node), drain("alice", alice_node), drain("shared", shared)
    )
    bob_got = {str(t["task_id"]) for t in got["bob"]}
    assert not bob_got & alice_tasks, "bob's node got one of alice's private tasks"
    assert all(t["job_id"] == job_id or t["task_id"] in bob_tasks for t in got["bob"])
    # Alice's own node ran her tasks but none of her job's chunks (not allowed).
    assert all(t["job_id"] is None and t["task_id"] in alice_tasks for t in got["alice"])
    everything = [t["task_id"] for ts in got.values() for t in ts]
    assert len(everything) == len(set(everything)) == 15 + 5 + 20
    del bob_node_id, alice_node_id


async def test_allow_own_nodes_lets_a_customer_run_its_own_chunks(api: Api) -> None:
    alice = await api.user_headers("alice")
    _, node = await _user_node(api, alice, "alice-box")
    await create_job(api, alice, items=[1], chunk_size=1, price_per_chunk=0)
    assert (await api.claim(node))["tasks"] == []
    await create_job(api, alice, items=[2], chunk_size=1, price_per_chunk=0, allow_own_nodes=True)
    (task,) = (await api.claim(node))["tasks"]
    assert task["params"]["items"] == [2]


async def test_users_see_manage_and_pin_only_their_own_nodes(api: Api) -> None:
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    bob = await api.user_headers("bob")
    bob_node_id, _ = await _user_node(api, bob, "bob-box")
    alice_node_id, _ = await _user_node(api, alice, "alice-box")
    await api.new_node(admin, node_id="shared")
    listed = (await api.http.get("/nodes", headers=alice)).json()["nodes"]
    assert [n["node_id"] for n in listed] == [alice_node_id]
    assert listed[0]["owner_id"] is not None
    for path in (f"/nodes/{bob_node_id}", "/nodes/shared"):
        assert (await api.http.get(path, headers=alice)).status_code == 404
        assert (await api.http.delete(path, headers=alice)).status_code == 404
    # Pinning to another user's node answers exactly like pinning to no node at all.
    theirs = await api.http.post(
        "/tasks", json={"task_type": "noop", "assigned_node_id": bob_node_id}, headers=alice
    )
    nowhere = await api.http.post(
        "/tasks", json={"task_type": "noop", "assigned_node_id": "no-such-node"}, headers=alice
    )
    assert theirs.status_code == nowhere.status_code == 404
    assert theirs.json()["error"]["code"] == nowhere.json()["error"]["code"] == "node_not_found"
    for node_id in (alice_node_id, "shared"):
        r = await api.http.post(
            "/tasks", json={"task_type": "noop", "assigned_node_id": node_id}, headers=alice
        )
        assert r.status_code == 201, r.text
    # Users register pull nodes for themselves only, and a bounded number of them.
    push = {"name": "p", "kind": "push", "url": "http://127.0.0.1:9/"}
    assert (await api.http.post("/nodes", json=push, headers=alice)).status_code == 403
    other = {"name": "x", "owner_id": "someone-else"}
    assert (await api.http.post("/nodes", json=other, headers=alice)).status_code == 403
    for i in range(4):
        await _user_node(api, alice, f"extra-{i}")
    r = await api.http.post("/nodes", json={"name": "sixth"}, headers=alice)
    assert r.status_code == 409 and r.json()["error"]["code"] == "node_limit_reached"
    assert (await api.http.delete(f"/nodes/{alice_node_id}", headers=alice)).status_code == 200
