"""One task's event stream over real HTTP: history, live, resume, close."""

from __future__ import annotations

import asyncio

import httpx

from tests.events.conftest import KEEPALIVE, WAIT, data, open_stream, running_task, seqs
from tests.server import Api

OPEN_STREAMS = "conveyor_sse_subscribers"


async def test_history_then_live_in_order_then_close_on_completion(api: Api) -> None:
    run = await running_task(api)
    await run.report(1, 2, 3)
    async with open_stream(api.base_url, f"/tasks/{run.task_id}/events", run.user) as stream:
        assert stream.status_code == 200
        assert stream.source.response.headers["content-type"].startswith("text/event-stream")
        history = await stream.take(3)
        assert seqs(history) == [1, 2, 3]
        assert [e.id for e in history] == ["1", "2", "3"]
        assert data(history[0])["data"] == {"n": 1}
        # Progress reported while the stream is open, concurrently with reading it.
        reporter = asyncio.create_task(run.report(*range(4, 31)))
        live = await stream.take(27)
        await reporter
        assert seqs(live) == list(range(4, 31))
        await run.complete({"answer": 42})
        rest = await stream.rest()
    assert [e.event for e in rest] == ["status_change"]
    final = data(rest[0])
    assert final["status"] == "completed"
    assert final["result"] == {"answer": 42}
    assert {"version", "timestamp"} <= final.keys()


async def test_finished_task_streams_history_and_final_status_then_closes(api: Api) -> None:
    run = await running_task(api)
    await run.report(1, 2, 3, 4, 5)
    await run.complete("done")
    path = f"/tasks/{run.task_id}/events"
    async with open_stream(api.base_url, path, run.user) as stream:
        events = await stream.rest()
    assert seqs(events) == [1, 2, 3, 4, 5]
    assert events[-1].event == "status_change"
    assert data(events[-1])["result"] == "done"

    async with open_stream(api.base_url, path, run.user, {"after_seq": 3}) as stream:
        events = await stream.rest()
    assert seqs(events) == [4, 5]
    assert events[-1].event == "status_change"

    async with open_stream(api.base_url, path, run.user, {"ignore_history": "true"}) as stream:
        events = await stream.rest()
    assert [e.event for e in events] == ["status_change"]


async def test_ignore_history_on_a_live_task_sends_only_new_progress(api: Api) -> None:
    run = await running_task(api)
    await run.report(1, 2, 3)
    params = {"ignore_history": "true"}
    async with open_stream(api.base_url, f"/tasks/{run.task_id}/events", run.user, params) as s:
        await run.report(4, 5)
        assert seqs(await s.take(2)) == [4, 5]
        await run.complete()
        assert [e.event for e in await s.rest()] == ["status_change"]


async def test_resume_with_last_event_id_loses_and_repeats_nothing(api: Api) -> None:
    run = await running_task(api)
    await run.report(*range(1, 11))
    path = f"/tasks/{run.task_id}/events"
    async with open_stream(api.base_url, path, run.user) as stream:
        first = await stream.take(4)
    # The connection is gone; more progress happens while nobody watches.
    await run.report(*range(11, 16))
    resume = {**run.user, "Last-Event-ID": first[-1].id or ""}
    async with open_stream(api.base_url, path, resume) as stream:
        second = await stream.take(11)
        await run.report(16)
        third = await stream.take(1)
        await run.complete()
        final = await stream.rest()
    assert seqs(first + second + third) == list(range(1, 17))
    assert [e.event for e in final] == ["status_change"]


async def test_last_event_id_must_be_a_number(api: Api) -> None:
    run = await running_task(api)
    headers = {**run.user, "Last-Event-ID": "abc"}
    r = await api.http.get(f"/tasks/{run.task_id}/events", headers=headers)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_input"


async def test_idle_stream_sends_keep_alive_comments(api: Api) -> None:
    run = await running_task(api)
    url = f"{api.base_url}/api/v1/tasks/{run.task_id}/events"
    async with (
        httpx.AsyncClient(timeout=WAIT) as http,
        http.stream("GET", url, headers=run.user) as response,
    ):
        assert response.status_code == 200

        async def first_comment() -> str:
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    return line
            raise AssertionError("stream ended without a keep-alive")

        assert await asyncio.wait_for(first_comment(), KEEPALIVE * 10)


async def test_status_changes_of_a_live_task_are_streamed(api: Api) -> None:
    run = await running_task(api)
    async with open_stream(api.base_url, f"/tasks/{run.task_id}/events", run.user) as stream:
        r = await api.http.post(
            f"/tasks/{run.task_id}/release", json={"version": run.version}, headers=run.node
        )
        assert r.status_code == 200, r.text
        released = await stream.next()
        assert released.event == "status_change"
        assert data(released)["status"] == "pending"
        r = await api.http.post(f"/tasks/{run.task_id}/cancel", headers=run.user)
        assert r.status_code == 200, r.text
        final = await stream.rest()
    assert [data(e)["status"] for e in final] == ["cancelled"]


async def test_open_streams_are_counted_until_the_client_goes_away(api: Api) -> None:
    run = await running_task(api)
    await run.report(1)
    assert await api.metric(OPEN_STREAMS) == 0
    async with open_stream(api.base_url, f"/tasks/{run.task_id}/events", run.user) as stream:
        await stream.take(1)
        assert await api.metric(OPEN_STREAMS) == 1
    # The server notices the disconnect on its own time; wait on the gauge itself.
    await api.wait_metric(OPEN_STREAMS, 0, "the server to count the stream as closed")
