"""Unprefixed operational endpoints: liveness, readiness, metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from conveyor.api.deps import ServicesDep
from conveyor.api.errors import error_responses, retry_after_header
from conveyor.api.input import CheckedRoute
from conveyor.errors import Unavailable

router = APIRouter(route_class=CheckedRoute, tags=["ops"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (it answers); says nothing of the database."""
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(503))
async def readyz(services: ServicesDep) -> JSONResponse:
    """Ready to serve: the database answers. ``503`` otherwise, for load balancers.

    ``rate_limits`` says how requests are limited: ``shared`` (Redis, every replica),
    ``local`` (in memory, no Redis configured), ``degraded`` (in memory because Redis
    was unreachable at start-up), ``failing`` (Redis stopped answering) or ``off``.
    """
    if await services.rt.db.ping():
        limiter = services.limiter
        limits = "off" if limiter is None else limiter.mode
        return JSONResponse({"status": "ready", "database": "ok", "rate_limits": limits})
    down = Unavailable("the database is unreachable", details={"database": "down"})
    headers = {"Retry-After": retry_after_header(down.retry_after)}
    return JSONResponse(down.to_dict(), status_code=503, headers=headers)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus text format; the queue and fleet gauges are read from the database
    at most every few seconds (docs/observability.md lists every metric)."""
    await services.gauges.refresh()
    body, content_type = services.rt.metrics.render()
    return Response(body, media_type=content_type)
