"""A hypothesis state machine over the real ledger store, on SQLite and PostgreSQL:
deposits, withdrawals, reservations, settlements (including duplicates and
overdrafts) and releases in any order. After every step the ledger sums to zero,
every cached balance equals its entries, no user balance is negative, no chunk is
paid twice, and for each job reserved = still held + spent + refunded."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from conveyor.domain.ledger import Balances, split_fee
from conveyor.errors import Conflict, PaymentRequired
from conveyor.settings import normalise_database_url
from conveyor.store import ledger
from conveyor.store.database import Database
from conveyor.store.schema import ledger_accounts, ledger_transactions

T = TypeVar("T")
amounts = st.integers(min_value=1, max_value=500)


@dataclass
class Job:
    customer: str
    reserved: int
    held: int
    spent: int = 0
    refunded: int = 0


@dataclass
class Model:
    wallets: dict[str, list[int]] = field(default_factory=dict)  # available, reserved, earned
    platform: int = 0
    jobs: dict[str, Job] = field(default_factory=dict)
    paid: dict[str, int] = field(default_factory=dict)  # chunk ref -> price


class LedgerMachine(RuleBasedStateMachine):
    db: Database
    loop: asyncio.AbstractEventLoop

    def __init__(self) -> None:
        super().__init__()
        self.customers = [str(uuid.uuid4()) for _ in range(2)]
        self.earners = [str(uuid.uuid4()) for _ in range(2)]
        self.model = Model({u: [0, 0, 0] for u in self.customers + self.earners})
        self.model.platform = self.run(self._platform())
        self.settles_before = self.run(self._settle_count())
        self.counter = 0

    def run(self, work: Awaitable[T]) -> T:
        return self.loop.run_until_complete(work)

    def ref(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}:{uuid.uuid4().hex[:8]}:{self.counter}"

    async def _platform(self) -> int:
        async with self.db.read() as conn:
            stmt = select(ledger_accounts.c.balance).where(ledger_accounts.c.id == "platform")
            return int((await conn.execute(stmt)).scalar() or 0)

    async def _settle_count(self) -> int:
        async with self.db.read() as conn:
            stmt = select(func.count()).where(ledger_transactions.c.kind == "settle")
            return int((await conn.execute(stmt)).scalar_one())

    async def _write(self, name: str, **kwargs: Any) -> Any:
        async with self.db.write() as conn:
            return await getattr(ledger, name)(conn, **kwargs)

    # --- money in and out -----------------------------------------------------

    @rule(who=st.integers(0, 3), amount=amounts)
    def deposit(self, who: int, amount: int) -> None:
        user = (self.customers + self.earners)[who]
        self.run(self._write("deposit", user_id=user, amount=amount, ref=self.ref("dep")))
        self.model.wallets[user][0] += amount

    @rule(who=st.integers(0, 3), amount=amounts)
    def withdraw(self, who: int, amount: int) -> None:
        user = (self.customers + self.earners)[who]
        wallet = self.model.wallets[user]
        try:
            self.run(self._write("withdraw", user_id=user, amount=amount, ref=self.ref("wd")))
        except PaymentRequired as exc:
            assert wallet[0] + wallet[2] < amount
            assert exc.details["shortfall"] == amount - wallet[0] - wallet[2]
            return
        from_earned = min(wallet[2], amount)
        wallet[2] -= from_earned
        wallet[0] -= amount - from_earned

    # --- a job's budget -------------------------------------------------------

    @rule(who=st.integers(0, 1), amount=amounts)
    def reserve(self, who: int, amount: int) -> None:
        user, ref = self.customers[who], self.ref("job")
        wallet = self.model.wallets[user]
        try:
            self.run(self._write("reserve", user_id=user, amount=amount, ref=ref))
        except PaymentRequired:
            assert wallet[0] < amount
            return
        wallet[0] -= amount
        wallet[1] += amount
        self.model.jobs[ref] = Job(user, amount, amount)

    def _open_job(self, pick: int) -> Job | None:
        open_jobs = [j for j in self.model.jobs.values() if j.held > 0]
        return open_jobs[pick % len(open_jobs)] if open_jobs else None

    @precondition(lambda self: any(j.held > 0 for j in self.model.jobs.values()))
    @rule(
        pick=st.integers(0, 50),
        share=st.integers(1, 100),
        earner=st.integers(0, 2),
        fee=st.integers(0, 100),
    )
    def settle(self, pick: int, share: int, earner: int, fee: int) -> None:
        job = self._open_job(pick)
        assert job is not None
        price = max(1, job.held * share // 100)
        earner_id = self.earners[earner] if earner < 2 else None
        ref = self.ref("chunk")
        paid = self.run(
            self._write(
                "settle",
                customer_id=job.customer,
                earner_id=earner_id,
                amount=price,
                fee_percent=fee,
                ref=ref,
            )
        )
        assert paid.earned + paid.fee == price
        if earner_id is None:
            assert paid.fee == price
        else:
            assert paid == split_fee(price, fee)
            self.model.wallets[earner_id][2] += paid.earned
        self.model.platform += paid.fee
        self.model.wallets[job.customer][1] -= price
        job.held -= price
        job.spent += price
        self.model.paid[ref] = price

    @precondition(lambda self: bool(self.model.paid))
    @rule(pick=st.integers(0, 50))
    def settle_again(self, pick: int) -> None:
        """A duplicate completion: the same chunk ref is refused, nothing moves."""
        refs = sorted(self.model.paid)
        ref = refs[pick % len(refs)]
        customer = self.customers[0]
        try:
            self.run(
                self._write(
                    "settle",
                    customer_id=customer,
                    earner_id=self.earners[0],
                    amount=1,
                    fee_percent=10,
                    ref=ref,
                )
            )
        except Conflict as exc:
            assert exc.code == "ledger_duplicate"
        else:
            raise AssertionError(f"{ref} was paid twice")

    @rule(who=st.integers(0, 1), extra=st.integers(1, 50))
    def overdraw(self, who: int, extra: int) -> None:
        """Settling more than is reserved is refused whole (caller's bookkeeping bug)."""
        user = self.customers[who]
        try:
            self.run(
                self._write(
                    "settle",
                    customer_id=user,
                    earner_id=None,
                    amount=self.model.wallets[user][1] + extra,
                    fee_percent=10,
                    ref=self.ref("over"),
                )
            )
        except Conflict as exc:
            assert exc.code == "ledger_overdrawn"
        else:
            raise AssertionError("settled more than was reserved")

    @precondition(lambda self: any(j.held > 0 for j in self.model.jobs.values()))
    @rule(pick=st.integers(0, 50), share=st.integers(1, 100))
    def release(self, pick: int, share: int) -> None:
        job = self._open_job(pick)
        assert job is not None
        amount = max(1, job.held * share // 100)
        self.run(self._write("release", user_id=job.customer, amount=amount, ref=self.ref("rel")))
        wallet = self.model.wallets[job.customer]
        wallet[1] -= amount
        wallet[0] += amount
        job.held -= amount
        job.refunded += amount

    # --- what must always hold ------------------------------------------------

    @invariant()
    def ledger_is_sound(self) -> None:
        async def read() -> tuple[ledger.Audit, dict[str, Balances]]:
            async with self.db.read() as conn:
                found = await ledger.audit(conn)
                wallets = {u: await ledger.balances(conn, u) for u in self.model.wallets}
            return found, wallets

        found, wallets = self.run(read())
        assert found == ledger.Audit(0, [], [], [])
        for user, (available, reserved, earned) in self.model.wallets.items():
            assert wallets[user] == Balances(available, reserved, earned)
            assert min(available, reserved, earned) >= 0
        assert self.run(self._platform()) == self.model.platform

    @invariant()
    def each_job_adds_up(self) -> None:
        for job in self.model.jobs.values():
            assert job.held + job.spent + job.refunded == job.reserved
            assert job.held >= 0
        held = {
            c: sum(j.held for j in self.model.jobs.values() if j.customer == c)
            for c in self.customers
        }
        assert held == {c: self.model.wallets[c][1] for c in self.customers}

    @invariant()
    def no_chunk_paid_twice(self) -> None:
        assert self.run(self._settle_count()) - self.settles_before == len(self.model.paid)


def test_the_ledger_machine(database_url: str) -> None:
    loop = asyncio.new_event_loop()
    db = Database(normalise_database_url(database_url))
    LedgerMachine.db, LedgerMachine.loop = db, loop
    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(
                max_examples=30,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        loop.run_until_complete(db.dispose())
        loop.close()
