"""``/admin/users`` and ``/admin/invites``: account administration, admins only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from conveyor.api.deps import AdminPrincipal, ServicesDep
from conveyor.api.errors import error_responses
from conveyor.api.input import CheckedRoute
from conveyor.api.schemas.auth import UserOut
from conveyor.api.schemas.users import (
    InviteIn,
    InviteInfo,
    InviteList,
    InviteOut,
    PasswordReset,
    PasswordResetOut,
    UserList,
    UserPatch,
)
from conveyor.domain.states import Role

router = APIRouter(
    route_class=CheckedRoute,
    prefix="/admin",
    tags=["admin"],
    responses=error_responses(400, 401, 403),
)


@router.get("/users")
async def list_users(
    who: AdminPrincipal,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> UserList:
    users = await services.users.list_users(who, limit + 1, offset)
    more = len(users) > limit
    return UserList(
        users=[UserOut.of(u) for u in users[:limit]], next_offset=offset + limit if more else None
    )


@router.get("/users/{user_id}", responses=error_responses(404))
async def get_user(user_id: str, who: AdminPrincipal, services: ServicesDep) -> UserOut:
    return UserOut.of(await services.users.get(who, user_id))


@router.patch("/users/{user_id}", responses=error_responses(404, 409))
async def update_user(
    user_id: str, body: UserPatch, who: AdminPrincipal, services: ServicesDep
) -> UserOut:
    """Disable or enable, or change the role; the account's tokens die at once.
    The last enabled admin cannot be disabled or demoted (``409 last_admin``)."""
    role = Role(body.role) if body.role is not None else None
    return UserOut.of(await services.users.update(who, user_id, disabled=body.disabled, role=role))


@router.post("/users/{user_id}/reset-password", responses=error_responses(404))
async def reset_password(
    user_id: str, body: PasswordReset, who: AdminPrincipal, services: ServicesDep
) -> PasswordResetOut:
    user, generated = await services.users.reset_password(who, user_id, body.password)
    return PasswordResetOut(user=UserOut.of(user), password=generated)


@router.post("/invites", status_code=201)
async def create_invite(body: InviteIn, who: AdminPrincipal, services: ServicesDep) -> InviteOut:
    invite = await services.users.create_invite(who, body.expires_in_seconds)
    return InviteOut(code=invite.code, expires_at=invite.expires_at)


@router.get("/invites")
async def list_invites(
    who: AdminPrincipal,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> InviteList:
    invites = await services.users.list_invites(who, limit)
    return InviteList(invites=[InviteInfo.of(i) for i in invites])
