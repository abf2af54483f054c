"""The wallet: balances, deposits and withdrawals through a payment provider, history.

Users see only their own wallet; an admin may read anyone's. A deposit is credited
in the same transaction that records it (the sandbox), or later by the provider's
verified webhook (Stripe), exactly once per payment and once per event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from conveyor.domain.access import Principal
from conveyor.domain.earnings import Bucket, EarningBucket, fill, series_start
from conveyor.domain.ledger import (
    Balances,
    Movement,
    Payment,
    PaymentDirection,
    PaymentStatus,
)
from conveyor.errors import Forbidden, InvalidInput, NotFound
from conveyor.observability.logging import get_logger
from conveyor.services.idempotency import IdempotencyRequest, remember, replay
from conveyor.services.payments.base import Outcome, PaymentProvider, ProviderEvent
from conveyor.services.runtime import Runtime
from conveyor.services.unit import unit_of_work
from conveyor.store import ledger, provider_work
from conveyor.store import payments as payment_store
from conveyor.store import users as user_store
from conveyor.store.database import Connection
from conveyor.store.idempotency import StoredResponse

log = get_logger(__name__)
WebhookResult = Literal["credited", "failed", "ignored", "duplicate"]
# Names the payment an Idempotency-Key stands for, so a retried deposit asks the
# provider for the same thing (Stripe deduplicates on it too).
_PAYMENT_NAMESPACE = uuid.UUID("5d0c6f2e-9a52-4d8e-8a1e-2f0b3c4d5e6f")


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    payment: Payment
    balances: Balances
    checkout_url: str | None = None


class WalletService:
    def __init__(self, rt: Runtime, provider: PaymentProvider | None) -> None:
        self.rt = rt
        self.provider = provider

    async def balances(self, who: Principal, user_id: str | None = None) -> Balances:
        async with self.rt.db.read() as conn:
            owner = await _owner(conn, who, user_id)
            return await ledger.balances(conn, owner)

    async def movements(
        self, who: Principal, user_id: str | None, cursor: str | None, limit: int
    ) -> tuple[list[Movement], str | None]:
        async with self.rt.db.read() as conn:
            owner = await _owner(conn, who, user_id)
            return await ledger.list_movements(conn, owner, cursor, limit)

    async def earnings(
        self, who: Principal, user_id: str | None, bucket: Bucket, count: int
    ) -> list[EarningBucket]:
        """What the owner's nodes were paid per UTC hour or day: the last ``count``
        buckets, the current one last, empty ones included."""
        now = self.rt.clock.now()
        async with self.rt.db.read() as conn:
            owner = await _owner(conn, who, user_id)
            since = series_start(now, bucket, count)
            found = await provider_work.earnings(conn, owner, bucket, since)
        return fill(found, now, bucket, count)

    async def deposit(
        self, who: Principal, amount: int, idem: IdempotencyRequest[PaymentOutcome] | None
    ) -> PaymentOutcome | StoredResponse:
        provider = self._provider()
        if amount > provider.max_deposit:
            raise InvalidInput(
                f"{provider.name} takes deposits of at most {provider.max_deposit}",
                details=[{"field": "amount", "message": f"at most {provider.max_deposit}"}],
            )
        async with unit_of_work(self.rt, write=False) as unit:
            earlier = await replay(unit, who, idem)
        if earlier is not None:
            return earlier
        payment_id = _payment_id(who, idem)
        # Asked outside any transaction: a provider's round trip must not hold a
        # database connection (and, on SQLite, the write lock).
        start = await provider.start_deposit(payment_id, who.id, amount)
        now = self.rt.clock.now()
        status = PaymentStatus.SUCCEEDED if start.settled else PaymentStatus.PENDING
        payment = Payment(
            payment_id, who.id, provider.name, PaymentDirection.DEPOSIT, amount, status,
            start.external_id, now, now,
        )  # fmt: skip
        async with unit_of_work(self.rt) as unit:
            earlier = await replay(unit, who, idem)
            if earlier is not None:
                return earlier
            await payment_store.insert_payment(unit.conn, payment)
            if start.settled:
                await _credit(unit.conn, payment)
            outcome = PaymentOutcome(
                payment, await ledger.balances(unit.conn, who.id), start.checkout_url
            )
            stored = await remember(unit, who, idem, outcome, now)
        return stored if stored is not None else outcome

    async def withdraw(
        self, who: Principal, amount: int, idem: IdempotencyRequest[PaymentOutcome] | None
    ) -> PaymentOutcome | StoredResponse:
        """Take the credits and pay them out in one transaction: a payout that fails
        rolls the debit back, and a short balance is 402 before the provider is asked."""
        provider = self._provider()
        now = self.rt.clock.now()
        payment = Payment(
            _payment_id(who, idem), who.id, provider.name, PaymentDirection.WITHDRAWAL,
            amount, PaymentStatus.SUCCEEDED, None, now, now,
        )  # fmt: skip
        async with unit_of_work(self.rt) as unit:
            earlier = await replay(unit, who, idem)
            if earlier is not None:
                return earlier
            await ledger.withdraw(
                unit.conn, user_id=who.id, amount=amount, ref=payment.ref, details=_about(payment)
            )
            await provider.pay_out(payment.id, who.id, amount)
            await payment_store.insert_payment(unit.conn, payment)
            outcome = PaymentOutcome(payment, await ledger.balances(unit.conn, who.id))
            stored = await remember(unit, who, idem, outcome, now)
        return stored if stored is not None else outcome

    async def handle_webhook(self, payload: bytes, signature: str | None) -> WebhookResult:
        """A provider's signed event: credits a paid deposit once, whatever the
        number of deliveries; what it did is returned for the response and the log."""
        event = self._provider(for_webhook=True).verify_event(payload, signature)
        now = self.rt.clock.now()
        async with unit_of_work(self.rt) as unit:
            if not await payment_store.first_delivery(unit.conn, self._name, event.id, now):
                return "duplicate"
            result = await self._apply(unit.conn, event)
        log.info(
            "payment event",
            provider=self._name,
            event_id=event.id,
            event_type=event.type,
            result=result,
        )
        return result

    async def _apply(self, conn: Connection, event: ProviderEvent) -> WebhookResult:
        if event.outcome is Outcome.IGNORED or event.external_id is None:
            return "ignored"
        payment = await payment_store.lock_by_external_id(conn, self._name, event.external_id)
        if payment is None or payment.status is not PaymentStatus.PENDING:
            # Not ours (another integration on the same Stripe account), or already settled.
            return "ignored"
        if event.outcome is Outcome.FAILED:
            await payment_store.set_status(
                conn, payment.id, PaymentStatus.FAILED, self.rt.clock.now()
            )
            return "failed"
        if event.amount != payment.amount:
            log.warning("payment amount mismatch", payment=payment.id, paid=event.amount)
            return "ignored"
        await _credit(conn, payment)
        await payment_store.set_status(
            conn, payment.id, PaymentStatus.SUCCEEDED, self.rt.clock.now()
        )
        return "credited"

    @property
    def _name(self) -> str:
        return self.provider.name if self.provider else ""

    def _provider(self, *, for_webhook: bool = False) -> PaymentProvider:
        if self.provider is None:
            if for_webhook:
                raise NotFound("this server takes no payment webhooks")
            raise Forbidden(
                "no payment provider is configured on this server (docs/wallet.md)",
                code="payments_disabled",
            )
        return self.provider


async def _owner(conn: Connection, who: Principal, user_id: str | None) -> str:
    """Whose wallet: one's own, or for an admin anyone's; another user's is 404,
    exactly like a user that does not exist."""
    if who.is_node:
        raise Forbidden("nodes have no wallet; their owner's earns")
    if user_id is None or user_id == who.id:
        return who.id
    if not who.is_admin or await user_store.get_user(conn, user_id) is None:
        raise NotFound(f"wallet of user {user_id} not found")
    return user_id


async def _credit(conn: Connection, payment: Payment) -> None:
    await ledger.deposit(
        conn,
        user_id=payment.user_id,
        amount=payment.amount,
        ref=payment.ref,
        details=_about(payment),
    )


def _about(payment: Payment) -> dict[str, Any]:
    return {"payment_id": payment.id, "provider": payment.provider}


def _payment_id(who: Principal, idem: IdempotencyRequest[Any] | None) -> str:
    if idem is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_PAYMENT_NAMESPACE, f"{who.id}\n{idem.key}"))
