"""The ledger's store functions on SQLite and PostgreSQL: each movement balanced,
idempotent by ref, refused (with nothing written) when it would overdraw."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from conveyor.domain.ledger import Balances, Settlement, TransactionKind
from conveyor.errors import Conflict, PaymentRequired
from conveyor.store import ledger
from conveyor.store.database import Database
from conveyor.store.schema import ledger_accounts, ledger_entries, ledger_transactions


def new_user() -> str:
    return str(uuid.uuid4())


async def fund(db: Database, user: str, amount: int) -> None:
    async with db.write() as conn:
        await ledger.deposit(conn, user_id=user, amount=amount, ref=f"fund:{uuid.uuid4()}")


async def wallet(db: Database, user: str) -> Balances:
    async with db.read() as conn:
        return await ledger.balances(conn, user)


async def transaction_count(db: Database) -> int:
    async with db.read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(ledger_transactions))).scalar_one()
        )


async def assert_sound(db: Database) -> None:
    async with db.read() as conn:
        found = await ledger.audit(conn)
    assert found == ledger.Audit(0, [], [], [])


async def test_a_new_user_has_an_empty_wallet(db: Database) -> None:
    assert await wallet(db, new_user()) == Balances(0, 0, 0)


async def test_reserve_moves_available_to_reserved(db: Database) -> None:
    user = new_user()
    await fund(db, user, 100)
    async with db.write() as conn:
        await ledger.reserve(conn, user_id=user, amount=30, ref="job:1")
    assert await wallet(db, user) == Balances(available=70, reserved=30, earned=0)
    await assert_sound(db)


async def test_a_short_reserve_is_402_with_the_shortfall_and_writes_nothing(db: Database) -> None:
    user = new_user()
    await fund(db, user, 10)
    before = await transaction_count(db)
    with pytest.raises(PaymentRequired) as raised:
        async with db.write() as conn:
            await ledger.reserve(conn, user_id=user, amount=25, ref="job:1")
    assert raised.value.details == {"required": 25, "available": 10, "shortfall": 15}
    assert await transaction_count(db) == before
    assert await wallet(db, user) == Balances(10, 0, 0)


async def test_a_ref_moves_money_once_per_kind(db: Database) -> None:
    user = new_user()
    await fund(db, user, 100)
    async with db.write() as conn:
        await ledger.reserve(conn, user_id=user, amount=10, ref="job:1")
    with pytest.raises(Conflict) as raised:
        async with db.write() as conn:
            await ledger.reserve(conn, user_id=user, amount=10, ref="job:1")
    assert raised.value.details == {"kind": "reserve", "ref": "job:1"}
    # The same ref under another kind is another movement.
    async with db.write() as conn:
        await ledger.release(conn, user_id=user, amount=10, ref="job:1")
    assert await wallet(db, user) == Balances(100, 0, 0)
    await assert_sound(db)


async def test_settle_pays_the_earner_and_floors_the_platform_fee(db: Database) -> None:
    customer, earner = new_user(), new_user()
    await fund(db, customer, 100)
    async with db.write() as conn:
        await ledger.reserve(conn, user_id=customer, amount=100, ref="job:1")
        paid = await ledger.settle(
            conn, customer_id=customer, earner_id=earner, amount=33, fee_percent=10, ref="chunk:a"
        )
    # 10 % of 33 is 3.3: the platform gets 3, the earner 30; nothing made or lost.
    assert paid == Settlement(earned=30, fee=3)
    assert await wallet(db, customer) == Balances(0, 67, 0)
    assert await wallet(db, earner) == Balances(0, 0, 30)
    async with db.read() as conn:
        platform = (
            await conn.execute(
                select(ledger_accounts.c.balance).where(ledger_accounts.c.id == "platform")
            )
        ).scalar_one()
    assert platform == 3
    await assert_sound(db)


async def test_settle_without_an_owner_pays_the_platform_all(db: Database) -> None:
    customer = new_user()
    await fund(db, customer, 50)
    async with db.write() as conn:
        await ledger.reserve(conn, user_id=customer, amount=50, ref="job:1")
        paid = await ledger.settle(
            conn, customer_id=customer, earner_id=None, amount=50, fee_percent=10, ref="chunk:a"
        )
    assert paid == Settlement(earned=0, fee=50)
    await assert_sound(db)


async def test_a_fee_of_zero_or_all_still_balances(db: Database) -> None:
    customer, earner = new_user(), new_user()
    await fund(db, customer, 20)
    async with db.write() as conn:
        await ledger.reserve(conn, user_id=customer, amount=20, ref="job:1")
        none = await ledger.settle(
            conn, customer_id=customer, earner_id=earner, amount=10, fee_percent=0, ref="c1"
        )
        full = await ledger.settle(
            conn, customer_id=customer, earner_id=earner, amount=10, fee_percent=100, ref="c2"
        )
    assert (none, full) == (Settlement(10, 0), Settlement(0, 10))
    assert await wallet(db, earner) == Balances(0, 0, 10)
    await assert_sound(db)


async def test_a_duplicate_settle_pays_once(db: Database) -> None:
    customer, earner = new_user(), new_user()
    await fund(db, customer, 20)
    async with db.write() as conn:
        await ledger.reserve(conn, user_id=customer, amount=20, ref="job:1")
        await ledger.settle(
            conn, customer_id=customer, earner_id=earner, amount=10, fee_percent=5, ref="chunk:a"
        )
    with pytest.raises(Conflict):
        async with db.write() as conn:
            await ledger.settle(
                conn,
                customer_id=customer,
                earner_id=earner,
                amount=10,
                fee_percent=5,
                ref="chunk:a",
            )
    assert await wallet(db, customer) == Balances(0, 10, 0)
    assert await wallet(db, earner) == Balances(0, 0, 10)


@pytest.mark.parametrize("move", ["settle", "release"])
async def test_nobody_pays_or_releases_more_than_is_reserved(db: Database, move: str) -> None:
    customer = new_user()
    await fund(db, customer, 20)
    async with db.write() as conn:
        await ledger.reserve(conn, user_id=customer, amount=5, ref="job:1")
    before = await transaction_count(db)
    with pytest.raises(Conflict) as raised:
        async with db.write() as conn:
            if move == "settle":
                await ledger.settle(
                    conn, customer_id=customer, earner_id=None, amount=6, fee_percent=5, ref="x"
                )
            else:
                await ledger.release(conn, user_id=customer, amount=6, ref="x")
    assert raised.value.code == "ledger_overdrawn"
    assert await transaction_count(db) == before
    assert await wallet(db, customer) == Balances(15, 5, 0)


async def test_withdraw_takes_earnings_first_and_never_the_reservation(db: Database) -> None:
    customer, earner = new_user(), new_user()
    await fund(db, customer, 100)
    await fund(db, earner, 10)
    async with db.write() as conn:
        await ledger.reserve(conn, user_id=customer, amount=60, ref="job:1")
        await ledger.settle(
            conn, customer_id=customer, earner_id=earner, amount=20, fee_percent=0, ref="c"
        )
    with pytest.raises(PaymentRequired) as raised:
        async with db.write() as conn:
            await ledger.withdraw(conn, user_id=customer, amount=41, ref="w1")
    assert raised.value.details == {"required": 41, "available": 40, "shortfall": 1}
    async with db.write() as conn:
        await ledger.withdraw(conn, user_id=earner, amount=25, ref="w2")
    assert await wallet(db, earner) == Balances(available=5, reserved=0, earned=0)
    assert await wallet(db, customer) == Balances(available=40, reserved=40, earned=0)
    await assert_sound(db)


async def test_the_initial_grant_lands_once_per_user(db: Database) -> None:
    user = new_user()
    async with db.write() as conn:
        assert await ledger.grant_initial(conn, user_id=user, amount=500)
    async with db.write() as conn:
        assert not await ledger.grant_initial(conn, user_id=user, amount=500)
    assert await wallet(db, user) == Balances(500, 0, 0)
    async with db.read() as conn:
        assert await ledger.was_used(conn, TransactionKind.INITIAL, user)


async def test_credits_held_stay_within_64_bits(db: Database) -> None:
    """Every balance is at most what all users hold together, which the world
    account's (negative) balance bounds: a deposit past 2^63 - 1 is refused."""
    alice, bob = new_user(), new_user()
    async with db.write() as conn:
        await ledger.deposit(conn, user_id=alice, amount=2**63 - 2, ref="big")
    with pytest.raises(Conflict) as raised:
        async with db.write() as conn:
            await ledger.deposit(conn, user_id=bob, amount=2, ref="one more")
    assert raised.value.code == "ledger_full"
    async with db.write() as conn:
        await ledger.deposit(conn, user_id=bob, amount=1, ref="the last one")
    assert await wallet(db, alice) == Balances(2**63 - 2, 0, 0)
    await assert_sound(db)


@pytest.mark.parametrize("amount", [0, -1, 2**63, True])
async def test_amounts_are_positive_64_bit_ints(db: Database, amount: int) -> None:
    with pytest.raises(ValueError, match="positive 64-bit"):
        async with db.write() as conn:
            await ledger.deposit(conn, user_id=new_user(), amount=amount, ref="d")
    assert await transaction_count(db) == 0


@pytest.mark.parametrize("table", [ledger_entries, ledger_transactions])
@pytest.mark.parametrize("verb", ["update", "delete"])
async def test_the_database_refuses_to_edit_the_ledger(
    db: Database, table: object, verb: str
) -> None:
    await fund(db, new_user(), 10)
    target = ledger_entries if table is ledger_entries else ledger_transactions
    stmt = update(target).values(id=target.c.id + 1000) if verb == "update" else delete(target)
    with pytest.raises(DBAPIError, match="never updated or deleted"):
        async with db.write() as conn:
            await conn.execute(stmt)
    await assert_sound(db)
    assert await transaction_count(db) == 1
