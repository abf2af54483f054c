"""Reservations racing on PostgreSQL's row locks: together they ask more than the
balance holds, and exactly the affordable number win."""

from __future__ import annotations

import asyncio
import uuid

from conveyor.domain.ledger import Balances
from conveyor.errors import PaymentRequired
from conveyor.settings import normalise_database_url
from conveyor.store import ledger
from conveyor.store.database import Database


async def test_twenty_concurrent_reserves_never_overdraw(postgres_url: str) -> None:
    db = Database(normalise_database_url(postgres_url), pool_size=20)
    user = str(uuid.uuid4())
    try:
        async with db.write() as conn:
            await ledger.deposit(conn, user_id=user, amount=70, ref="fund")
        start = asyncio.Event()

        async def one(n: int) -> bool:
            await start.wait()
            try:
                async with db.write() as conn:
                    await ledger.reserve(conn, user_id=user, amount=10, ref=f"job:{n}")
            except PaymentRequired:
                return False
            return True

        racers = [asyncio.create_task(one(n)) for n in range(20)]
        start.set()
        won = await asyncio.gather(*racers)
        async with db.read() as conn:
            held = await ledger.balances(conn, user)
            found = await ledger.audit(conn)
    finally:
        await db.dispose()
    assert sum(won) == 7
    assert held == Balances(available=0, reserved=70, earned=0)
    assert found == ledger.Audit(0, [], [], [])


async def test_first_use_of_an_account_races_safely(postgres_url: str) -> None:
    """Twenty first deposits into one brand-new account: each creates it if missing,
    none fails on the other's insert."""
    db = Database(normalise_database_url(postgres_url), pool_size=20)
    user = str(uuid.uuid4())

    async def one(n: int) -> None:
        async with db.write() as conn:
            await ledger.deposit(conn, user_id=user, amount=1, ref=f"d{n}")

    try:
        await asyncio.gather(*(one(n) for n in range(20)))
        async with db.read() as conn:
            held = await ledger.balances(conn, user)
    finally:
        await db.dispose()
    assert held == Balances(20, 0, 0)
