"""A task's progress writes lock only that task's row: while one is in flight (a burst
from one task, its transaction still open), other tasks are claimed and report
progress without waiting on it. PostgreSQL only: SQLite has one writer at a time
by design, so there every write waits its turn (milliseconds, not a lock held by
a slow client)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conveyor.domain.access import Principal
from conveyor.domain.states import Role
from conveyor.services.nodes import NodeService, NodeSpec
from conveyor.services.tasks import TaskService, TaskSpec
from conveyor.services.worker import ClaimInput, WorkerService
from conveyor.store import progress as progress_store
from conveyor.store import tasks as task_store
from tests.server import runtime

ADMIN = Principal("admin", Role.ADMIN, "admin")
OWNER = Principal("owner", Role.USER, "owner")
# Far above a claim's few milliseconds; a claim queued behind the open progress
# transaction would wait for ever (that transaction only ends after the claim).
BLOCKED = 10.0


async def test_an_open_progress_write_holds_up_no_other_task(
    postgres_url: str, tmp_path: Path
) -> None:
    async with runtime(postgres_url, tmp_path) as rt:
        node, _ = await NodeService(rt).register(
            ADMIN, NodeSpec(name="n", node_id="n", task_types=["t"])
        )
        await TaskService(rt).create(OWNER, [TaskSpec(task_type="t") for _ in range(6)])
        worker = WorkerService(rt)
        (busy, other), _ = await worker.claim(node, ClaimInput(["t"], max_tasks=2))

        async with rt.db.write() as conn:
            # The burst's write on ``busy``: numbered, lease extended, row appended,
            # not committed yet.
            now = rt.clock.now()
            seq = await task_store.bump_progress(conn, busy.id, node.id, now)
            assert seq == 1
            await progress_store.append(conn, busy.id, seq, {"n": 1}, now)

            claimed, _ = await asyncio.wait_for(
                worker.claim(node, ClaimInput(["t"], max_tasks=4)), BLOCKED
            )
            reported = await asyncio.wait_for(worker.progress(node, other.id, {"n": 1}), BLOCKED)

        assert len(claimed) == 4
        assert {busy.id, other.id}.isdisjoint(t.id for t in claimed)
        assert reported.seq == 1
        # The open transaction committed afterwards; its progress is there too.
        async with rt.db.read() as conn:
            history = await progress_store.history(conn, busy.id, 0, 10)
        assert [row.seq for row in history] == [1]
