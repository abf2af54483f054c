"""Two ``conveyor serve`` processes on one PostgreSQL: events and wake-ups cross over."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.events.conftest import data, open_stream, seqs
from tests.server import Api
from tests.server import replicas as two_replicas

pytestmark = pytest.mark.postgres
PROGRESS_COUNT = 200
WAIT_SECONDS = 20.0
# Parked claims never re-check on their own within a test: only a wake-up from the
# other replica can end them early.
NO_RECHECK = "600"


@pytest.fixture
async def replicas(postgres_url: str, tmp_path: Path) -> AsyncIterator[tuple[Api, Api]]:
    async with two_replicas(
        postgres_url, tmp_path, CONVEYOR_CLAIM_RECHECK_SECONDS=NO_RECHECK
    ) as pair:
        yield pair


async def test_progress_posted_on_b_reaches_a_subscriber_on_a_in_order(
    replicas: tuple[Api, Api],
) -> None:
    a, b = replicas
    admin = await b.admin_headers()
    user = await b.user_headers("cross")
    _, node = await b.new_node(admin, node_id="cross-node", task_types=["x"])
    task = await b.submit(user, task_type="x")
    (held,) = (await b.claim(node, task_types=["x"]))["tasks"]
    path = f"/tasks/{task['task_id']}/events"
    async with open_stream(a.base_url, path, user) as stream:
        assert stream.status_code == 200

        async def report() -> None:
            for i in range(PROGRESS_COUNT):
                r = await b.http.post(
                    f"/tasks/{task['task_id']}/progress", json={"data": {"i": i}}, headers=node
                )
                assert r.status_code == 201, r.text

        reporter = asyncio.create_task(report())
        events = await stream.take(PROGRESS_COUNT)
        await reporter
        r = await b.http.post(
            f"/tasks/{task['task_id']}/complete",
            json={"version": held["version"], "result": "ok"},
            headers=node,
        )
        assert r.status_code == 200, r.text
        final = await stream.rest()
    assert seqs(events) == list(range(1, PROGRESS_COUNT + 1))
    assert [data(e)["data"]["i"] for e in events] == list(range(PROGRESS_COUNT))
    assert [data(e)["status"] for e in final] == ["completed"]


async def test_long_poll_claim_on_a_wakes_when_a_task_is_created_on_b(
    replicas: tuple[Api, Api],
) -> None:
    a, b = replicas
    admin = await a.admin_headers()
    user = await b.user_headers("waker")
    _, node = await a.new_node(admin, node_id="sleeper", task_types=["wake"])
    started = time.monotonic()
    claim = asyncio.create_task(a.claim(node, task_types=["wake"], wait_seconds=WAIT_SECONDS))
    # Wait until the claim is parked: were it not waiting yet, the task below would
    # be found by its first look, not by a wake-up.
    await a.claims_parked()
    assert not claim.done(), "the claim should be parked in its long-poll"
    task = await b.submit(user, task_type="wake")
    body = await asyncio.wait_for(claim, WAIT_SECONDS + 10)
    elapsed = time.monotonic() - started
    assert [t["task_id"] for t in body["tasks"]] == [task["task_id"]]
    # Well before the wait ran out, and with no re-check in between: woken.
    assert elapsed < WAIT_SECONDS / 4, elapsed


async def test_a_stream_ticket_used_on_a_is_refused_on_b(replicas: tuple[Api, Api]) -> None:
    """Single use holds across replicas: a leaked ticket cannot be replayed elsewhere."""
    a, b = replicas
    user = await a.user_headers("ticket-holder")
    task = await a.submit(user, task_type="x")
    path = f"/tasks/{task['task_id']}/events"
    r = await a.http.post("/auth/stream-ticket", json={"task_id": task["task_id"]}, headers=user)
    assert r.status_code == 200, r.text
    ticket = r.json()["ticket"]
    async with open_stream(a.base_url, path, params={"ticket": ticket}) as stream:
        assert stream.status_code == 200
        replay = await b.http.get(path, params={"ticket": ticket})
        assert replay.status_code == 401
        assert replay.json()["error"]["message"] == "this ticket was already used"
