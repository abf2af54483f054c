"""Racing polls through the profiles never hand one task to two holders."""

from __future__ import annotations

import asyncio

import httpx

from tests.compat.conftest import API_KEY_004
from tests.server import Api

TASKS = 12


async def test_seed000_concurrent_polls_lock_each_task_once(compat: Api) -> None:
    admin = await compat.admin_headers()
    r = await compat.http.post(
        "/nodes/import",
        json={"nodes": [{"node_id": "nodeA", "node_secret": "secret-for-node-a"}]},
        headers=admin,
    )
    assert r.status_code == 201
    for _ in range(TASKS):
        await compat.submit(admin, task_type="email_send", assigned_node_id="nodeA")
    async with httpx.AsyncClient(base_url=compat.base_url) as seed:
        r = await seed.post(
            "/auth/node/login", json={"node_id": "nodeA", "node_secret": "secret-for-node-a"}
        )
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        polls = await asyncio.gather(*[seed.get("/tasks/assigned", headers=auth) for _ in range(4)])
    locked = [t["task_id"] for p in polls for t in p.json()]
    assert all(p.status_code == 200 for p in polls)
    assert len(locked) == TASKS and len(set(locked)) == TASKS


async def test_seed004_concurrent_claims_take_distinct_tasks(compat: Api) -> None:
    tasks = "/compat/004/api/v1/tasks"
    async with httpx.AsyncClient(
        base_url=compat.base_url, headers={"X-API-Key": API_KEY_004}
    ) as client:
        for i in range(TASKS):
            r = await client.post(tasks, json={"taskId": f"c{i}", "taskType": "job"})
            assert r.status_code == 201
        claims = await asyncio.gather(
            *[
                client.post(tasks + "/claim", json={"taskTypes": ["job"], "workerId": f"w{i % 4}"})
                for i in range(TASKS + 4)
            ]
        )
    got = [c.json()["taskId"] for c in claims if c.json() is not None]
    assert len(got) == TASKS and len(set(got)) == TASKS
