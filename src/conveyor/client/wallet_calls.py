"""Wallet calls of the SDK: balances, deposits, withdrawals, the transaction history."""

from __future__ import annotations

import uuid
from typing import Any

from conveyor.client.models import Payment, Wallet, WalletTransaction
from conveyor.client.requester import Requester


class WalletCalls(Requester):
    # --- wallet ----------------------------------------------------------------

    async def wallet(self, user_id: str | None = None) -> Wallet:
        """One's own balances; an admin may name any user."""
        params = {"user_id": user_id} if user_id else None
        return Wallet.from_json(await self.request("GET", "/wallet", params=params))

    async def deposit(self, amount: int, *, idempotency_key: str | None = None) -> Payment:
        """Add credits. Under Stripe the answer is ``pending`` with a ``checkout_url``."""
        return await self._payment("/wallet/deposit", amount, idempotency_key)

    async def withdraw(self, amount: int, *, idempotency_key: str | None = None) -> Payment:
        """Pay credits out (earnings first); ``PaymentRequired`` says the shortfall."""
        return await self._payment("/wallet/withdraw", amount, idempotency_key)

    async def _payment(self, path: str, amount: int, idempotency_key: str | None) -> Payment:
        # A key of our own makes retrying a lost answer safe: money moves once.
        key = idempotency_key or uuid.uuid4().hex
        data = await self.request(
            "POST",
            path,
            json_body={"amount": amount},
            headers={"Idempotency-Key": key},
            idempotent=True,
        )
        return Payment.from_json(data)

    async def transactions(
        self, *, cursor: str | None = None, limit: int = 50, user_id: str | None = None
    ) -> tuple[list[WalletTransaction], str | None]:
        """One page of the wallet's ledger transactions, newest first, and the next cursor."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        if user_id:
            params["user_id"] = user_id
        data = await self.request("GET", "/wallet/transactions", params=params)
        page = [WalletTransaction.from_json(t) for t in data["transactions"]]
        return page, data.get("next_cursor")
