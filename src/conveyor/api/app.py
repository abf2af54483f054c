"""``create_app(settings)``: the whole HTTP service, built from settings passed in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from conveyor import __version__
from conveyor.api import compat, docs
from conveyor.api.deps import Services
from conveyor.api.edge import Edge
from conveyor.api.errors import install_error_handlers
from conveyor.api.openapi import install_openapi
from conveyor.api.routes import (
    admin,
    artifacts,
    auth,
    events,
    jobs,
    nodes,
    ops,
    provider,
    tasks,
    users,
    wallet,
    worker,
)
from conveyor.clock import Clock, SystemClock
from conveyor.dashboard import routes as dashboard
from conveyor.duties.base import DutyRunner
from conveyor.duties.dispatch import PushDispatch
from conveyor.duties.due import DueWakeups
from conveyor.duties.health import NodeHealthDuty
from conveyor.duties.housekeeping import Housekeeping
from conveyor.duties.leases import LeaseExpiry
from conveyor.duties.unserved import UnservedTimeout
from conveyor.observability import tracing
from conveyor.observability.logging import get_logger
from conveyor.observability.metrics import Metrics
from conveyor.ratelimit.base import RateLimiter
from conveyor.ratelimit.memory import MemoryRateLimiter
from conveyor.ratelimit.redis import RedisRateLimiter
from conveyor.realtime import create_event_bus
from conveyor.realtime.wakeup import Waker
from conveyor.security.passwords import SecretHasher
from conveyor.security.tokens import TokenService
from conveyor.services.auth import AuthService
from conveyor.services.credentials import CredentialCache
from conveyor.services.dispatch import Dispatcher
from conveyor.services.health import HealthService
from conveyor.services.runtime import Runtime
from conveyor.settings import Settings
from conveyor.store.database import Database
from conveyor.store.leader import LeaderLock
from conveyor.store.migrate import upgrade

log = get_logger(__name__)
API_PREFIX = "/api/v1"


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    clock = clock or SystemClock()
    bus = create_event_bus(settings.database_url, settings.redis_url)
    server_key = settings.resolved_jwt_secret()
    credentials: CredentialCache[Any] = CredentialCache(settings.auth_cache_seconds)
    credentials.attach(bus)
    return Runtime(
        settings=settings,
        db=Database(settings.database_url, pool_size=settings.db_pool_size),
        clock=clock,
        tokens=TokenService(server_key, settings.jwt_issuer, settings.jwt_audience, clock),
        hasher=SecretHasher(
            settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism
        ),
        bus=bus,
        waker=Waker(bus),
        metrics=Metrics(),
        server_key=server_key,
        credentials=credentials,
    )


def build_limiter(settings: Settings) -> RateLimiter | None:
    if not settings.rate_limits_enabled:
        return None
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url)
    return MemoryRateLimiter()


async def _start(rt: Runtime, limiter: RateLimiter | None, auto_migrate: bool) -> None:
    if auto_migrate:
        await upgrade(rt.db)
    await rt.bus.start()
    if limiter is not None:
        await limiter.start()
    settings = rt.settings
    if settings.admin_username and settings.admin_password:
        await AuthService(rt).ensure_admin(
            settings.admin_username, settings.admin_password.get_secret_value()
        )


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    run_duties: bool = True,
    auto_migrate: bool = True,
) -> FastAPI:
    settings = settings or Settings()
    tracer = tracing.setup("conveyor-api")
    rt = build_runtime(settings, clock)
    services = Services.build(rt, build_limiter(settings))
    health = HealthService(rt)
    node_health = NodeHealthDuty(rt, health)
    dispatch = PushDispatch(rt, Dispatcher(rt, services.worker, health))
    runner = DutyRunner(
        [
            LeaseExpiry(rt),
            DueWakeups(rt),
            node_health,
            dispatch,
            Housekeeping(rt),
            UnservedTimeout(rt),
        ],
        LeaderLock(rt.db, "duties"),
        rt.clock,
        settings.sweeper_interval_seconds,
        rt.metrics,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await _start(rt, services.limiter, auto_migrate)
        if run_duties:
            runner.start()
        log.info("conveyor started", database=rt.db.dialect, version=__version__)
        try:
            yield
        finally:
            if run_duties:
                await runner.stop()
            await dispatch.close()
            await node_health.close()
            await rt.bus.close()
            if services.limiter is not None:
                await services.limiter.close()
            await rt.db.dispose()

    # Swagger UI at /docs and ReDoc at /redoc from assets in the package, not a CDN:
    # the docs must work on a machine with no way out.
    app = FastAPIOffline(
        title="Conveyor",
        version=__version__,
        description="Distributed task processing: submit, claim, watch, finish.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        static_url=docs.ASSETS_URL,
    )
    docs.add_redoc(app)
    app.state.services = services
    app.state.duties = runner
    install_error_handlers(app)
    install_openapi(app)
    compat.add_cors(app, settings)
    # Outermost (added last): refusals, CORS preflights and all are counted and logged.
    app.add_middleware(
        Edge,
        max_body_bytes=settings.max_body_bytes,
        body_read_timeout=settings.body_read_timeout_seconds,
        path_limits={API_PREFIX + artifacts.UPLOAD_PATH: artifacts.upload_body_limit(settings)},
        counter=rt.metrics.http_requests_total,
        latency=rt.metrics.http_request_seconds,
        access_log=settings.access_log,
    )
    for module in (auth, worker, tasks, nodes, admin, users, artifacts, events, wallet, provider):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(jobs.router, prefix=API_PREFIX)
    compat.include_profiles(app, settings, API_PREFIX)
    app.include_router(ops.router)
    app.include_router(dashboard.router)
    # Off unless CONVEYOR_OTEL_ENABLED (docs/observability.md): then a no-op.
    tracer.instrument_app(app, rt.db.engine.sync_engine)
    return app
