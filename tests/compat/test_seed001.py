"""Seed 001 through its profile: the customer's tasks and wallet, the worker runner's
loop (poll /api/tasks, next-chunk, record-chunk with progress), and the same job
through the native API; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.compat.seed001_client import WorkerRunner
from tests.server import Api, wait_until

ITEMS = list(range(10))


async def _provider(api: Api, username: str, node_id: str) -> tuple[dict[str, str], str]:
    """A user who runs a node of its own: its headers, and the node's access token."""
    user = await api.user_headers(username)
    r = await api.http.post("/nodes", json={"name": node_id, "node_id": node_id}, headers=user)
    assert r.status_code == 201, r.text
    node = await api.node_headers(node_id, r.json()["node_secret"])
    return user, node["Authorization"].removeprefix("Bearer ")


async def test_seed001_customer_tasks_and_wallet(compat: Api) -> None:
    alice = await compat.user_headers("alice")
    seed = httpx.AsyncClient(base_url=compat.base_url, headers=alice)
    assert (await seed.get("/api/wallet")).json()["balance"] == 0
    r = await seed.post("/api/wallet/deposit", json={"amount": 50})
    assert r.status_code == 201, r.text
    paid = r.json()
    assert paid["type"] == "deposit" and paid["status"] == "succeeded"
    assert paid["wallet"]["balance"] == 50

    task_in = {"taskType": "noop", "items": ITEMS, "chunkSize": 3, "pricePerChunk": 20}
    short = await seed.post("/api/tasks", json=task_in)
    assert short.status_code == 402, short.text
    assert isinstance(short.json()["error"], str)
    assert short.json()["details"]["shortfall"] == 4 * 20 - 50

    r = await seed.post("/api/tasks", json={**task_in, "pricePerChunk": 5, "maxConcurrency": 2})
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["status"] == "running" and task["totalChunks"] == 4 and task["budget"] == 20
    assert (task["pendingChunks"], task["progress"], task["maxConcurrency"]) == (4, 0.0, 2)
    listed = (await seed.get("/api/tasks")).json()["tasks"]
    assert [t["id"] for t in listed] == [task["id"]]
    got = await seed.get(f"/api/tasks/{task['id']}")
    assert got.status_code == 200 and got.json()["reserved"] == 20
    wallet = (await seed.get("/api/wallet")).json()
    assert (wallet["balance"], wallet["reserved"]) == (30, 20)
    kinds = [t["type"] for t in (await seed.get("/api/wallet/transactions")).json()["transactions"]]
    assert kinds == ["reserve", "deposit"]

    r = await seed.post("/api/wallet/withdraw", json={"amount": 31})
    assert r.status_code == 402 and isinstance(r.json()["error"], str)
    r = await seed.post("/api/wallet/withdraw", json={"amount": 30})
    assert r.status_code == 201 and r.json()["wallet"]["balance"] == 0

    # Refusals in the seed's {"error": "..."} shape, data untouched.
    bad = await seed.post("/api/tasks", json={**task_in, "chunkSize": 0})
    assert bad.status_code == 400 and isinstance(bad.json()["error"], str)
    assert (await seed.post("/api/wallet/deposit", json={"amount": 1.5})).status_code == 400
    mallory = await compat.user_headers("mallory")
    assert (await seed.get(f"/api/tasks/{task['id']}", headers=mallory)).status_code == 404
    assert (await seed.get("/api/tasks", headers=mallory)).json()["tasks"] == []
    anonymous = await seed.get("/api/tasks", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert len((await seed.get("/api/tasks")).json()["tasks"]) == 1
    await seed.aclose()


async def test_seed001_worker_runner_completes_a_task_and_is_paid(compat: Api) -> None:
    alice = await compat.user_headers("alice")
    bob, token = await _provider(compat, "bob", "worker-1")
    seed = httpx.AsyncClient(base_url=compat.base_url, headers=alice)
    await seed.post("/api/wallet/deposit", json={"amount": 200})
    body = {"taskType": "noop", "items": ITEMS, "chunkSize": 3, "pricePerChunk": 10}
    task = (await seed.post("/api/tasks", json={**body, "maxConcurrency": 2})).json()
    # Another customer's task the worker must not see: it requires a capability.
    gpu = await seed.post("/api/tasks", json={**body, "requiredCapabilities": {"gpu": "a100"}})
    assert gpu.status_code == 201, gpu.text

    env = {"WORKER_ID": "worker-1", "API_BASE": compat.base_url, "POLL_INTERVAL": "50",
           "HEARTBEAT_INTERVAL": "200"}  # fmt: skip
    runner = WorkerRunner(env, token, lambda items: [n * n for n in items])
    worker_view = (await runner.http.get("/api/tasks")).json()["tasks"]
    assert [t["id"] for t in worker_view] == [task["id"]], "only what it could run"
    assert (await runner.http.get(f"/api/tasks/{gpu.json()['id']}")).status_code == 404
    listed = await seed.post("/api/tasks", json={**body, "requiredCapabilities": ["gpu"]})
    assert listed.json()["requiredCapabilities"] == {"gpu": "true"}

    async def finished() -> dict[str, Any] | None:
        got = (await seed.get(f"/api/tasks/{task['id']}")).json()
        return got if got["status"] != "running" else None

    loop = asyncio.create_task(runner.run(lambda: len(runner.done) >= 4))
    done = await wait_until(finished, 30, "the task completed")
    await asyncio.wait_for(loop, 10)
    assert (done["status"], done["completedChunks"], done["progress"]) == ("completed", 4, 100.0)
    assert done["spent"] == 40 and done["reserved"] == 0

    # The chunks' progress was recorded, and the results come back in chunk order.
    first = runner.done[0]
    progress = (await compat.http.get(f"/tasks/{first}/progress", headers=alice)).json()
    assert [p["data"]["percent"] for p in progress["progress"]] == [50, 100]
    r = await compat.http.get(f"/jobs/{task['id']}/results", headers=alice)
    assert [json.loads(line) for line in r.text.splitlines()] == [n * n for n in ITEMS]
    share = 10 - 10 * done["platformFeePercent"] // 100
    earned = (await seed.get("/api/wallet", headers=bob)).json()
    assert earned["earned"] == 4 * share
    payouts = (await seed.get("/api/wallet/transactions", headers=bob)).json()["transactions"]
    assert sorted(t["ref"] for t in payouts) == sorted(f"chunk:{c}" for c in runner.done)

    # A finished chunk cannot be recorded again; workerId must be the caller.
    again = await runner.http.post(
        "/api/worker/record-chunk", json={"chunkId": first, "version": 1, "results": [0]}
    )
    assert again.status_code == 409 and isinstance(again.json()["error"], str)
    other = await runner.http.post("/api/worker/next-chunk", json={"workerId": "worker-2"})
    assert other.status_code == 403
    idle = await runner.http.post("/api/worker/next-chunk", json={"workerId": "worker-1"})
    assert idle.status_code == 200 and idle.json() == {"chunk": None}
    assert (await seed.post("/api/worker/next-chunk", json={})).status_code == 403
    assert (await runner.http.get("/api/wallet")).status_code == 403
    empty = await runner.http.post("/api/worker/record-chunk", json={"chunkId": first})
    assert empty.status_code == 400
    await runner.close()
    await seed.aclose()


async def test_seed001_task_is_the_native_job(compat: Api) -> None:
    alice = await compat.user_headers("alice")
    _, token = await _provider(compat, "carol", "worker-9")
    seed = httpx.AsyncClient(base_url=compat.base_url, headers=alice)
    await seed.post("/api/wallet/deposit", json={"amount": 10})
    task = (
        await seed.post(
            "/api/tasks",
            json={
                "taskType": "noop",
                "items": [1, 2],
                "chunkSize": 1,
                "pricePerChunk": 5,
                "name": "squares",
            },
        )
    ).json()
    native = (await compat.http.get(f"/jobs/{task['id']}", headers=alice)).json()
    assert (native["status"], native["chunk_count"], native["reserved"]) == ("running", 2, 10)
    assert task["name"] == "squares" and native["metadata"] == {"seed_001_name": "squares"}

    worker = httpx.AsyncClient(
        base_url=compat.base_url, headers={"Authorization": f"Bearer {token}"}
    )
    chunk = (await worker.post("/api/worker/next-chunk", json={})).json()["chunk"]
    assert chunk["taskId"] == task["id"] and chunk["items"] in ([1], [2])
    seen = (await compat.http.get(f"/tasks/{chunk['chunkId']}", headers=alice)).json()
    assert (seen["status"], seen["version"], seen["lease_owner"]) == (
        "in_progress",
        chunk["version"],
        "worker-9",
    )
    r = await worker.post(
        "/api/worker/record-chunk", json={"chunkId": chunk["chunkId"], "status": "failed",
                                          "error": {"message": "bad input"}, "retryable": False},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "failed"
    seen = (await compat.http.get(f"/tasks/{chunk['chunkId']}", headers=alice)).json()
    assert seen["status"] == "failed" and seen["version"] == r.json()["version"]
    assert seen["error"] == {"message": "bad input"}
    view = (await seed.get(f"/api/tasks/{task['id']}")).json()
    native = (await compat.http.get(f"/jobs/{task['id']}", headers=alice)).json()
    assert view["failedChunks"] == 1 and native["counts"]["failed"] == 1
    assert view["refunded"] == native["refunded"] == 5
    await worker.aclose()
    await seed.aclose()
