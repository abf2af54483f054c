"""When the bus cannot be trusted the stream re-reads the database: overflowed
queues, truncated (oversized) messages, gaps. Nothing lost, nothing repeated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conveyor.domain.access import Principal
from conveyor.domain.states import Role
from conveyor.realtime import bus as bus_module
from conveyor.services.events import Outbox
from conveyor.services.runtime import Runtime
from conveyor.services.streams import StreamEvent, StreamService
from conveyor.services.tasks import TaskService, TaskSpec
from conveyor.store import progress as progress_store
from tests.events.conftest import data, open_stream, running_task, seqs
from tests.server import Api, runtime

OWNER = Principal("owner-1", Role.USER, "owner")


@pytest.fixture
async def rt(database_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    async with runtime(database_url, tmp_path) as started:
        yield started


async def _progress(rt: Runtime, task_id: str, seqs: range, publish: bool = True) -> None:
    """Commit progress rows, then publish them as the worker service would."""
    outbox = Outbox()
    async with rt.db.write() as conn:
        for seq in seqs:
            now = datetime.now(UTC)
            outbox.progressed(await progress_store.append(conn, task_id, seq, {"n": seq}, now))
    if publish:
        outbox.flush(rt.bus)
        await rt.bus.drain()


async def _take(stream: AsyncIterator[StreamEvent], count: int) -> list[int]:
    return [int((await asyncio.wait_for(anext(stream), 10)).data["seq"]) for _ in range(count)]


async def test_an_overflowed_subscription_catches_up_from_the_database(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    (task,) = await TaskService(rt).create(OWNER, [TaskSpec(task_type="t")])  # type: ignore[misc]
    await _progress(rt, task.id, range(1, 2))
    stream = await StreamService(rt).task_stream(OWNER, task.id, 0, False)
    assert await _take(stream, 1) == [1]
    # The stream is suspended (a slow client); far more arrives than its queue holds.
    monkeypatch.setattr(bus_module, "QUEUE_LIMIT", 5)
    await _progress(rt, task.id, range(2, 41))
    assert await _take(stream, 39) == list(range(2, 41))
    await stream.aclose()  # type: ignore[attr-defined]


async def test_a_gap_in_live_progress_is_filled_from_the_database(rt: Runtime) -> None:
    (task,) = await TaskService(rt).create(OWNER, [TaskSpec(task_type="t")])  # type: ignore[misc]
    await _progress(rt, task.id, range(1, 2))
    stream = await StreamService(rt).task_stream(OWNER, task.id, 0, False)
    assert await _take(stream, 1) == [1]
    await _progress(rt, task.id, range(2, 5), publish=False)  # lost on the bus
    await _progress(rt, task.id, range(5, 7))
    assert await _take(stream, 5) == [2, 3, 4, 5, 6]
    await stream.aclose()  # type: ignore[attr-defined]


async def test_progress_too_big_for_a_notification_arrives_whole(api: Api) -> None:
    run = await running_task(api)
    big = "x" * 20_000  # PostgreSQL NOTIFY carries under 8000 bytes
    async with open_stream(api.base_url, f"/tasks/{run.task_id}/events", run.user) as stream:
        await run.report(1)
        r = await api.http.post(
            f"/tasks/{run.task_id}/progress", json={"data": {"big": big}}, headers=run.node
        )
        assert r.status_code == 201, r.text
        await run.report(3)
        events = await stream.take(3)
        await run.complete({"big": big})
        final = await stream.rest()
    assert seqs(events) == [1, 2, 3]
    assert data(events[1])["data"] == {"big": big}
    assert data(final[0])["result"] == {"big": big}
