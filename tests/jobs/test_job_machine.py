"""A hypothesis state machine over jobs on the real services and store, on SQLite and
PostgreSQL: create job (affordable or not), claim, complete, fail, expire leases,
cancel, and duplicate finishes, in any order. After every step, read back from the
database with the ledger's own functions:

- the ledger sums to zero, every transaction too, no balance is negative;
- no chunk is paid twice, and exactly the completed chunks are paid;
- each job's reservation = what is still reserved for its open chunks + what its
  completed chunks were paid + what its unpaid chunks released;
- each customer's reserved balance is exactly what its open chunks are worth;
- each earner earned exactly its completed chunks' prices less the fee;
- no job ever has more chunks in progress than its slots;
- a job is finished exactly when none of its chunks is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, Literal, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from conveyor.api.app import build_runtime
from conveyor.clock import ManualClock
from conveyor.domain.access import Principal
from conveyor.domain.jobs import JobSpec, JobStatus
from conveyor.domain.ledger import split_fee
from conveyor.domain.nodes import Node
from conveyor.domain.states import Role
from conveyor.domain.tasks import Task
from conveyor.errors import Conflict, NotFound, PaymentRequired
from conveyor.services.jobs import JobService, JobView
from conveyor.services.leases import expire_leases
from conveyor.services.nodes import NodeService, NodeSpec
from conveyor.services.runtime import Runtime
from conveyor.services.worker import ClaimInput, Finish, WorkerService
from conveyor.store import ledger
from conveyor.store.schema import jobs, ledger_transactions, tasks
from tests.server import test_settings as server_settings

T = TypeVar("T")
ADMIN = Principal("admin-id", Role.ADMIN, "admin")
OPEN = ("pending", "in_progress")
UNPAID = ("failed", "timeout", "cancelled")
FEE = 10
Outcome = Literal["completed", "failed", "released"]


class JobMachine(RuleBasedStateMachine):
    rt: Runtime
    loop: asyncio.AbstractEventLoop
    clock: ManualClock

    def __init__(self) -> None:
        super().__init__()
        tag = uuid.uuid4().hex[:8]
        self.customers = [Principal(f"cust-{tag}-{i}", Role.USER, f"c{i}") for i in range(2)]
        self.earner = f"earner-{tag}"
        self.jobs = JobService(self.rt)
        self.worker = WorkerService(self.rt)
        self.nodes: list[Node] = [
            self.run(self._node(f"paid-{tag}", self.earner)),
            self.run(self._node(f"house-{tag}", None)),
        ]
        self.job_ids: list[str] = []
        self.finished: list[tuple[Node, Finish]] = []
        self.holding: list[tuple[Node, Task]] = []
        for customer in self.customers:
            self.run(self._deposit(customer.id, 120))

    def run(self, work: Awaitable[T]) -> T:
        return self.loop.run_until_complete(work)

    async def _node(self, node_id: str, owner: str | None) -> Node:
        spec = NodeSpec(name=node_id, node_id=node_id, owner_id=owner, max_concurrency=4)
        node, _ = await NodeService(self.rt).register(ADMIN, spec)
        return node

    async def _deposit(self, user_id: str, amount: int) -> None:
        async with self.rt.db.write() as conn:
            await ledger.deposit(conn, user_id=user_id, amount=amount, ref=uuid.uuid4().hex)

    # --- rules -------------------------------------------------------------------

    @rule(
        who=st.integers(0, 1),
        items=st.integers(1, 6),
        chunk_size=st.integers(1, 3),
        price=st.integers(0, 25),
        slots=st.integers(1, 3),
    )
    def create_job(self, who: int, items: int, chunk_size: int, price: int, slots: int) -> None:
        spec = JobSpec("noop", chunk_size, slots, price, max_attempts=2)
        self.clock.advance(0.001)  # distinct creation times: the fair order is then fixed
        try:
            view = self.run(self.jobs.create(self.customers[who], spec, list(range(items))))
        except PaymentRequired:
            return
        assert isinstance(view, JobView)
        self.job_ids.append(view.job.id)

    @rule(node=st.integers(0, 1), count=st.integers(1, 3))
    def claim(self, node: int, count: int) -> None:
        self.clock.advance(0.001)
        claimed, _ = self.run(self.worker.claim(self.nodes[node], ClaimInput(max_tasks=count)))
        self.holding.extend((self.nodes[node], task) for task in claimed)

    @precondition(lambda self: self.holding)
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        self._finish(data.draw(st.sampled_from(self.holding)), "completed")

    @precondition(lambda self: self.holding)
    @rule(data=st.data(), retryable=st.booleans())
    def fail(self, data: st.DataObject, retryable: bool) -> None:
        self._finish(data.draw(st.sampled_from(self.holding)), "failed", retryable)

    def _finish(self, item: tuple[Node, Task], outcome: Outcome, retryable: bool = False) -> None:
        self.holding.remove(item)
        node, task = item
        finish = Finish(
            task.id, task.version, outcome, {"results": []}, {"message": "x"}, retryable
        )
        try:
            self.run(self.worker.finish(node, finish))
            self.finished.append((node, finish))
        except (Conflict, NotFound):
            pass  # cancelled or expired meanwhile: refused, and nothing moved

    @precondition(lambda self: self.finished)
    @rule(data=st.data())
    def duplicate_finish(self, data: st.DataObject) -> None:
        node, finish = data.draw(st.sampled_from(self.finished))
        before = self.run(self._ledger_rows())
        try:
            self.run(self.worker.finish(node, finish))
        except (Conflict, NotFound):
            pass
        else:
            raise AssertionError("a repeated finish was accepted")
        assert self.run(self._ledger_rows()) == before

    @rule()
    def expire(self) -> None:
        now = self.clock.advance(self.rt.settings.lease_seconds + 1)
        self.run(expire_leases(self.rt, now))
        # What the nodes held is gone; finishing it later is a duplicate-like refusal.

    @precondition(lambda self: self.job_ids)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(self.job_ids))
        owner = next(c for c in self.customers if self.run(self._owner(job_id)) == c.id)
        with contextlib.suppress(Conflict):  # already completed or partially failed
            self.run(self.jobs.cancel(owner, job_id))

    def teardown(self) -> None:
        # Examples share the database: leave no running job to the next one's claims.
        for job_id in self.job_ids:
            owner = next(c for c in self.customers if self.run(self._owner(job_id)) == c.id)
            with contextlib.suppress(Conflict):
                self.run(self.jobs.cancel(owner, job_id))

    # --- reading the truth back ----------------------------------------------------

    async def _owner(self, job_id: str) -> str:
        async with self.rt.db.read() as conn:
            stmt = select(jobs.c.owner_id).where(jobs.c.id == job_id)
            return str((await conn.execute(stmt)).scalar_one())

    async def _ledger_rows(self) -> int:
        async with self.rt.db.read() as conn:
            return len((await conn.execute(select(ledger_transactions.c.id))).all())

    async def _state(self) -> dict[str, Any]:
        async with self.rt.db.read() as conn:
            audit = await ledger.audit(conn)
            job_rows = (
                (await conn.execute(select(jobs).where(jobs.c.id.in_(self.job_ids))))
                .mappings()
                .all()
            )
            chunk_rows = (
                await conn.execute(
                    select(tasks.c.id, tasks.c.job_id, tasks.c.status, tasks.c.lease_owner).where(
                        tasks.c.job_id.in_(self.job_ids)
                    )
                )
            ).all()
            refs = (
                await conn.execute(select(ledger_transactions.c.kind, ledger_transactions.c.ref))
            ).all()
            balances = {c.id: await ledger.balances(conn, c.id) for c in self.customers}
            earned = await ledger.balances(conn, self.earner)
        return {
            "audit": audit,
            "jobs": {row["id"]: row for row in job_rows},
            "chunks": chunk_rows,
            "refs": refs,
            "balances": balances,
            "earned": earned,
        }

    @invariant()
    def the_books_hold(self) -> None:
        state = self.run(self._state())
        audit = state["audit"]
        assert (audit.total, audit.unbalanced_transactions) == (0, [])
        assert (audit.drifted_accounts, audit.negative_accounts) == ([], [])
        mine = {f"chunk:{c.id}" for c in state["chunks"]}
        settled = [ref for kind, ref in state["refs"] if kind == "settle" and ref in mine]
        assert len(settled) == len(set(settled)), "a chunk was paid twice"
        jobs_by_id = state["jobs"]
        paid_chunks = {
            f"chunk:{c.id}"
            for c in state["chunks"]
            if c.status == "completed" and jobs_by_id[c.job_id]["price_per_chunk"] > 0
        }
        assert set(settled) == paid_chunks
        reserved_by_customer = {c.id: 0 for c in self.customers}
        earned = 0
        for job_id, row in jobs_by_id.items():
            mine = [c for c in state["chunks"] if c.job_id == job_id]
            price = row["price_per_chunk"]
            open_n = sum(c.status in OPEN for c in mine)
            done_n = sum(c.status == "completed" for c in mine)
            unpaid_n = sum(c.status in UNPAID for c in mine)
            assert len(mine) == row["chunk_count"]
            # The count the job ends by is the chunks still open, exactly.
            assert row["open_chunks"] == open_n
            assert (open_n + done_n + unpaid_n) * price == row["chunk_count"] * price
            reserved_by_customer[row["owner_id"]] += open_n * price
            in_progress = sum(c.status == "in_progress" for c in mine)
            assert in_progress <= row["max_concurrency"]
            if row["status"] == JobStatus.RUNNING.value:
                assert open_n > 0
            elif row["status"] != JobStatus.CANCELLED.value:
                assert open_n == 0
                expected = "completed" if done_n == len(mine) else "partially_failed"
                assert row["status"] == expected
            else:
                assert open_n == 0
            if price:
                share = split_fee(price, FEE).earned
                earned += share * sum(
                    c.status == "completed" and c.lease_owner == self.nodes[0].id for c in mine
                )
        for customer in self.customers:
            assert state["balances"][customer.id].reserved == reserved_by_customer[customer.id]
        assert state["earned"].earned == earned


def test_the_job_machine(database_url: str) -> None:
    loop = asyncio.new_event_loop()
    clock = ManualClock()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = server_settings(database_url, Path(tmp), platform_fee_percent=FEE)
        rt = build_runtime(cfg, clock)
        loop.run_until_complete(rt.bus.start())
        JobMachine.rt, JobMachine.loop, JobMachine.clock = rt, loop, clock
        try:
            run_state_machine_as_test(
                JobMachine,
                settings=settings(
                    max_examples=25,
                    stateful_step_count=25,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow],
                ),
            )
        finally:
            loop.run_until_complete(rt.bus.close())
            loop.run_until_complete(rt.db.dispose())
            loop.close()
