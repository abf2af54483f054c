"""Payments asked of a provider, and the provider events already handled."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.domain.ledger import Payment, PaymentDirection, PaymentStatus
from conveyor.errors import Conflict
from conveyor.store.schema import payment_events, wallet_payments


def _payment(row: RowMapping) -> Payment:
    return Payment(
        id=row["id"],
        user_id=row["user_id"],
        provider=row["provider"],
        direction=PaymentDirection(row["direction"]),
        amount=int(row["amount"]),
        status=PaymentStatus(row["status"]),
        external_id=row["external_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def insert_payment(conn: AsyncConnection, payment: Payment) -> Payment:
    try:
        await conn.execute(
            wallet_payments.insert().values(
                id=payment.id,
                user_id=payment.user_id,
                provider=payment.provider,
                direction=payment.direction.value,
                amount=payment.amount,
                status=payment.status.value,
                external_id=payment.external_id,
                created_at=payment.created_at,
                updated_at=payment.updated_at,
            )
        )
    except IntegrityError as exc:
        # Two first requests with one Idempotency-Key name one payment; one wins.
        raise Conflict("a request with this idempotency key is already in flight") from exc
    return payment


async def lock_by_external_id(
    conn: AsyncConnection, provider: str, external_id: str
) -> Payment | None:
    """The payment a provider's object stands for, row-locked until the caller commits."""
    stmt = (
        select(wallet_payments)
        .where(
            wallet_payments.c.provider == provider,
            wallet_payments.c.external_id == external_id,
        )
        .with_for_update()
    )
    row = (await conn.execute(stmt)).mappings().first()
    return _payment(row) if row else None


async def set_status(
    conn: AsyncConnection, payment_id: str, status: PaymentStatus, now: datetime
) -> None:
    await conn.execute(
        update(wallet_payments)
        .where(wallet_payments.c.id == payment_id)
        .values(status=status.value, updated_at=now)
    )


async def first_delivery(
    conn: AsyncConnection, provider: str, event_id: str, now: datetime
) -> bool:
    """Record a provider event; False when it was recorded before (a redelivery)."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(payment_events).values(provider=provider, event_id=event_id, received_at=now)
    return bool((await conn.execute(stmt.on_conflict_do_nothing())).rowcount)
