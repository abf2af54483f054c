"""``/provider``: what the caller's nodes are running and the chunks they were paid for."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from conveyor.api.deps import ServicesDep, UserPrincipal
from conveyor.api.errors import error_responses
from conveyor.api.input import CheckedRoute
from conveyor.api.schemas.provider import ProviderWorkOut

router = APIRouter(
    route_class=CheckedRoute,
    prefix="/provider",
    tags=["provider"],
    responses=error_responses(400, 401, 403),
)


@router.get("/work")
async def provider_work(
    who: UserPrincipal,
    services: ServicesDep,
    running_limit: Annotated[int, Query(ge=1, le=500)] = 100,
    paid_limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> ProviderWorkOut:
    """Tasks the caller's nodes hold now, with their latest progress, and the latest
    chunks the caller was paid for. Admins see every node's running work. Params and
    results are the customers' and are never included."""
    work = await services.provider.work(who, running_limit, paid_limit)
    return ProviderWorkOut.of(work)
