"""Push dispatch end to end: real HTTP push nodes on loopback, good and broken."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import httpx
import pytest

from conveyor.client.pushkit import ACCEPTED, PushContext, push_app
from conveyor.security.signing import sign
from tests.push.servers import broken_app, dropping_server
from tests.server import Api, free_port, serve_asgi


async def _push_node(api: Api, admin: dict[str, str], node_id: str, **spec: Any) -> tuple[int, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    _, secret = await api.create_node(admin, node_id=node_id, kind="push", url=url, **spec)
    return port, secret


async def _pushes(api: Api) -> dict[str, float]:
    """``conveyor_push_dispatch_total`` by outcome, as the server reports it."""
    text = (await api.http.get(api.base_url + "/metrics")).text
    prefix = 'conveyor_push_dispatch_total{outcome="'
    return {
        line[len(prefix) :].split('"')[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith(prefix)
    }


async def _wait_done(
    api: Api, admin: dict[str, str], ids: list[str], timeout: float = 30
) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        tasks = [(await api.http.get(f"/tasks/{i}", headers=admin)).json() for i in ids]
        if all(t["status"] in ("completed", "failed", "timeout") for t in tasks):
            return tasks
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"not finished: {Counter(t['status'] for t in tasks)}")
        await asyncio.sleep(0.1)


async def _node(api: Api, admin: dict[str, str], node_id: str) -> dict[str, Any]:
    return dict((await api.http.get(f"/nodes/{node_id}", headers=admin)).json())


async def test_kit_nodes_complete_every_task_once(push_api: Api) -> None:
    api = push_api
    admin, user = await api.admin_headers(), await api.user_headers("pusher")
    calls: Counter[str] = Counter()

    def double(params: dict[str, Any], ctx: PushContext) -> int:
        calls[ctx.task_id] += 1
        return int(params["n"]) * 2

    port_a, secret_a = await _push_node(api, admin, "a", max_concurrency=3)
    port_b, secret_b = await _push_node(api, admin, "b", max_concurrency=3)
    async with (
        serve_asgi(push_app({"double": double}, secret_a), port_a),
        serve_asgi(push_app({"double": double}, secret_b), port_b),
    ):
        ids = [
            (await api.submit(user, task_type="double", params={"n": i}))["task_id"]
            for i in range(30)
        ]
        tasks = await _wait_done(api, admin, ids)
        nodes = [await _node(api, admin, n) for n in ("a", "b")]
    assert [t["status"] for t in tasks] == ["completed"] * 30
    assert [t["result"] for t in tasks] == [i * 2 for i in range(30)]
    assert all(calls[i] == 1 for i in ids) and len(calls) == 30
    assert sum(n["finished"] for n in nodes) == 30
    assert all(n["finished"] > 0 for n in nodes)  # both served


async def test_kit_rejects_unsigned_forged_and_replayed_requests() -> None:
    app = push_app({"t": lambda p, c: "ran"}, "s" * 43)
    body = json.dumps(
        {"task_id": "x", "task_type": "t", "params": {}, "metadata": {}, "version": 2, "attempt": 1}
    ).encode()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as http:
        assert (await http.post("/tasks", content=body)).status_code == 401
        forged = sign("wrong-secret", body)
        assert (await http.post("/tasks", content=body, headers=forged)).status_code == 401
        headers = sign("s" * 43, body)
        first = await http.post("/tasks", content=body, headers=headers)
        assert first.status_code == 200 and first.json() == {"result": "ran"}
        assert first.headers["X-Conveyor-Signature"].startswith("v1=")
        assert (await http.post("/tasks", content=body, headers=headers)).status_code == 409
        stale = sign("s" * 43, body, timestamp=1)
        assert (await http.post("/tasks", content=body, headers=stale)).status_code == 401


async def test_broken_nodes_fail_over_to_a_good_one_and_turn_unhealthy(push_api: Api) -> None:
    api = push_api
    admin, user = await api.admin_headers(), await api.user_headers("pusher")
    good_port, good_secret = await _push_node(api, admin, "good", max_concurrency=2)
    ports = {m: (await _push_node(api, admin, m))[0] for m in ("e500", "slow", "unsigned")}
    drop_port, _ = await _push_node(api, admin, "drop")
    async with (
        serve_asgi(push_app({"noop": lambda p, c: "ok"}, good_secret), good_port),
        serve_asgi(broken_app("500"), ports["e500"]),
        serve_asgi(broken_app("slow"), ports["slow"]),
        serve_asgi(broken_app("unsigned"), ports["unsigned"]),
        dropping_server(drop_port),
    ):
        ids = [(await api.submit(user, max_attempts=20))["task_id"] for _ in range(20)]
        tasks = await _wait_done(api, admin, ids)
        nodes = {n: await _node(api, admin, n) for n in ("good", *ports, "drop")}
    assert [t["status"] for t in tasks] == ["completed"] * 20
    assert nodes["good"]["finished"] == 20
    for bad in ("e500", "slow", "unsigned", "drop"):
        assert nodes[bad]["finished"] == 0
        # Any charged attempt came from a broken node's failure.
    charged = sum(t["attempts"] for t in tasks)
    failed_nodes = [
        n for n in ("e500", "slow", "unsigned", "drop") if nodes[n]["consecutive_failures"]
    ]
    assert charged >= 1 and failed_nodes


async def test_dead_node_recovers_and_gets_traffic_again(push_api: Api) -> None:
    api = push_api
    admin, user = await api.admin_headers(), await api.user_headers("pusher")
    port, secret = await _push_node(api, admin, "flaky", task_types=["noop"])
    witness_port, witness_secret = await _push_node(api, admin, "witness", task_types=["other"])
    async with serve_asgi(push_app({"other": lambda p, c: "seen"}, witness_secret), witness_port):
        for _ in range(100):  # nothing listens on flaky's port: probes fail
            if (await _node(api, admin, "flaky"))["health"] == "dead":
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("never declared dead")
        task = await api.submit(user)
        # Proof that dispatch rounds ran after ``task`` existed: a task created after
        # it reached the healthy witness. Every such round skipped the dead node.
        later = await api.submit(user, task_type="other")
        await _wait_done(api, admin, [later["task_id"]])
    r = await api.http.get(f"/tasks/{task['task_id']}", headers=admin)
    assert (r.json()["status"], r.json()["attempts"]) == ("pending", 0)  # never sent
    assert await _pushes(api) == {"completed": 1}
    async with serve_asgi(push_app({"noop": lambda p, c: "back"}, secret), port):
        (done,) = await _wait_done(api, admin, [task["task_id"]])
        node = await _node(api, admin, "flaky")
    assert (done["status"], done["result"], done["attempts"]) == ("completed", "back", 0)
    assert (node["health"], node["consecutive_failures"]) == ("healthy", 0)
    assert await _pushes(api) == {"completed": 2}


async def test_accepted_task_is_finished_later_by_the_node(push_api: Api) -> None:
    api = push_api
    admin, user = await api.admin_headers(), await api.user_headers("pusher")
    seen: list[PushContext] = []

    async def later(params: dict[str, Any], ctx: PushContext) -> object:
        seen.append(ctx)
        return ACCEPTED

    port, secret = await _push_node(api, admin, "async-node")
    async with serve_asgi(push_app({"noop": later}, secret), port):
        task = await api.submit(user)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.05)
        node = await api.node_headers("async-node", secret)
        ctx = seen[0]
        r = await api.http.post(
            f"/tasks/{ctx.task_id}/complete",
            json={"version": ctx.version, "result": "late"},
            headers=node,
        )
    assert r.status_code == 200, r.text
    assert (ctx.task_id, r.json()["status"], r.json()["result"]) == (
        task["task_id"],
        "completed",
        "late",
    )
