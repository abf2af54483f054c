"""``/admin``: statistics and manual runs of periodic duties."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from conveyor.api.deps import AdminPrincipal, ServicesDep
from conveyor.api.errors import error_responses
from conveyor.api.input import CheckedRoute
from conveyor.services.leases import expire_leases

router = APIRouter(
    route_class=CheckedRoute, prefix="/admin", tags=["admin"], responses=error_responses(401, 403)
)


@router.get("/stats")
async def stats(who: AdminPrincipal, services: ServicesDep) -> dict[str, Any]:
    return await services.tasks.stats(who)


@router.post("/timeouts/process")
async def process_timeouts(who: AdminPrincipal, services: ServicesDep) -> dict[str, int]:
    """Expire overdue leases now instead of at the sweeper's next tick."""
    moved = await expire_leases(services.rt, services.rt.clock.now())
    return {"expired": moved}
