"""A job's event stream resumes like a task stream: every event has an id, and a
client that comes back with it (``Last-Event-ID`` or ``?after=``) gets every chunk
change it missed, once and in order, then live events; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from httpx_sse import ServerSentEvent

from conveyor.client.async_client import AsyncClient
from conveyor.client.retry import RetryPolicy
from conveyor.services import job_streams
from tests.dashboard.proxy import CuttableProxy
from tests.events.conftest import Stream, api, data, open_stream
from tests.jobs.helpers import complete, create_job, fund
from tests.server import Api

__all__ = ["api"]

PASSWORD = "user-password-1"
Headers = dict[str, str]


async def _job(api: Api, items: int) -> tuple[Headers, Headers, str]:
    admin = await api.admin_headers()
    alice = await api.user_headers("alice", PASSWORD)
    await fund(api, alice, 1000)
    _, node = await api.new_node(admin, node_id="n1", max_concurrency=100)
    job = await create_job(api, alice, items=list(range(items)), chunk_size=1, max_concurrency=50)
    return alice, node, job["job_id"]


async def _claim(api: Api, node: Headers, count: int) -> list[dict[str, Any]]:
    tasks = (await api.claim(node, max_tasks=count))["tasks"]
    assert len(tasks) == count
    return list(tasks)


async def _until_chunk(stream: Stream, task_id: str, status: str) -> ServerSentEvent:
    while True:
        event = await stream.next()
        if event.event == "chunk" and (data(event)["task_id"], data(event)["status"]) == (
            task_id,
            status,
        ):
            return event


async def _replayed(stream: Stream) -> list[tuple[str, str, int]]:
    """The chunk events a resumed stream sends before its first progress."""
    chunks = []
    while (event := await stream.next()).event == "chunk":
        chunks.append((data(event)["task_id"], data(event)["status"], data(event)["version"]))
        assert event.id
    assert event.event == "progress" and event.id
    return chunks


@pytest.mark.parametrize("via", ["header", "query"])
async def test_a_returning_client_gets_what_it_missed_once_in_order_then_live(
    api: Api, via: str
) -> None:
    alice, node, job_id = await _job(api, 5)
    path = f"/jobs/{job_id}/events"
    async with open_stream(api.base_url, path, alice) as stream:
        first = await stream.next()
        assert first.event == "progress" and first.id  # resumable from the very first
        a, b = await _claim(api, node, 2)
        assert (await complete(api, node, a)).status_code == 200
        seen = await _until_chunk(stream, a["task_id"], "completed")
        # b's claim came with a's, before a's completion: it was sent before it.
    assert seen.id
    # While the client is away: b completes, two more are claimed, one completes.
    assert (await complete(api, node, b)).status_code == 200
    c, d = sorted(await _claim(api, node, 2), key=lambda t: t["task_id"])
    assert (await complete(api, node, d)).status_code == 200

    headers, params = dict(alice), {}
    if via == "header":
        headers["Last-Event-ID"] = seen.id
    else:
        params["after"] = seen.id
    async with open_stream(api.base_url, path, headers, params) as stream:
        # In the order of the chunks' changes: b's completion, the claim of c and d
        # (one statement, one timestamp: by id), d's completion. Each chunk in its
        # current state, once; nothing the client had seen.
        assert await _replayed(stream) == [
            (b["task_id"], "completed", 3),
            (c["task_id"], "in_progress", 2),
            (d["task_id"], "completed", 3),
        ]
        # Then live, promptly.
        assert (await complete(api, node, c)).status_code == 200
        done = asyncio.get_running_loop().time()
        live = await _until_chunk(stream, c["task_id"], "completed")
        assert asyncio.get_running_loop().time() - done < 1.0
        assert live.id and live.id != seen.id
        (e,) = await _claim(api, node, 1)
        assert (await complete(api, node, e)).status_code == 200
        rest = await stream.rest()
    chunks = [(data(x)["task_id"], data(x)["version"]) for x in rest if x.event == "chunk"]
    assert chunks == [(e["task_id"], 2), (e["task_id"], 3)]
    assert rest[-1].event == "progress" and data(rest[-1])["status"] == "completed"


async def test_a_long_replay_is_read_in_pages_ties_in_id_order(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_streams, "REPLAY_PAGE", 5)
    alice, node, job_id = await _job(api, 12)
    path = f"/jobs/{job_id}/events"
    async with open_stream(api.base_url, path, alice) as stream:
        start = (await stream.next()).id
    assert start
    # All twelve claimed at one instant, then four completed one by one.
    claimed = sorted(await _claim(api, node, 12), key=lambda t: t["task_id"])
    for task in claimed[:4]:
        assert (await complete(api, node, task)).status_code == 200
    async with open_stream(api.base_url, path, {**alice, "Last-Event-ID": start}) as stream:
        replayed = await _replayed(stream)
    expected = [(t["task_id"], "in_progress", 2) for t in claimed[4:]]
    expected += [(t["task_id"], "completed", 3) for t in claimed[:4]]
    assert replayed == expected


async def test_a_finished_jobs_stream_replays_then_ends(api: Api) -> None:
    alice, node, job_id = await _job(api, 2)
    path = f"/jobs/{job_id}/events"
    async with open_stream(api.base_url, path, alice) as stream:
        start = (await stream.next()).id
    assert start
    for task in sorted(await _claim(api, node, 2), key=lambda t: t["task_id"]):
        assert (await complete(api, node, task)).status_code == 200
    async with open_stream(api.base_url, path, alice, {"after": start}) as stream:
        events = await stream.rest()
    assert [e.event for e in events] == ["chunk", "chunk", "progress"]
    assert {data(e)["status"] for e in events[:2]} == {"completed"}
    assert data(events[-1])["status"] == "completed"


BAD_IDS = [
    "abc",
    "123",
    "123.",
    ".abc",
    "12.a b",
    "-5.abc",
    "1" * 18 + ".abc",
    "1." + "a" * 65,
    "1." + "a" * 10_000,
]


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_a_malformed_or_overlong_event_id_is_a_400(api: Api, bad: str) -> None:
    alice, _, job_id = await _job(api, 1)
    path = f"/jobs/{job_id}/events"
    for headers, params in (({**alice, "Last-Event-ID": bad}, {}), (alice, {"after": bad})):
        r = await api.http.get(path, headers=headers, params=params)
        assert r.status_code == 400, (bad, r.status_code, r.text[:200])
        error = r.json()["error"]
        assert error["code"] and error["message"]


async def test_someone_elses_job_is_a_404_with_or_without_an_id(api: Api) -> None:
    alice, _, job_id = await _job(api, 1)
    async with open_stream(api.base_url, f"/jobs/{job_id}/events", alice) as stream:
        start = (await stream.next()).id
    assert start
    mallory = await api.user_headers("mallory")
    for headers in (mallory, {**mallory, "Last-Event-ID": start}):
        r = await api.http.get(f"/jobs/{job_id}/events", headers=headers)
        assert r.status_code == 404 and r.json()["error"]["code"]


async def test_the_sdk_survives_a_dropped_connection_without_duplicates(api: Api) -> None:
    _, node, job_id = await _job(api, 6)
    proxy = CuttableProxy(int(api.base_url.rsplit(":", 1)[1]))
    got: list[Any] = []
    arrived = asyncio.Event()
    async with (
        proxy.serve() as url,
        AsyncClient(
            url, username="alice", password=PASSWORD, retry=RetryPolicy(base_seconds=0.05)
        ) as client,
    ):

        async def watch() -> None:
            async for event in client.job_events(job_id):
                got.append(event)
                arrived.set()

        watcher = asyncio.create_task(watch())
        # Connected (its first progress came): from now on every change reaches it.
        await asyncio.wait_for(arrived.wait(), 15)
        tasks = sorted(await _claim(api, node, 6), key=lambda t: t["task_id"])
        for task in tasks[:2]:
            assert (await complete(api, node, task)).status_code == 200

        def completions() -> int:
            return sum(e.event == "chunk" and e.data["status"] == "completed" for e in got)

        while completions() < 2:
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), 15)
        proxy.cut()  # the network drops; the server and the client stay up
        for task in tasks[2:]:
            assert (await complete(api, node, task)).status_code == 200
        await asyncio.wait_for(watcher, 15)
    chunk_events = [(e.data["task_id"], e.data["version"]) for e in got if e.event == "chunk"]
    assert len(chunk_events) == len(set(chunk_events)), chunk_events
    completed = sorted(
        e.data["task_id"] for e in got if e.event == "chunk" and e.data["status"] == "completed"
    )
    assert completed == sorted(t["task_id"] for t in tasks)
    assert got[-1].event == "progress" and got[-1].data["status"] == "completed"


async def test_every_id_the_pattern_admits_is_a_position(api: Api) -> None:
    """The smallest and the largest: before every chunk, after every chunk."""
    alice, _, job_id = await _job(api, 2)
    path = f"/jobs/{job_id}/events"
    async with open_stream(api.base_url, path, {**alice, "Last-Event-ID": "0.0"}) as stream:
        assert [s for _, s, _ in await _replayed(stream)] == ["pending", "pending"]
    last = "9" * 17 + "." + "z" * 64
    async with open_stream(api.base_url, path, alice, {"after": last}) as stream:
        first = await stream.next()
    assert first.event == "progress" and first.id == last
