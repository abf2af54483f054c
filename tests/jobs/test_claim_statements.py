"""Without a running job, a claim runs the statements it always did: the chunk part of
the claim stays off, and whether a job runs is asked at most once per second per
replica. Counted on the engine itself, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

from conveyor.domain.access import Principal
from conveyor.domain.jobs import JobSpec
from conveyor.domain.states import Role
from conveyor.services.job_presence import JobPresence
from conveyor.services.jobs import JobService
from conveyor.services.nodes import NodeService, NodeSpec
from conveyor.services.runtime import Runtime
from conveyor.services.tasks import TaskService, TaskSpec
from conveyor.services.worker import ClaimInput, WorkerService
from tests.server import runtime

ADMIN = Principal("admin", Role.ADMIN, "admin")
ALICE = Principal("alice", Role.USER, "alice")


@contextmanager
def statements(rt: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT", "WITH", "DELETE")):
            seen.append(sql)

    engine = rt.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def touching_jobs(sql: list[str]) -> list[str]:
    return [s for s in sql if "jobs" in s]


async def test_a_claim_without_jobs_runs_no_job_statement(
    database_url: str, tmp_path: Path
) -> None:
    async with runtime(database_url, tmp_path) as rt:
        # A long re-read interval, so a slow machine cannot make the test re-ask.
        rt.jobs_running = JobPresence(ttl=60)
        node, _ = await NodeService(rt).register(ADMIN, NodeSpec(name="n", node_id="n"))
        worker = WorkerService(rt)
        await TaskService(rt).create(ALICE, [TaskSpec("noop"), TaskSpec("noop")])
        await worker.claim(node, ClaimInput(max_tasks=1))  # asks once whether a job runs
        with statements(rt) as plain:
            (first,), _ = await worker.claim(node, ClaimInput(max_tasks=1))
        with statements(rt) as idle:
            assert (await worker.claim(node, ClaimInput(max_tasks=1)))[0] == []
        assert first.job_id is None
        assert touching_jobs(plain) == [] and touching_jobs(idle) == []

        await JobService(rt).create(ALICE, JobSpec("noop", 1, 1, 0), [1, 2])
        with statements(rt) as with_job:
            (chunk,), _ = await worker.claim(node, ClaimInput(max_tasks=1))
        assert chunk.job_id is not None
        # Room left after the plain part: one statement chooses (and locks) the job.
        assert len(touching_jobs(with_job)) >= 1
        assert len(with_job) > len(plain)
