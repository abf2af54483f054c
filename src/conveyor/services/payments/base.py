"""What a payment provider does for the wallet, and what it tells back.

A provider moves money outside Conveyor; the ledger moves credits inside it. The
wallet service writes a ledger transaction only when the provider says the money
moved: at once for the sandbox, from a verified webhook for Stripe.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True, slots=True)
class DepositStart:
    # True: the money is in, credit now. False: wait for the provider's event.
    settled: bool
    external_id: str | None = None
    # Where the user pays (a Stripe Checkout page); None when nothing is left to do.
    checkout_url: str | None = None


class Outcome(StrEnum):
    PAID = "paid"
    FAILED = "failed"
    # An event this service has no use for (it is still recorded as handled).
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A provider's word about one of its payments, its signature already verified."""

    id: str
    type: str
    outcome: Outcome
    external_id: str | None = None
    amount: int | None = None


class PaymentProvider(Protocol):
    name: str
    # Deposits beyond this are refused before the provider is asked.
    max_deposit: int

    async def start_deposit(self, payment_id: str, user_id: str, amount: int) -> DepositStart: ...

    async def pay_out(self, payment_id: str, user_id: str, amount: int) -> None:
        """Send ``amount`` to the user; raises a ``ConveyorError`` when it cannot."""
        ...

    def verify_event(self, payload: bytes, signature: str | None) -> ProviderEvent:
        """Check a webhook's signature and read it; ``InvalidInput`` when it fails."""
        ...
