"""Wallet request and response models. Amounts are whole credits: strict integers,
so ``1.0``, ``"1"`` and ``true`` are refused, as are zero, negatives and anything
past ``MAX_API_AMOUNT`` (10^18, see domain/ledger.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictInt

from conveyor.api.schemas.common import Strict
from conveyor.domain.ledger import MAX_API_AMOUNT, Balances, Movement
from conveyor.services.wallet import PaymentOutcome

Amount = Annotated[
    StrictInt, Field(ge=1, le=MAX_API_AMOUNT, description="whole credits, at least 1")
]


class AmountIn(Strict):
    amount: Amount


class WalletOut(BaseModel):
    user_id: str
    available: int = Field(description="spendable: new jobs reserve from it")
    reserved: int = Field(description="held for jobs' unfinished chunks")
    earned: int = Field(description="paid to this user's nodes; withdrawable")

    @classmethod
    def of(cls, user_id: str, b: Balances) -> WalletOut:
        return cls(user_id=user_id, available=b.available, reserved=b.reserved, earned=b.earned)


class PaymentOut(BaseModel):
    payment_id: str
    provider: str
    direction: Literal["deposit", "withdrawal"]
    status: Literal["pending", "succeeded", "failed"] = Field(
        description="pending: credited once the provider confirms (Stripe's webhook)"
    )
    amount: int
    created_at: datetime
    checkout_url: str | None = Field(
        None, description="where the user pays (Stripe Checkout); null when nothing is left to do"
    )
    wallet: WalletOut

    @classmethod
    def of(cls, outcome: PaymentOutcome) -> PaymentOut:
        p = outcome.payment
        return cls(
            payment_id=p.id,
            provider=p.provider,
            direction=p.direction.value,
            status=p.status.value,
            amount=p.amount,
            created_at=p.created_at,
            checkout_url=outcome.checkout_url,
            wallet=WalletOut.of(p.user_id, outcome.balances),
        )


class MovementOut(BaseModel):
    """One ledger transaction, seen from this wallet: the change to each balance."""

    transaction_id: int
    kind: str = Field(description="reserve, settle, release, deposit, withdraw or initial")
    ref: str
    created_at: datetime
    available: int
    reserved: int
    earned: int
    details: dict[str, Any] | None

    @classmethod
    def of(cls, m: Movement) -> MovementOut:
        return cls(
            transaction_id=m.id,
            kind=m.kind,
            ref=m.ref,
            created_at=m.created_at,
            available=m.available,
            reserved=m.reserved,
            earned=m.earned,
            details=m.details,
        )


class MovementList(BaseModel):
    transactions: list[MovementOut]
    next_cursor: str | None


class WebhookOut(BaseModel):
    result: Literal["credited", "failed", "ignored", "duplicate"]
