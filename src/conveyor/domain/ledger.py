"""Credits: the rules of the ledger that need no database (docs/wallet.md).

Amounts are integer credits. Every movement is one transaction of postings that sum
to zero; the fee on a chunk's price is rounded down, and the earner gets the rest,
so a split never creates or loses a credit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

# A signed 64-bit column holds every balance; an amount beyond it is refused at the edge.
MAX_AMOUNT = 2**63 - 1
# The most one request may move. FastAPI writes OpenAPI bounds as floats: 10^18 is
# one exactly and prints as ``1e+18``, so the document's maximum is the server's to
# the credit (2^63 - 1 would print as 2^63, a number the server refuses).
MAX_API_AMOUNT = 10**18
# A history cursor is a transaction id, 1 to 10^18 - 1 (far below 2^63): every string
# the pattern allows is a valid cursor, so the API can state it exactly.
CURSOR_PATTERN = r"^[1-9][0-9]{0,17}$"
PLATFORM_ACCOUNT = "platform"
# Where deposits come from and withdrawals go: the one account allowed below zero
# (its negative balance is what users hold in total, minus what the platform earned).
WORLD_ACCOUNT = "world"


class AccountKind(StrEnum):
    AVAILABLE = "available"
    RESERVED = "reserved"
    EARNED = "earned"
    PLATFORM = "platform"
    WORLD = "world"


USER_KINDS = (AccountKind.AVAILABLE, AccountKind.RESERVED, AccountKind.EARNED)


class TransactionKind(StrEnum):
    RESERVE = "reserve"
    SETTLE = "settle"
    RELEASE = "release"
    DEPOSIT = "deposit"
    WITHDRAW = "withdraw"
    INITIAL = "initial"


@dataclass(frozen=True, slots=True)
class Balances:
    available: int
    reserved: int
    earned: int


@dataclass(frozen=True, slots=True)
class Settlement:
    earned: int
    fee: int


Posting = tuple[str, int]


def user_account(user_id: str, kind: AccountKind) -> str:
    return f"{kind.value}:{user_id}"


def split_fee(amount: int, fee_percent: int) -> Settlement:
    """Floor the platform's share; the earner gets the remainder, so both sum to ``amount``."""
    check_amount(amount)
    if not 0 <= fee_percent <= 100:
        raise ValueError("fee_percent must be between 0 and 100")
    fee = amount * fee_percent // 100
    return Settlement(earned=amount - fee, fee=fee)


def check_amount(amount: int) -> None:
    # bool is an int subclass; True credits are a bug, not one credit.
    if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
        raise ValueError("an amount is a positive 64-bit integer")


def balanced(postings: Sequence[Posting]) -> bool:
    return sum(amount for _, amount in postings) == 0 and all(a != 0 for _, a in postings)


@dataclass(frozen=True, slots=True)
class Movement:
    """One ledger transaction as one user sees it: how each of its balances changed."""

    id: int
    kind: str
    ref: str
    created_at: datetime
    available: int
    reserved: int
    earned: int
    details: dict[str, Any] | None


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class PaymentDirection(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


@dataclass(frozen=True, slots=True)
class Payment:
    """Money asked of a payment provider, and how far it got."""

    id: str
    user_id: str
    provider: str
    direction: PaymentDirection
    amount: int
    status: PaymentStatus
    external_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def ref(self) -> str:
        """The ledger ref of the movement that settles this payment: one per payment."""
        return f"payment:{self.id}"
