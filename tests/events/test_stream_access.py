"""Who may open a stream, with which credential; and the admin firehose."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.events.conftest import data, open_stream, running_task
from tests.server import Api


async def _status(api: Api, path: str, headers: dict[str, str] | None = None, **params: str) -> int:
    async with open_stream(api.base_url, path, headers, params or None) as stream:
        return stream.status_code


async def test_owner_admin_and_holding_node_may_watch_others_may_not(api: Api) -> None:
    run = await running_task(api)
    admin = await api.admin_headers()
    stranger = await api.user_headers("stranger")
    _, other_node = await api.new_node(admin, node_id="other", task_types=["sse"])
    path = f"/tasks/{run.task_id}/events"
    await run.complete()  # finished, so allowed streams end by themselves
    assert await _status(api, path, run.user) == 200
    assert await _status(api, path, admin) == 200
    assert await _status(api, path, run.node) == 200
    assert await _status(api, path, stranger) == 404
    assert await _status(api, path, other_node) in (403, 404)
    assert await _status(api, path) == 401
    assert await _status(api, "/tasks/no-such-task/events", admin) == 404


async def _ticket(api: Api, headers: dict[str, str], task_id: str | None) -> str:
    body = {"task_id": task_id} if task_id else None
    r = await api.http.post("/auth/stream-ticket", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return str(r.json()["ticket"])


async def test_stream_ticket_in_the_url_works_once(api: Api) -> None:
    run = await running_task(api)
    await run.report(1)
    await run.complete()
    path = f"/tasks/{run.task_id}/events"
    ticket = await _ticket(api, run.user, run.task_id)
    async with open_stream(api.base_url, path, params={"ticket": ticket}) as stream:
        assert stream.status_code == 200
        events = await stream.rest()
    assert [e.event for e in events] == ["progress", "status_change"]
    # Single use: the same ticket again is refused.
    assert await _status(api, path, ticket=ticket) == 401
    # A ticket without a task works for any stream its holder may see.
    assert await _status(api, path, ticket=await _ticket(api, run.user, None)) == 200


async def test_a_ticket_replayed_concurrently_opens_one_stream(api: Api) -> None:
    """Single use under a race: eight opens of one ticket at once, one succeeds."""
    run = await running_task(api)
    path = f"/tasks/{run.task_id}/events"
    ticket = await _ticket(api, run.user, run.task_id)
    codes = await asyncio.gather(*[_status(api, path, ticket=ticket) for _ in range(8)])
    assert Counter(codes) == {200: 1, 401: 7}


async def test_ticket_for_another_task_or_a_stranger_is_refused(api: Api) -> None:
    run = await running_task(api)
    other = await api.submit(run.user, task_type="sse")
    path = f"/tasks/{run.task_id}/events"
    assert await _status(api, path, ticket=await _ticket(api, run.user, other["task_id"])) == 401
    stranger = await api.user_headers("stranger2")
    assert await _status(api, path, ticket=await _ticket(api, stranger, None)) == 404


async def test_long_lived_token_is_not_accepted_in_the_url(api: Api) -> None:
    run = await running_task(api)
    await run.complete()
    token = run.user["Authorization"].removeprefix("Bearer ")
    path = f"/tasks/{run.task_id}/events"
    assert await _status(api, path, ticket=token) == 401
    assert await _status(api, path, access_token=token) == 401
    assert await _status(api, path, token=token) == 401


async def test_firehose_is_for_admins_and_filters(api: Api) -> None:
    admin = await api.admin_headers()
    user = await api.user_headers("fire")
    _, node = await api.new_node(admin, node_id="fire-node", task_types=["a", "b"])
    assert await _status(api, "/events", user) == 403
    assert await _status(api, "/events", node) == 403
    assert await _status(api, "/events") == 401
    assert await _status(api, "/events", admin, status="bogus") == 400

    params = {"task_type": "a", "status": "in_progress,completed"}
    async with open_stream(api.base_url, "/events", admin, params) as everything_a:
        await api.submit(user, task_type="b")
        task_a = await api.submit(user, task_type="a")
        claimed = (await api.claim(node, task_types=["a"]))["tasks"]
        assert [t["task_id"] for t in claimed] == [task_a["task_id"]]
        r = await api.http.post(
            f"/tasks/{task_a['task_id']}/complete",
            json={"version": claimed[0]["version"], "result": 1},
            headers=node,
        )
        assert r.status_code == 200, r.text
        seen = [data(e) for e in await everything_a.take(2)]
    assert [(d["task_id"], d["task_type"], d["status"]) for d in seen] == [
        (task_a["task_id"], "a", "in_progress"),
        (task_a["task_id"], "a", "completed"),
    ]


async def test_firehose_with_a_ticket(api: Api) -> None:
    admin = await api.admin_headers()
    user = await api.user_headers("fire2")
    ticket = await _ticket(api, admin, None)
    async with open_stream(api.base_url, "/events", params={"ticket": ticket}) as stream:
        assert stream.status_code == 200
        task = await api.submit(user, task_type="t")
        r = await api.http.post(f"/tasks/{task['task_id']}/cancel", headers=user)
        assert r.status_code == 200
        event = await stream.next()
    assert event.event == "status_change"
    assert data(event)["status"] == "cancelled"
