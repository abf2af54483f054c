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
from conveyor.domain.ledger import TransactionKind, split_fee
from conveyor.domain.states import Role
from conveyor.services.job_presence import JobPresence
from conveyor.services.jobs import JobService, JobView
from conveyor.services.nodes import NodeService, NodeSpec
from conveyor.services.runtime import Runtime
from conveyor.services.tasks import TaskService, TaskSpec
from conveyor.services.worker import ClaimInput, Finish, WorkerService
from conveyor.store import ledger
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


def touching_ledger(sql: list[str]) -> list[str]:
    return [s for s in sql if "ledger_" in s]


async def test_a_finish_batch_settles_its_chunks_in_a_fixed_number_of_statements(
    database_url: str, tmp_path: Path
) -> None:
    """Two chunks or eight ended by one claim: the same ledger statements, and every
    chunk still its own transaction (paid, or released when it failed for good)."""
    async with runtime(database_url, tmp_path) as rt:
        node, _ = await NodeService(rt).register(
            ADMIN, NodeSpec(name="n", node_id="n", max_concurrency=16)
        )
        owned, _ = await NodeService(rt).register(
            ADMIN, NodeSpec(name="o", node_id="o", owner_id="bob", max_concurrency=16)
        )
        async with rt.db.write() as conn:
            await ledger.deposit(conn, user_id="alice", amount=1_000, ref="funds")
        jobs = JobService(rt)
        worker = WorkerService(rt)

        async def end_all(on: Any, job_id: str, count: int) -> list[str]:
            chunks, _ = await worker.claim(on, ClaimInput(max_tasks=count))
            assert {c.job_id for c in chunks} == {job_id} and len(chunks) == count
            # Half completed, half failed for good: settles and releases in one batch.
            finishes = [
                Finish(c.id, c.version, "completed" if i % 2 else "failed", retryable=False)
                for i, c in enumerate(chunks)
            ]
            with statements(rt) as seen:
                _, outcomes = await worker.claim(on, ClaimInput(max_tasks=0, finishes=finishes))
            assert all(o.ok for o in outcomes)
            return touching_ledger(seen)

        async def job(price: int, chunks: int) -> str:
            view = await jobs.create(
                ALICE, JobSpec("noop", 1, 16, price, max_attempts=1), list(range(chunks))
            )
            assert isinstance(view, JobView)
            return view.job.id

        two = await end_all(node, await job(7, 2), 2)
        eight = await end_all(owned, await job(9, 8), 8)
        assert len(two) == len(eight) > 0

        async with rt.db.read() as conn:
            found = await ledger.audit(conn)
            alice = await ledger.balances(conn, "alice")
            bob = await ledger.balances(conn, "bob")
            settles = await ledger.list_movements(conn, "alice", None, 100)
        assert (found.total, found.unbalanced_transactions, found.drifted_accounts) == (0, [], [])
        # Paid: one of the small job's chunks (7, all to the platform: an admin node),
        # four of the big job's (9 each, bob's minus the fee); the rest released.
        assert alice.reserved == 0
        assert alice.available == 1_000 - 7 - 4 * 9
        fee = split_fee(9, rt.settings.platform_fee_percent)
        assert bob.earned == 4 * fee.earned
        # Every chunk its own ledger transaction: 2 + 8 ends, a deposit, two reserves.
        kinds = [m.kind for m in settles[0]]
        assert kinds.count(TransactionKind.SETTLE.value) == 5
        assert kinds.count(TransactionKind.RELEASE.value) == 5
