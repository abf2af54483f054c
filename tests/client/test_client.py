"""The SDK against the real server: typed results, errors, paging, renewal, retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from conveyor.client import (
    AsyncClient,
    Client,
    ConnectionFailed,
    NotFound,
    PermissionDenied,
    RetryPolicy,
)
from conveyor.client.errors import BadRequest, Conflict
from tests.server import ADMIN, Api, free_port, serve_asgi

FAST_RETRY = RetryPolicy(attempts=4, base_seconds=0.01, max_seconds=0.05)


async def test_async_client_covers_the_task_api(api: Api) -> None:
    await api.user_headers("alice")
    async with AsyncClient(api.base_url, username="alice", password="user-password-1") as alice:
        task = await alice.submit("echo", {"n": 1}, metadata={"source": "test"}, priority=5)
        assert task.status == "pending" and task.params == {"n": 1}
        assert (await alice.get(task.id)).metadata == {"source": "test"}
        batch = await alice.submit_many(
            [{"task_type": "echo", "params": {"i": i}} for i in range(6)]
        )
        assert len(batch) == 6
        seen = [t.id async for t in alice.list_tasks(page_size=3)]
        assert len(seen) == 7 and len(set(seen)) == 7, "the cursor walks every page once"
        pending = [t async for t in alice.list_tasks(status="pending", task_type="echo")]
        assert len(pending) == 7
        cancelled = await alice.cancel(task.id)
        assert cancelled.status == "cancelled"
        again = await alice.retry_task(task.id)
        assert again.original_task_id == task.id and again.status == "pending"
        with pytest.raises(Conflict) as conflict:
            await alice.cancel(task.id)
        assert conflict.value.code == "conflict" and conflict.value.status_code == 409
        with pytest.raises(NotFound) as missing:
            await alice.get("no-such-task")
        assert missing.value.code == "not_found"
        with pytest.raises(BadRequest) as bad:
            await alice.submit("echo", {"n": 2**70})
        assert bad.value.details, "field details come through"
        with pytest.raises(PermissionDenied):
            await alice.stats()


async def test_worker_calls_and_typed_results(api: Api) -> None:
    await api.user_headers("alice")
    async with (
        AsyncClient(api.base_url, username=ADMIN[0], password=ADMIN[1]) as admin,
        AsyncClient(api.base_url, username="alice", password="user-password-1") as alice,
    ):
        node = await admin.create_node("w1", node_id="w1", task_types=["echo"])
        assert node.secret and node.kind == "pull"
        task = await alice.submit("echo", {"x": 1})
        async with AsyncClient(api.base_url, node_id="w1", secret=node.secret) as worker:
            claim = await worker.claim(["echo"], max_tasks=5)
            assert [t.id for t in claim.tasks] == [task.id]
            held = claim.tasks[0]
            progress = await worker.report_progress(held.id, {"percent": 50})
            assert progress.seq == 1
            beat = await worker.heartbeat([held.id])
            assert beat.extended == [held.id]
            done = await worker.complete(held, {"ok": True})
            assert done.status == "completed" and done.result == {"ok": True}
            with pytest.raises(Conflict):
                await worker.complete(held, {"ok": True})
        finished = await alice.wait(task.id, timeout=10)
        assert finished.done and finished.result == {"ok": True}
        history = await alice.progress_history(task.id)
        assert [p.data for p in history] == [{"percent": 50}]


async def test_sync_client_and_token_renewal(api: Api) -> None:
    # The server runs on this test's event loop, so the blocking client gets a thread.
    def scenario() -> None:
        with Client(api.base_url, username=ADMIN[0], password=ADMIN[1]) as admin:
            first = admin.login()
            # A token the server no longer accepts is renewed once, transparently.
            admin.aio.auth.access_token = first[:-4] + "abcd"
            task = admin.submit("echo", {"via": "sync"})
            assert admin.access_token != first
            assert admin.get(task.id).params == {"via": "sync"}
            assert [t.id for t in admin.list_tasks()] == [task.id]
            stats = admin.stats()
            assert stats["tasks"]["by_status"]["pending"] == 1

    await asyncio.to_thread(scenario)


async def test_unreachable_server_is_a_typed_error_after_retries() -> None:
    port = free_port()
    async with AsyncClient(f"http://127.0.0.1:{port}", token="t", retry=FAST_RETRY) as client:
        with pytest.raises(ConnectionFailed):
            await client.get("anything")


@asynccontextmanager
async def flaky_server(statuses: list[int]) -> AsyncIterator[tuple[str, list[int]]]:
    """A real HTTP server answering the given statuses in turn, then 200."""
    served: list[int] = []

    async def endpoint(request: Request) -> JSONResponse:
        status = statuses[len(served)] if len(served) < len(statuses) else 200
        served.append(status)
        if status != 200:
            headers = {"Retry-After": "0"} if status == 429 else {}
            body = {"error": {"code": "busy", "message": "try later"}}
            return JSONResponse(body, status_code=status, headers=headers)
        return JSONResponse(
            {"task_id": "t1", "task_type": "echo", "status": "pending", "version": 1}
        )

    app = Starlette(routes=[Route("/api/v1/tasks/{task_id}", endpoint)])
    async with serve_asgi(app) as url:
        yield url, served
