"""SDK streams are live: an event posted while a stream is open reaches the iterator
at once, not when the stream ends (httpx must not buffer the body)."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from conveyor.client import AsyncClient, Client, Event
from tests.server import ADMIN, Api

LIVE_WITHIN = 0.5  # seconds from the server's answer to the event reaching the SDK


async def claimed_task(api: Api) -> tuple[dict[str, Any], dict[str, str]]:
    """Alice's task, claimed by a node: (task as claimed, the node's headers)."""
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    _, node = await api.new_node(admin, node_id="w", task_types=["echo"])
    await api.submit(alice, task_type="echo")
    (task,) = (await api.claim(node, max_tasks=1))["tasks"]
    return task, node


async def post_progress(api: Api, task_id: str, node: dict[str, str], percent: int) -> float:
    r = await api.http.post(
        f"/tasks/{task_id}/progress", json={"data": {"percent": percent}}, headers=node
    )
    assert r.status_code == 201, r.text
    return time.monotonic()


async def collect(events: AsyncIterator[Event], into: asyncio.Queue[tuple[float, Event]]) -> None:
    async for event in events:
        into.put_nowait((time.monotonic(), event))


async def test_async_events_arrive_while_the_stream_is_open(api: Api) -> None:
    task, node = await claimed_task(api)
    async with AsyncClient(api.base_url, username="alice", password="user-password-1") as alice:
        await alice.login()
        # A stale token: the stream's 401 must be renewed and replayed like any call.
        alice.auth.access_token = "not-a-valid-token"
        got: asyncio.Queue[tuple[float, Event]] = asyncio.Queue()
        reader = asyncio.create_task(
            collect(alice.events(task["task_id"], ignore_history=True), got)
        )
        try:
            await api.wait_metric("conveyor_sse_subscribers", 1, "the stream to open")
            for percent in (10, 60):
                posted = await post_progress(api, task["task_id"], node, percent)
                arrived, event = await asyncio.wait_for(got.get(), LIVE_WITHIN)
                assert event.event == "progress" and event.data["data"] == {"percent": percent}
                assert arrived - posted < LIVE_WITHIN
            assert not reader.done(), "the task is still running, the stream still open"
            r = await api.http.post(
                f"/tasks/{task['task_id']}/complete",
                json={"version": task["version"], "result": {"ok": True}},
                headers=node,
            )
            assert r.status_code == 200, r.text
            _, final = await asyncio.wait_for(got.get(), 5)
            assert final.final and final.data["status"] == "completed"
            await asyncio.wait_for(reader, 5)
        finally:
            reader.cancel()


async def test_sync_events_arrive_while_the_stream_is_open(api: Api) -> None:
    task, node = await claimed_task(api)
    got: queue.Queue[tuple[float, Event]] = queue.Queue()
    stop = threading.Event()

    def read() -> None:
        with Client(api.base_url, username="alice", password="user-password-1") as alice:
            for event in alice.events(task["task_id"], ignore_history=True):
                got.put((time.monotonic(), event))
                if stop.is_set():
                    return

    reader = asyncio.create_task(asyncio.to_thread(read))
    await api.wait_metric("conveyor_sse_subscribers", 1, "the stream to open")
    posted = await post_progress(api, task["task_id"], node, 42)
    arrived, event = await asyncio.to_thread(got.get, True, LIVE_WITHIN)
    assert event.data["data"] == {"percent": 42} and arrived - posted < LIVE_WITHIN
    assert not reader.done()
    stop.set()
    await post_progress(api, task["task_id"], node, 43)  # lets the reader see the flag
    await asyncio.wait_for(reader, 10)


async def test_firehose_is_live(api: Api) -> None:
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    _, node = await api.new_node(admin, node_id="w", task_types=["echo"])
    async with AsyncClient(api.base_url, username=ADMIN[0], password=ADMIN[1]) as root:
        got: asyncio.Queue[tuple[float, Event]] = asyncio.Queue()
        reader = asyncio.create_task(collect(root.firehose(status="in_progress"), got))
        try:
            await api.wait_metric("conveyor_sse_subscribers", 1, "the firehose to open")
            task = await api.submit(alice, task_type="echo")
            (claimed,) = (await api.claim(node, max_tasks=1))["tasks"]
            claimed_at = time.monotonic()
            arrived, event = await asyncio.wait_for(got.get(), LIVE_WITHIN)
            assert event.data["task_id"] == task["task_id"] == claimed["task_id"]
            assert event.data["status"] == "in_progress"
            assert arrived - claimed_at < LIVE_WITHIN
        finally:
            reader.cancel()
