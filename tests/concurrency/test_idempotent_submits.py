"""Idempotent submits under races (services/idempotency.py ``once``): a key is taken
by the first request to commit; every other request with that key, concurrent or
later, gets that first answer (or 409 for another body) and creates nothing, even
when its own work would now be refused. Real server, both databases."""

from __future__ import annotations

import asyncio

from tests.server import Api


async def test_concurrent_first_requests_with_one_key_create_once(api: Api) -> None:
    user = await api.user_headers("alice")
    headers = {"Idempotency-Key": "race-1", **user}
    body = {"task_type": "noop", "params": {"n": 1}}
    answers = await asyncio.gather(
        *[api.http.post("/tasks", json=body, headers=headers) for _ in range(12)]
    )
    assert {r.status_code for r in answers} == {201}, [r.text for r in answers]
    assert len({r.json()["task_id"] for r in answers}) == 1
    listed = (await api.http.get("/tasks", headers=user)).json()["tasks"]
    assert [t["task_id"] for t in listed] == [answers[0].json()["task_id"]]


async def test_racing_different_bodies_under_one_key_get_one_winner(api: Api) -> None:
    user = await api.user_headers("alice")
    headers = {"Idempotency-Key": "race-2", **user}
    answers = await asyncio.gather(
        *[
            api.http.post("/tasks", json={"task_type": "noop", "params": {"n": n}}, headers=headers)
            for n in range(8)
        ]
    )
    created = [r for r in answers if r.status_code == 201]
    assert len(created) == 1, [r.text for r in answers]
    assert all(
        r.json()["error"]["code"] == "idempotency_key_reused"
        for r in answers
        if r.status_code != 201
    )
    assert len((await api.http.get("/tasks", headers=user)).json()["tasks"]) == 1


async def test_a_repeat_replays_even_when_the_work_would_now_be_refused(api: Api) -> None:
    admin = await api.admin_headers()
    await api.create_node(admin, node_id="short-lived")
    headers = {"Idempotency-Key": "pinned-1", **admin}
    body = {"task_type": "noop", "task_id": "chosen-1", "assigned_node_id": "short-lived"}
    first = await api.http.post("/tasks", json=body, headers=headers)
    assert first.status_code == 201, first.text
    # The chosen id is taken now (by this very request) and the node is gone: the
    # work itself would be refused twice over, but the key answers first.
    assert (await api.http.delete("/nodes/short-lived", headers=admin)).status_code == 200
    again = await api.http.post("/tasks", json=body, headers=headers)
    assert (again.status_code, again.json()) == (201, first.json())
    # Without the key the same body is refused, as it should be.
    plain = await api.http.post("/tasks", json=body, headers=admin)
    assert plain.status_code in (404, 409), plain.text
