"""Concurrency through HTTP: many claimers, many processes, duplicate finishes."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from conveyor.settings import normalise_database_url
from tests.server import Api, ServerProcess, process_settings

TOTAL = 2000
CLAIMERS = 8


async def _seed(api: Api, user: dict[str, str], total: int) -> set[str]:
    ids: set[str] = set()
    for start in range(0, total, 500):
        body = {
            "tasks": [
                {"task_type": "noop", "params": {"i": i}}
                for i in range(start, min(total, start + 500))
            ]
        }
        r = await api.http.post("/tasks", json=body, headers=user)
        assert r.status_code == 201, r.text
        ids.update(t["task_id"] for t in r.json()["tasks"])
    return ids


async def _drain(base_url: str, node: dict[str, str]) -> list[str]:
    """Claim-and-complete in batches on its own connection until nothing is left."""
    done: list[str] = []
    finishes: list[dict[str, object]] = []
    async with httpx.AsyncClient(base_url=base_url + "/api/v1", timeout=60) as http:
        while True:
            r = await http.post(
                "/worker/claim", json={"max_tasks": 20, "finishes": finishes}, headers=node
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert all(f["ok"] for f in body["finished"]), body["finished"]
            done.extend(f["task_id"] for f in body["finished"])
            if not body["tasks"] and not finishes:
                return done
            finishes = [
                {"task_id": t["task_id"], "version": t["version"], "status": "completed"}
                for t in body["tasks"]
            ]


async def _nodes(api: Api, admin: dict[str, str], count: int) -> list[dict[str, str]]:
    return [
        (await api.new_node(admin, node_id=f"c{i}", max_concurrency=1000))[1] for i in range(count)
    ]


async def _check_all_completed_once(
    api: Api, admin: dict[str, str], ids: set[str], done: list[str]
) -> None:
    counts = Counter(done)
    assert set(counts) == ids
    assert max(counts.values()) == 1
    stats = (await api.http.get("/admin/stats", headers=admin)).json()
    assert stats["tasks"]["by_status"]["completed"] == len(ids)
    assert stats["tasks"]["total"] == len(ids)


async def test_concurrent_claimers_complete_every_task_once(api: Api) -> None:
    admin = await api.admin_headers()
    user = await api.user_headers("loader")
    ids = await _seed(api, user, TOTAL)
    nodes = await _nodes(api, admin, CLAIMERS)
    results = await asyncio.gather(*[_drain(api.base_url, n) for n in nodes])
    await _check_all_completed_once(api, admin, ids, [t for r in results for t in r])


async def test_duplicate_completes_exactly_one_wins(api: Api) -> None:
    admin = await api.admin_headers()
    user = await api.user_headers("dup")
    _, node = await api.new_node(admin, node_id="dup-node")
    for _ in range(3):
        task = await api.submit(user)
        (held,) = (await api.claim(node))["tasks"]

        async def complete(task: dict[str, Any] = task, held: dict[str, Any] = held) -> int:
            async with httpx.AsyncClient(base_url=api.base_url + "/api/v1") as http:
                r = await http.post(
                    f"/tasks/{task['task_id']}/complete",
                    json={"version": held["version"], "result": {"w": 1}},
                    headers=node,
                )
                return r.status_code

        codes = Counter(await asyncio.gather(*[complete() for _ in range(12)]))
        assert codes == {200: 1, 409: 11}


async def test_claimers_across_server_processes(postgres_url: str, tmp_path: Path) -> None:
    """Three ``conveyor serve`` processes on one PostgreSQL: still each task once."""
    env = process_settings(normalise_database_url(postgres_url), tmp_path)
    servers = [ServerProcess(env) for _ in range(3)]
    try:
        await asyncio.gather(*[s.start() for s in servers])
        api = Api(servers[0].url)
        try:
            admin = await api.admin_headers()
            user = await api.user_headers("multi")
            ids = await _seed(api, user, TOTAL)
            nodes = await _nodes(api, admin, CLAIMERS)
            results = await asyncio.gather(
                *[_drain(servers[i % 3].url, node) for i, node in enumerate(nodes)]
            )
            await _check_all_completed_once(api, admin, ids, [t for r in results for t in r])
        finally:
            await api.close()
    finally:
        for server in servers:
            server.stop()
