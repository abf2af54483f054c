"""The SDK's job calls (async and sync) and ``conveyor jobs`` with a real worker process
running the built-in noop handler."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from conveyor.client.async_client import AsyncClient
from conveyor.client.errors import NotFound, PaymentRequired
from conveyor.client.sync_client import Client
from tests.cli.test_cli import conveyor, parsed
from tests.jobs.helpers import fund
from tests.server import ADMIN, Api, wait_until
from tests.worker.procs import start_worker

PASSWORD = "user-password-1"


async def test_the_async_and_sync_clients_run_a_job(api: Api) -> None:
    alice_headers = await api.user_headers("alice")
    await api.user_headers("mallory")
    await fund(api, alice_headers, 50)
    async with (
        AsyncClient(api.base_url, username=ADMIN[0], password=ADMIN[1]) as admin,
        AsyncClient(api.base_url, username="alice", password=PASSWORD) as alice,
        AsyncClient(api.base_url, username="mallory", password=PASSWORD) as mallory,
    ):
        with pytest.raises(PaymentRequired):
            await alice.create_job(
                "noop", items=[1] * 60, chunk_size=1, max_concurrency=2, price_per_chunk=1
            )
        job = await alice.create_job(
            "noop",
            items=list(range(5)),
            chunk_size=2,
            max_concurrency=2,
            price_per_chunk=3,
            idempotency_key="once",
        )
        again = await alice.create_job(
            "noop",
            items=list(range(5)),
            chunk_size=2,
            max_concurrency=2,
            price_per_chunk=3,
            idempotency_key="once",
        )
        assert again.id == job.id and job.chunk_count == 3 and job.reserved == 9
        assert [j.id async for j in alice.jobs()] == [job.id]
        grid = [c async for c in alice.chunks(job.id)]
        assert [c.items for c in grid] == [2, 2, 1] and grid[0].preview == [0, 1]
        with pytest.raises(NotFound):
            await mallory.job(job.id)
        node = await admin.create_node("w1", node_id="w1")
        assert node.secret is not None
        async with AsyncClient(api.base_url, node_id="w1", secret=node.secret) as worker:
            claimed = await worker.claim(max_tasks=1)
            (first,) = claimed.tasks
            await worker.complete(first, {"results": first.params["items"]})
        partial = await alice.results(job.id)
        assert partial.lines == first.params["items"]
        assert partial.missing_count == 2
        cancelled = await alice.cancel_job(job.id)
        assert cancelled.status == "cancelled" and cancelled.finished
        assert (cancelled.spent, cancelled.refunded, cancelled.reserved) == (3, 6, 0)

    def sync_calls() -> None:
        with Client(api.base_url, username="alice", password=PASSWORD) as client:
            fresh = client.create_job(
                "noop", items=[1, 2], chunk_size=1, max_concurrency=1, price_per_chunk=0
            )
            assert client.job(fresh.id).status == "running"
            assert {j.id for j in client.jobs()} >= {fresh.id}
            assert len(client.chunks(fresh.id)) == 2
            assert client.results(fresh.id).missing == "0-1"
            assert client.cancel_job(fresh.id).status == "cancelled"

    # The sync client blocks; the server runs on this event loop.
    await asyncio.to_thread(sync_calls)


async def test_conveyor_jobs_commands_with_a_real_worker(api: Api, tmp_path: Path) -> None:
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    await fund(api, alice, 100)
    code, _, err = await conveyor(
        tmp_path, "login", "--server", api.base_url, "--username", "alice", "--password", PASSWORD
    )
    assert code == 0, err
    dataset = tmp_path / "items.jsonl"
    dataset.write_text("".join(json.dumps({"n": i}) + "\n" for i in range(12)))
    code, out, err = await conveyor(
        tmp_path,
        "jobs",
        "create",
        "noop",
        "--dataset",
        str(dataset),
        "--chunk-size",
        "3",
        "--price",
        "2",
        "--max-concurrency",
        "2",
        "--json",
    )
    assert code == 0, err
    job = parsed(out)
    assert (job["chunk_count"], job["reserved"]) == (4, 8)

    node_id, secret = await api.create_node(admin, node_id="w1")
    worker = start_worker(
        api.base_url, node_id, secret, tmp_path, module="conveyor.handlers:BUILTIN_HANDLERS"
    )
    try:
        code, out, err = await conveyor(tmp_path, "jobs", "watch", job["job_id"], "--json")
        assert code == 0, err
        events = [json.loads(line) for line in out.splitlines()]
        assert events[-1]["event"] == "progress"
        assert events[-1]["data"]["status"] == "completed"
        assert any(e["event"] == "chunk" for e in events)
    finally:
        worker.stop()
    code, out, err = await conveyor(tmp_path, "jobs", "results", job["job_id"])
    assert code == 0, err
    assert [json.loads(line)["n"] for line in out.splitlines()] == list(range(12))
    # The bar for humans, on a job that has ended: it draws the final state and exits 0.
    code, out, err = await conveyor(tmp_path, "jobs", "watch", job["job_id"])
    assert code == 0, err
    assert "4/4" in out and "completed" in out
    code, out, _ = await conveyor(tmp_path, "jobs", "status", job["job_id"])
    assert code == 0 and "completed" in out and "eta: 0s" in out
    code, out, _ = await conveyor(tmp_path, "jobs", "list", "--json")
    assert code == 0 and [j["job_id"] for j in parsed(out)] == [job["job_id"]]

    code, out, _ = await conveyor(
        tmp_path,
        "jobs",
        "create",
        "noop",
        "--items",
        "[1,2,3]",
        "--chunk-size",
        "1",
        "--price",
        "1",
        "--json",
    )
    other = parsed(out)["job_id"]
    code, out, _ = await conveyor(tmp_path, "jobs", "cancel", other, "--json")
    assert code == 0 and parsed(out)["status"] == "cancelled"
    code, _, err = await conveyor(tmp_path, "jobs", "results", other)
    assert code == 0 and "3 chunk(s) missing: 0-2" in err
    await wait_until(lambda: worker.proc.poll() is not None, 10, "the worker to stop")
