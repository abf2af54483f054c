"""Bucket slots and payment under real concurrency: two server processes on one
PostgreSQL, many claimers on several nodes, duplicate finishes across replicas."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.jobs.helpers import Ledger, assert_sound, create_job, fund, job, wallet
from tests.server import Api, replicas, wait_until

pytestmark = pytest.mark.postgres

CHUNKS = 300
SLOTS = 5
NODES = 4
CLAIMERS = 16
PRICE = 7


async def _claimer(base_url: str, node: dict[str, str], done: list[str]) -> None:
    """Claim a chunk at a time, hold it briefly (the work), complete it; until none is left
    and the job has ended."""
    async with httpx.AsyncClient(base_url=base_url + "/api/v1", timeout=60) as http:
        idle = 0
        while idle < 3:
            r = await http.post(
                "/worker/claim", json={"max_tasks": 2, "wait_seconds": 0.5}, headers=node
            )
            assert r.status_code == 200, r.text
            tasks = r.json()["tasks"]
            if not tasks:
                idle += 1
                continue
            idle = 0
            await asyncio.sleep(0.002)
            for task in tasks:
                body = {"version": task["version"], "result": {"results": task["params"]["items"]}}
                c = await http.post(f"/tasks/{task['task_id']}/complete", json=body, headers=node)
                assert c.status_code == 200, c.text
                done.append(task["task_id"])


async def test_many_claimers_on_two_replicas_never_exceed_the_slots(
    postgres_url: str, tmp_path: Path
) -> None:
    books = Ledger(postgres_url)
    async with replicas(postgres_url, tmp_path) as (a, b):
        admin = await a.admin_headers()
        alice = await a.user_headers("alice")
        await fund(a, alice, CHUNKS * PRICE)
        nodes = [
            (await a.new_node(admin, node_id=f"n{i}", max_concurrency=50))[1] for i in range(NODES)
        ]
        created = await create_job(
            a,
            alice,
            items=list(range(CHUNKS)),
            chunk_size=1,
            max_concurrency=SLOTS,
            price_per_chunk=PRICE,
        )
        job_id = created["job_id"]
        peak = 0
        samples = 0
        stop = asyncio.Event()

        async def sample() -> None:
            nonlocal peak, samples
            while not stop.is_set():
                peak = max(peak, await books.in_progress(job_id))
                samples += 1
                await asyncio.sleep(0.005)

        sampler = asyncio.create_task(sample())
        done: list[str] = []
        urls = itertools.cycle([a.base_url, b.base_url])
        claimers = [_claimer(next(urls), nodes[i % NODES], done) for i in range(CLAIMERS)]
        await asyncio.wait_for(asyncio.gather(*claimers), 120)
        stop.set()
        await sampler
        final = await job(a, alice, job_id)
        balance = await wallet(b, alice)

    try:
        assert samples > 50
        assert peak <= SLOTS, f"{peak} chunks in progress at once"
        assert peak == SLOTS, "the slots were never all used"
        assert len(done) == len(set(done)) == CHUNKS
        assert final["status"] == "completed"
        assert (final["spent"], final["reserved"]) == (CHUNKS * PRICE, 0)
        assert (balance["available"], balance["reserved"]) == (0, 0)
        settled = await books.refs("settle")
        assert len(settled) == len(set(settled)) == CHUNKS
        assert Counter(r.split(":")[0] for r in settled) == {"chunk": CHUNKS}
        assert_sound(await books.audit())
    finally:
        await books.close()


async def test_duplicate_completes_across_replicas_pay_once(
    postgres_url: str, tmp_path: Path
) -> None:
    books = Ledger(postgres_url)
    async with replicas(postgres_url, tmp_path) as (a, b):
        admin = await a.admin_headers()
        alice = await a.user_headers("alice")
        await fund(a, alice, 100)
        _, node = await a.new_node(admin, node_id="n1")
        created = await create_job(a, alice, items=[1, 2], chunk_size=1, price_per_chunk=30)
        tasks = (await a.claim(node, max_tasks=2))["tasks"]
        statuses: list[int] = []
        for task in tasks:
            body: dict[str, Any] = {"version": task["version"], "result": {"results": [0]}}
            path = f"/tasks/{task['task_id']}/complete"
            answers = await asyncio.gather(
                *[api.http.post(path, json=body, headers=node) for api in [a, b] * 6]
            )
            codes = sorted(r.status_code for r in answers)
            assert codes == [200] + [409] * 11, codes
            statuses.extend(codes)
        await wait_until(
            lambda: _status_is(a, alice, created["job_id"], "completed"), 10, "the job to end"
        )
        final = await job(b, alice, created["job_id"])
    try:
        assert final["spent"] == 60
        assert len(await books.refs("settle")) == 2
        assert_sound(await books.audit())
    finally:
        await books.close()


async def _status_is(api: Api, headers: dict[str, str], job_id: str, status: str) -> bool:
    return (await job(api, headers, job_id))["status"] == status
