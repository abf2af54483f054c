"""Stripe deposits end to end on SQLite and PostgreSQL: the official library talks to a
local stand-in for Stripe's API, and webhooks arrive signed like Stripe's. Credits
land only from a verified ``checkout.session.completed``, once per payment and event."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.server import Api, serve_api
from tests.server import test_settings as make_settings
from tests.wallet.stripe_standin import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    StripeStandIn,
    signed,
    stripe_standin,
)

Headers = dict[str, str]
WEBHOOK = "/wallet/stripe/webhook"


@dataclass
class Setup:
    api: Api
    stripe: StripeStandIn
    alice: Headers


@pytest.fixture
async def setup(database_url: str, tmp_path: Path) -> AsyncIterator[Setup]:
    async with stripe_standin() as standin:
        settings = make_settings(
            database_url,
            tmp_path,
            wallet_sandbox=False,
            stripe_secret_key=SECRET_KEY,
            stripe_webhook_secret=WEBHOOK_SECRET,
            stripe_api_base=standin.url,
            stripe_currency="eur",
        )
        async with serve_api(settings) as api:
            alice = await api.user_headers(f"alice-{uuid.uuid4().hex[:8]}")
            yield Setup(api, standin, alice)


async def available(s: Setup) -> int:
    r = await s.api.http.get("/wallet", headers=s.alice)
    assert r.status_code == 200, r.text
    return int(r.json()["available"])


async def start_deposit(s: Setup, amount: int, key: str | None = None) -> dict[str, Any]:
    headers = {**s.alice, **({"Idempotency-Key": key} if key else {})}
    r = await s.api.http.post("/wallet/deposit", json={"amount": amount}, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def session_of(s: Setup, payment: dict[str, Any]) -> str:
    (session_id,) = [
        sid
        for sid, ses in s.stripe.sessions.items()
        if ses["metadata"]["payment_id"] == payment["payment_id"]
    ]
    return session_id


async def deliver(s: Setup, event: dict[str, Any], **how: Any) -> Any:
    body, headers = signed(event, **how)
    return await s.api.http.post(WEBHOOK, content=body, headers=headers)


async def test_a_deposit_is_a_checkout_session_and_credits_nothing_yet(setup: Setup) -> None:
    payment = await start_deposit(setup, 1500)
    assert (payment["provider"], payment["status"]) == ("stripe", "pending")
    session_id = session_of(setup, payment)
    assert payment["checkout_url"] == setup.stripe.sessions[session_id]["url"]
    (sent,) = setup.stripe.requests
    assert sent["mode"] == "payment"
    assert sent["line_items[0][price_data][unit_amount]"] == "1500"
    assert sent["line_items[0][price_data][currency]"] == "eur"
    assert await available(setup) == 0


async def test_the_signed_webhook_credits_once(setup: Setup) -> None:
    session_id = session_of(setup, await start_deposit(setup, 700))
    event = setup.stripe.event(session_id)
    first = await deliver(setup, event)
    assert (first.status_code, first.json()) == (200, {"result": "credited"})
    assert await available(setup) == 700
    # Stripe redelivers; and a second, different event for the same session arrives.
    again = await deliver(setup, event)
    other = await deliver(
        setup, setup.stripe.event(session_id, "checkout.session.async_payment_succeeded")
    )
    assert again.json() == {"result": "duplicate"}
    assert other.json() == {"result": "ignored"}
    assert await available(setup) == 700
    history = (await setup.api.http.get("/wallet/transactions", headers=setup.alice)).json()
    assert [(t["kind"], t["available"]) for t in history["transactions"]] == [("deposit", 700)]


async def test_concurrent_deliveries_of_one_event_credit_once(setup: Setup) -> None:
    session_id = session_of(setup, await start_deposit(setup, 90))
    body, headers = signed(setup.stripe.event(session_id))
    answers = await asyncio.gather(
        *(setup.api.http.post(WEBHOOK, content=body, headers=headers) for _ in range(10))
    )
    # The event's row serialises them: the first credits, the rest wait and find it taken.
    assert sorted(r.json()["result"] for r in answers) == ["credited"] + ["duplicate"] * 9
    assert await available(setup) == 90


@pytest.mark.parametrize("forgery", ["wrong secret", "stale", "tampered", "missing", "garbage"])
async def test_an_unverified_webhook_is_400_and_credits_nothing(setup: Setup, forgery: str) -> None:
    session_id = session_of(setup, await start_deposit(setup, 50))
    event = setup.stripe.event(session_id)
    body, headers = signed(event)
    if forgery == "wrong secret":
        body, headers = signed(event, secret="whsec_someone_else")
    elif forgery == "stale":
        body, headers = signed(event, at=int(time.time()) - 3600)
    elif forgery == "tampered":
        body = body.replace(b'"amount_total": 50', b'"amount_total": 5000')
    elif forgery == "missing":
        headers = {}
    else:
        headers = {"Stripe-Signature": "t=abc,v1=zz"}
    r = await setup.api.http.post(WEBHOOK, content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_input"
    assert await available(setup) == 0
    # The genuine event still credits afterwards: a forgery did not burn its id.
    assert (await deliver(setup, event)).json() == {"result": "credited"}


async def test_an_expired_session_fails_its_payment(setup: Setup) -> None:
    session_id = session_of(setup, await start_deposit(setup, 30))
    expired = await deliver(
        setup, setup.stripe.event(session_id, "checkout.session.expired", payment_status="unpaid")
    )
    assert expired.json() == {"result": "failed"}
    late = await deliver(setup, setup.stripe.event(session_id))
    assert late.json() == {"result": "ignored"}
    assert await available(setup) == 0


async def test_unpaid_unknown_or_mismatched_events_credit_nothing(setup: Setup) -> None:
    session_id = session_of(setup, await start_deposit(setup, 30))
    unpaid = setup.stripe.event(session_id, payment_status="unpaid")
    wrong_amount = setup.stripe.event(session_id, amount_total=31)
    unknown = setup.stripe.event(session_id, id=f"cs_test_{uuid.uuid4().hex}")
    other_type = {
        **setup.stripe.event(session_id, "customer.created"),
        "data": {"object": {"object": "customer", "id": "cus_1"}},
    }
    for event in (unpaid, wrong_amount, unknown, other_type):
        r = await deliver(setup, event)
        assert r.json() == {"result": "ignored"}, event["type"]
    assert await available(setup) == 0


async def test_an_idempotent_deposit_asks_stripe_once(setup: Setup) -> None:
    first = await start_deposit(setup, 25, key="k1")
    again = await start_deposit(setup, 25, key="k1")
    assert again == first
    assert len(setup.stripe.requests) == 1


async def test_stripe_refusals_and_outages_are_not_500(setup: Setup) -> None:
    too_big = await setup.api.http.post(
        "/wallet/deposit", json={"amount": 100_000_000}, headers=setup.alice
    )
    assert too_big.status_code == 400
    assert setup.stripe.requests == []
    setup.stripe.fail_with = (400, "invalid_request_error")
    refused = await setup.api.http.post("/wallet/deposit", json={"amount": 5}, headers=setup.alice)
    assert refused.status_code == 400, refused.text
    setup.stripe.fail_with = (500, "api_error")
    down = await setup.api.http.post("/wallet/deposit", json={"amount": 5}, headers=setup.alice)
    assert down.status_code == 503, down.text
    history = (await setup.api.http.get("/wallet/transactions", headers=setup.alice)).json()
    assert history["transactions"] == []


async def test_withdrawals_are_refused_without_taking_credits(setup: Setup) -> None:
    session_id = session_of(setup, await start_deposit(setup, 40))
    await deliver(setup, setup.stripe.event(session_id))
    r = await setup.api.http.post("/wallet/withdraw", json={"amount": 10}, headers=setup.alice)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "withdrawals_manual"
    assert await available(setup) == 40
