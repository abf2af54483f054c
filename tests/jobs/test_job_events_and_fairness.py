"""A job's SSE stream (chunk status changes live, progress from the database, the end)
and fair claiming (two jobs' chunks interleave), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from tests.events.conftest import api, data, open_stream
from tests.jobs.helpers import complete, create_job, fund
from tests.server import Api

__all__ = ["api"]


async def test_the_job_stream_shows_chunks_and_progress_until_the_end(api: Api) -> None:
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    await fund(api, alice, 100)
    _, node = await api.new_node(admin, node_id="n1")
    job_id = (await create_job(api, alice, items=[1, 2, 3], chunk_size=1, price_per_chunk=5))[
        "job_id"
    ]
    async with open_stream(api.base_url, f"/jobs/{job_id}/events", alice) as stream:
        first = await stream.next()
        assert first.event == "progress"
        assert data(first)["counts"] == {"pending": 3} and data(first)["reserved"] == 15

        async def work() -> None:
            for task in (await api.claim(node, max_tasks=3))["tasks"]:
                assert (await complete(api, node, task)).status_code == 200

        worker = asyncio.create_task(work())
        events = await stream.rest()
        await worker
    chunks = [data(e) for e in events if e.event == "chunk"]
    assert sorted(c["chunk_index"] for c in chunks if c["status"] == "completed") == [0, 1, 2]
    assert all(c["node_id"] == "n1" for c in chunks)
    assert sum(c["status"] == "in_progress" for c in chunks) == 3
    last = data(events[-1])
    assert events[-1].event == "progress"
    assert last["status"] == "completed" and last["spent"] == 15 and last["reserved"] == 0
    assert last["progress_percent"] == 100.0 and last["eta_seconds"] == 0.0


async def test_a_stream_ticket_for_the_job_opens_its_stream_once(api: Api) -> None:
    alice = await api.user_headers("alice")
    mallory = await api.user_headers("mallory")
    job_id = (await create_job(api, alice, items=[1], chunk_size=1, price_per_chunk=0))["job_id"]
    r = await api.http.post("/auth/stream-ticket", json={"task_id": job_id}, headers=alice)
    ticket = r.json()["ticket"]
    path = f"/jobs/{job_id}/events"
    async with open_stream(api.base_url, path, params={"ticket": ticket}) as stream:
        assert stream.status_code == 200
        assert (await stream.next()).event == "progress"
    async with open_stream(api.base_url, path, params={"ticket": ticket}) as stream:
        assert stream.status_code == 401
    r = await api.http.post("/auth/stream-ticket", json={}, headers=mallory)
    async with open_stream(api.base_url, path, params={"ticket": r.json()["ticket"]}) as stream:
        assert stream.status_code == 404


async def test_claims_interleave_jobs_whatever_their_size_or_age(api: Api) -> None:
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    bob = await api.user_headers("bob")
    await fund(api, alice, 1000)
    await fund(api, bob, 1000)
    _, node = await api.new_node(admin, node_id="n1", max_concurrency=100)
    big = await create_job(api, alice, items=list(range(50)), chunk_size=1, max_concurrency=50)
    small = await create_job(api, bob, items=list(range(5)), chunk_size=1, max_concurrency=50)
    order = []
    for _ in range(10):
        (task,) = (await api.claim(node, max_tasks=1))["tasks"]
        order.append(task["job_id"])
    # The later, smaller job is not starved by the earlier, bigger one: turns alternate.
    assert order == [big["job_id"], small["job_id"]] * 5
    # Once the small job has nothing left, the big one gets every claim.
    more = [(await api.claim(node, max_tasks=1))["tasks"][0]["job_id"] for _ in range(3)]
    assert more == [big["job_id"]] * 3


async def test_each_chunk_event_arrives_promptly_and_the_last_before_the_end(api: Api) -> None:
    """Chunks finished one by one: each one's event reaches the watcher within a
    second of its completion being acknowledged, and the last chunk's event is never
    cut off by the stream's end (it is published after the commit that ends the job)."""
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    await fund(api, alice, 100)
    _, node = await api.new_node(admin, node_id="n1")
    job_id = (await create_job(api, alice, items=[1, 2, 3, 4], chunk_size=1))["job_id"]
    async with open_stream(api.base_url, f"/jobs/{job_id}/events", alice) as stream:
        assert (await stream.next()).event == "progress"
        lags = []
        for _ in range(4):
            (task,) = (await api.claim(node, max_tasks=1))["tasks"]
            assert (await complete(api, node, task)).status_code == 200
            acknowledged = asyncio.get_running_loop().time()
            while True:
                event = await stream.next()
                if event.event == "chunk" and data(event)["status"] == "completed":
                    break
            assert data(event)["chunk_index"] == task["chunk_index"]
            lags.append(asyncio.get_running_loop().time() - acknowledged)
        rest = await stream.rest()
    assert max(lags) < 1.0, lags
    assert rest and rest[-1].event == "progress" and data(rest[-1])["status"] == "completed"
