"""Typed principals as dependencies: a route's signature says who may call it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from conveyor.api.edge import PRINCIPAL_KEY
from conveyor.api.ratelimits import Limits
from conveyor.domain.access import Principal
from conveyor.domain.nodes import Node
from conveyor.errors import Forbidden, Unauthorized
from conveyor.ratelimit.base import RateLimiter
from conveyor.services.auth import AuthService, Caller
from conveyor.services.gauges import GaugeRefresher
from conveyor.services.jobs import JobService
from conveyor.services.nodes import NodeService
from conveyor.services.payments import build_provider
from conveyor.services.provider import ProviderService
from conveyor.services.runtime import Runtime
from conveyor.services.tasks import TaskService
from conveyor.services.users import UserAdminService
from conveyor.services.wallet import WalletService
from conveyor.services.worker import WorkerService


@dataclass
class Services:
    rt: Runtime
    auth: AuthService
    tasks: TaskService
    worker: WorkerService
    nodes: NodeService
    users: UserAdminService
    limits: Limits
    jobs: JobService
    wallet: WalletService
    provider: ProviderService
    gauges: GaugeRefresher

    @property
    def limiter(self) -> RateLimiter | None:
        return self.limits.limiter

    @classmethod
    def build(cls, rt: Runtime, limiter: RateLimiter | None) -> Services:
        settings = rt.settings
        return cls(
            rt=rt,
            auth=AuthService(rt),
            tasks=TaskService(rt),
            worker=WorkerService(rt),
            nodes=NodeService(rt),
            users=UserAdminService(rt),
            limits=Limits(limiter, settings.rate_limit_presets(), settings.trusted_networks()),
            jobs=JobService(rt),
            wallet=WalletService(rt, build_provider(settings)),
            provider=ProviderService(rt),
            gauges=GaugeRefresher(rt),
        )


async def get_services(request: Request) -> Services:
    # async: a plain def would run in the thread pool on every request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def enforce_limit(request: Request, services: Services, key: str, budget: str) -> None:
    """Count this request against ``budget`` for ``key``; ``429`` over it."""
    await services.limits.enforce(request, key, budget)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required")
    return token.strip()


async def get_caller(request: Request, services: ServicesDep) -> Caller:
    caller = await services.auth.authenticate(bearer_token(request))
    request.scope["state"][PRINCIPAL_KEY] = caller.principal.id  # for the access log
    budget = "claim" if caller.node is not None else "api"
    await enforce_limit(request, services, caller.principal.id, budget)
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_stream_caller(request: Request, services: ServicesDep) -> Caller:
    """A bearer header, or ``?ticket=`` for browsers (EventSource cannot set headers).

    Only a stream ticket is accepted in the URL, never an access token: URLs end up
    in logs and histories, and a ticket expires within a minute and works once.
    """
    ticket = request.query_params.get("ticket")
    if ticket is None:
        return await get_caller(request, services)
    # A ticket names the one stream it opens: a task's, or a job's.
    scope = request.path_params.get("task_id") or request.path_params.get("job_id")
    caller = await services.auth.authenticate_stream(ticket, scope)
    request.scope["state"][PRINCIPAL_KEY] = caller.principal.id
    await enforce_limit(request, services, caller.principal.id, "api")
    return caller


async def stream_principal(
    caller: Annotated[Caller, Depends(get_stream_caller)],
) -> Principal:
    return caller.principal


async def any_principal(caller: CallerDep) -> Principal:
    return caller.principal


async def user_principal(caller: CallerDep) -> Principal:
    if caller.node is not None:
        raise Forbidden("this endpoint is for users and admins, not nodes")
    return caller.principal


async def admin_principal(caller: CallerDep) -> Principal:
    if not caller.principal.is_admin:
        raise Forbidden("admins only")
    return caller.principal


async def node_caller(caller: CallerDep) -> Node:
    if caller.node is None:
        raise Forbidden("this endpoint is for worker nodes")
    return caller.node


async def limit_by_ip(request: Request, services: ServicesDep) -> None:
    """Per client address (through trusted proxies only, see ratelimit/client_ip.py)."""
    await enforce_limit(request, services, services.limits.client(request), "auth")


AnyPrincipal = Annotated[Principal, Depends(any_principal)]
UserPrincipal = Annotated[Principal, Depends(user_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
NodeCaller = Annotated[Node, Depends(node_caller)]
StreamPrincipal = Annotated[Principal, Depends(stream_principal)]
