"""The built-in provider (``CONVEYOR_WALLET_SANDBOX=true``): no money, no delay.

Deposits are credited and withdrawals paid at once. For development and demos; the
settings refuse it in production.
"""

from __future__ import annotations

from conveyor.domain.ledger import MAX_AMOUNT
from conveyor.errors import NotFound
from conveyor.services.payments.base import DepositStart, ProviderEvent


class SandboxProvider:
    name = "sandbox"
    max_deposit = MAX_AMOUNT

    async def start_deposit(self, payment_id: str, user_id: str, amount: int) -> DepositStart:
        return DepositStart(settled=True)

    async def pay_out(self, payment_id: str, user_id: str, amount: int) -> None:
        return None

    def verify_event(self, payload: bytes, signature: str | None) -> ProviderEvent:
        # The sandbox sends no webhooks; the route answers as if it did not exist.
        raise NotFound("this server takes no payment webhooks")
