"""Stripe through its official library: deposits are Checkout Sessions, credited
only once Stripe's signed webhook says the session was paid (docs/wallet.md).

One credit is one minor unit of ``CONVEYOR_STRIPE_CURRENCY`` (a cent). Payouts to
users need Stripe Connect accounts, which Conveyor does not manage yet, so a
withdrawal is refused here instead of taking credits it cannot pay.
"""

from __future__ import annotations

from typing import Any

import stripe

from conveyor.errors import ConveyorError, Forbidden, InvalidInput, Unavailable
from conveyor.services.payments.base import DepositStart, Outcome, ProviderEvent
from conveyor.settings import Settings

# Stripe's own ceiling for one Checkout amount (eight digits of minor units).
MAX_CHECKOUT_AMOUNT = 99_999_999
PAID_EVENTS = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
FAILED_EVENTS = {"checkout.session.expired", "checkout.session.async_payment_failed"}


class StripeProvider:
    name = "stripe"
    max_deposit = MAX_CHECKOUT_AMOUNT

    def __init__(self, settings: Settings) -> None:
        assert settings.stripe_secret_key is not None
        assert settings.stripe_webhook_secret is not None
        self._settings = settings
        self._webhook_secret = settings.stripe_webhook_secret.get_secret_value()
        base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
        self._client = stripe.StripeClient(
            settings.stripe_secret_key.get_secret_value(),
            base_addresses=base,  # type: ignore[arg-type]
            http_client=stripe.HTTPXClient(timeout=20),
            max_network_retries=2,
        )

    async def start_deposit(self, payment_id: str, user_id: str, amount: int) -> DepositStart:
        settings = self._settings
        params: Any = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": settings.stripe_currency,
                        "unit_amount": amount,
                        "product_data": {"name": "Conveyor credits"},
                    },
                }
            ],
            "success_url": settings.stripe_success_url,
            "cancel_url": settings.stripe_cancel_url,
            "client_reference_id": user_id,
            "metadata": {"payment_id": payment_id, "user_id": user_id},
        }
        # Stripe's own idempotency: a retried request finds the session already made.
        options: Any = {"idempotency_key": f"conveyor-deposit-{payment_id}"}
        try:
            session = await self._client.v1.checkout.sessions.create_async(params, options)
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return DepositStart(settled=False, external_id=session.id, checkout_url=session.url)

    async def pay_out(self, payment_id: str, user_id: str, amount: int) -> None:
        raise Forbidden(
            "withdrawals through Stripe are paid by an operator (docs/wallet.md)",
            code="withdrawals_manual",
        )

    def verify_event(self, payload: bytes, signature: str | None) -> ProviderEvent:
        try:
            event = stripe.Webhook.construct_event(
                payload.decode("utf-8"), signature, self._webhook_secret
            )
        except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput("the webhook signature does not verify") from exc
        body = event.to_dict()
        session = body.get("data", {}).get("object", {})
        return ProviderEvent(
            id=str(body["id"]),
            type=str(body.get("type", "")),
            outcome=_outcome(str(body.get("type", "")), session),
            external_id=session.get("id"),
            amount=session.get("amount_total"),
        )


def _outcome(event_type: str, session: dict[str, Any]) -> Outcome:
    if session.get("object") != "checkout.session":
        return Outcome.IGNORED
    if event_type in PAID_EVENTS and session.get("payment_status") in (
        "paid",
        "no_payment_required",
    ):
        return Outcome.PAID
    if event_type in FAILED_EVENTS:
        return Outcome.FAILED
    # ``completed`` with payment_status "unpaid": a delayed method; its own event follows.
    return Outcome.IGNORED


def _translate(exc: stripe.StripeError) -> ConveyorError:
    if isinstance(exc, stripe.InvalidRequestError | stripe.CardError):
        return InvalidInput(f"the payment provider refused: {exc.user_message or exc}")
    # Unreachable, rate limited, or failing on its side: the same call may work later.
    return Unavailable("the payment provider is unavailable")
