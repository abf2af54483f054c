"""``/wallet``: balances, deposits, withdrawals and history, for users and admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from conveyor.api.deps import ServicesDep, UserPrincipal
from conveyor.api.errors import error_responses
from conveyor.api.input import CheckedRoute
from conveyor.api.schemas.provider import EarningBucketOut, EarningsOut
from conveyor.api.schemas.wallet import (
    AmountIn,
    MovementList,
    MovementOut,
    PaymentOut,
    WalletOut,
    WebhookOut,
)
from conveyor.domain.earnings import MAX_BUCKETS, Bucket
from conveyor.domain.ledger import CURSOR_PATTERN
from conveyor.services.idempotency import IdempotencyRequest, request_hash
from conveyor.services.wallet import PaymentOutcome
from conveyor.store.idempotency import StoredResponse

router = APIRouter(
    route_class=CheckedRoute,
    prefix="/wallet",
    tags=["wallet"],
    responses=error_responses(400, 401, 403, 404),
)

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
UserId = Annotated[
    str | None,
    Query(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="admins: read this user's wallet"),
]


def _render(outcome: PaymentOutcome) -> Any:
    return PaymentOut.of(outcome).model_dump(mode="json")


def _idempotency(
    key: str | None, action: str, body: AmountIn
) -> IdempotencyRequest[PaymentOutcome] | None:
    if not key:
        return None
    # The action is in the hash: one key cannot be a deposit and then a withdrawal.
    return IdempotencyRequest(key, request_hash([action, body.model_dump()]), 201, _render)


def _respond(outcome: PaymentOutcome | StoredResponse) -> JSONResponse:
    if isinstance(outcome, StoredResponse):
        return JSONResponse(outcome.response, status_code=outcome.status_code)
    return JSONResponse(_render(outcome), status_code=201)


@router.get("")
async def get_wallet(
    who: UserPrincipal, services: ServicesDep, user_id: UserId = None
) -> WalletOut:
    """Available, reserved and earned credits: one's own, or an admin's pick."""
    owner = user_id or who.id
    return WalletOut.of(owner, await services.wallet.balances(who, user_id))


@router.post(
    "/deposit", status_code=201, response_model=PaymentOut, responses=error_responses(409, 503)
)
async def deposit(
    body: AmountIn,
    who: UserPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Credit the wallet. The sandbox credits at once; Stripe answers ``pending``
    with a ``checkout_url``, and credits land when Stripe's webhook confirms."""
    idem = _idempotency(idempotency_key, "deposit", body)
    return _respond(await services.wallet.deposit(who, body.amount, idem))


@router.post(
    "/withdraw", status_code=201, response_model=PaymentOut, responses=error_responses(402, 409)
)
async def withdraw(
    body: AmountIn,
    who: UserPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Pay credits out, earnings first, then the available balance; ``402`` with the
    shortfall when both together are short. Reserved credits cannot be withdrawn."""
    idem = _idempotency(idempotency_key, "withdraw", body)
    return _respond(await services.wallet.withdraw(who, body.amount, idem))


@router.get("/transactions")
async def transactions(
    who: UserPrincipal,
    services: ServicesDep,
    user_id: UserId = None,
    cursor: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, description="``next_cursor`` of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> MovementList:
    """The wallet's ledger transactions, newest first."""
    page, next_cursor = await services.wallet.movements(who, user_id, cursor, limit)
    return MovementList(transactions=[MovementOut.of(m) for m in page], next_cursor=next_cursor)


@router.get("/earnings")
async def earnings(
    who: UserPrincipal,
    services: ServicesDep,
    user_id: UserId = None,
    bucket: Annotated[Bucket, Query(description="UTC hours or days")] = "hour",
    count: Annotated[
        int | None,
        Query(ge=1, le=MAX_BUCKETS, description="buckets; 24 hours or 30 days by default"),
    ] = None,
) -> EarningsOut:
    """Credits paid to the wallet owner's nodes per bucket, oldest first, ending with
    the current bucket; empty buckets are included."""
    wanted = count or (24 if bucket == "hour" else 30)
    found = await services.wallet.earnings(who, user_id, bucket, wanted)
    return EarningsOut(
        user_id=user_id or who.id,
        bucket=bucket,
        total=sum(b.earned for b in found),
        buckets=[EarningBucketOut.of(b) for b in found],
    )


@router.post("/stripe/webhook", responses=error_responses(409, 503))
async def stripe_webhook(
    request: Request,
    services: ServicesDep,
    stripe_signature: Annotated[
        str | None, Header(alias="Stripe-Signature", max_length=2000)
    ] = None,
) -> WebhookOut:
    """Stripe's events, authenticated by their signature (no bearer token). A paid
    Checkout Session credits its deposit once, however often it is delivered."""
    result = await services.wallet.handle_webhook(await request.body(), stripe_signature)
    return WebhookOut(result=result)
