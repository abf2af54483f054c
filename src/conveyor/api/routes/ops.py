"""Unprefixed operational endpoints: liveness, readiness, metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from conveyor.api.deps import ServicesDep
from conveyor.api.input import CheckedRoute

router = APIRouter(route_class=CheckedRoute, tags=["ops"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (it answers); says nothing of the database."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    """Ready to serve: the database answers. ``503`` otherwise, for load balancers."""
    if await services.rt.db.ping():
        return JSONResponse({"status": "ready", "database": "ok"})
    body = {"error": {"code": "unavailable", "message": "the database is unreachable"}}
    return JSONResponse(body, status_code=503)


@router.get("/metrics")
async def metrics(services: ServicesDep) -> Response:
    body, content_type = services.rt.metrics.render()
    return Response(body, media_type=content_type)
