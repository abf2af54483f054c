"""``/auth``: register, login, refresh, logout, node login."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from conveyor.api.deps import ServicesDep, UserPrincipal, enforce_limit, limit_by_ip
from conveyor.api.errors import error_responses
from conveyor.api.input import CheckedRoute
from conveyor.api.schemas.auth import (
    LoginIn,
    NodeLoginIn,
    RefreshIn,
    RegisterIn,
    StreamTicketOut,
    TokenOut,
    UserOut,
)
from conveyor.services.auth import TokenPair

router = APIRouter(
    route_class=CheckedRoute,
    prefix="/auth",
    tags=["auth"],
    dependencies=[Depends(limit_by_ip)],
    responses=error_responses(400, 401, 429),
)


def _tokens(pair: TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        role=pair.role,
        token=pair.access_token,
    )


@router.post("/register", status_code=201, responses=error_responses(403, 409))
async def register(body: RegisterIn, services: ServicesDep) -> UserOut:
    """Open to all, closed, or by invite code (``CONVEYOR_REGISTRATION``)."""
    user = await services.auth.register(body.username, body.password, invite_code=body.invite_code)
    return UserOut.of(user)


@router.post("/login")
async def login(body: LoginIn, request: Request, services: ServicesDep) -> TokenOut:
    # Per account too, so guesses spread over many addresses are still limited.
    await enforce_limit(request, services, f"user:{body.username.casefold()}", "login")
    return _tokens(await services.auth.login(body.username, body.password))


@router.post("/refresh")
async def refresh(body: RefreshIn, services: ServicesDep) -> TokenOut:
    return _tokens(await services.auth.refresh(body.refresh_token))


@router.post("/logout", status_code=204)
async def logout(body: RefreshIn, services: ServicesDep) -> Response:
    await services.auth.logout(body.refresh_token)
    return Response(status_code=204)


@router.post("/node/login")
async def node_login(body: NodeLoginIn, request: Request, services: ServicesDep) -> TokenOut:
    await enforce_limit(request, services, f"node:{body.node_id}", "login")
    return _tokens(await services.auth.node_login(body.node_id, body.node_secret))


class StreamTicketIn(BaseModel):
    task_id: str | None = Field(default=None, max_length=64)


@router.post("/stream-ticket", responses=error_responses(403))
async def stream_ticket(
    who: UserPrincipal, services: ServicesDep, body: StreamTicketIn | None = None
) -> StreamTicketOut:
    """A short-lived, single-use ticket a browser puts in an SSE URL instead of its
    access token; with ``task_id`` it opens only that task's stream."""
    ticket = await services.auth.stream_ticket(who, body.task_id if body else None)
    return StreamTicketOut(ticket=ticket, expires_in=services.rt.settings.stream_ticket_ttl_seconds)
