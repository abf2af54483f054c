"""Seed 002 (task manager with a server registry): ``/api/task`` and ``/api/servers``.

The seed's servers are backends the service calls: here, push nodes (DESIGN §3),
health-checked and dispatched to by the native duties. Its ``PUT /api/task/:id``
carries no version, so the profile finishes at the task's current version: the
node must still hold the task, and the state machine still refuses a second finish.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import AliasChoices, Field, StrictInt

from conveyor.api.compat.base import SeedModel, message_error, profile_route
from conveyor.api.deps import AdminPrincipal, CallerDep, ServicesDep, UserPrincipal
from conveyor.api.schemas.common import Identifier, JsonObject, JsonValue, TaskType, Text
from conveyor.domain.nodes import Node
from conveyor.domain.states import NodeKind
from conveyor.domain.tasks import Task
from conveyor.errors import Conflict, InvalidInput
from conveyor.services.auth import Caller
from conveyor.services.nodes import NodeFilter, NodeSpec, NodeView
from conveyor.services.tasks import TaskSpec
from conveyor.services.worker import Finish

# POST /api/servers/cleanup without a body: servers dead for five minutes go.
DEFAULT_CLEANUP_AGE_SECONDS = 300.0

router = APIRouter(route_class=profile_route(message_error), tags=["compat: seed 002"])


class TaskIn(SeedModel):
    task_type: TaskType = Field(validation_alias=AliasChoices("task_type", "type", "taskType"))
    params: JsonObject = Field(
        default_factory=dict, validation_alias=AliasChoices("params", "payload", "data")
    )
    metadata: JsonObject = Field(default_factory=dict)
    priority: Annotated[StrictInt, Field(ge=-1000, le=1000)] = 0


class StatusIn(SeedModel):
    status: Text
    result: JsonValue = None
    error: JsonValue = None


class TaskOut(SeedModel):
    id: str
    task_id: str
    type: str
    status: str
    payload: dict[str, Any]
    result: Any
    error: Any
    server_id: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        return cls(
            id=task.id,
            task_id=task.id,
            type=task.task_type,
            status=task.status.value,
            payload=task.params,
            result=task.result,
            error=task.error,
            server_id=task.lease_owner,
            version=task.version,
            created_at=task.created_at,
            updated_at=task.updated_at,
        )


class ServerIn(SeedModel):
    id: Identifier | None = Field(default=None, validation_alias=AliasChoices("id", "server_id"))
    name: Annotated[Text, Field(max_length=200)] | None = None
    url: Annotated[Text, Field(max_length=2000)] = Field(
        validation_alias=AliasChoices("url", "endpoint")
    )
    task_types: list[TaskType] = Field(
        default_factory=list, validation_alias=AliasChoices("task_types", "capabilities")
    )
    max_concurrency: Annotated[StrictInt, Field(ge=1, le=10_000)] = 10


class HeartbeatIn(SeedModel):
    load: JsonObject | None = None


class CleanupIn(SeedModel):
    max_age_seconds: Annotated[float, Field(ge=0)] = Field(
        default=DEFAULT_CLEANUP_AGE_SECONDS,
        validation_alias=AliasChoices("max_age_seconds", "maxAge", "max_age"),
    )


class ServerOut(SeedModel):
    id: str
    name: str
    url: str | None
    status: str
    health: str
    task_types: list[str]
    max_concurrency: int
    last_heartbeat: datetime | None
    in_flight: int | None = None
    created_at: datetime

    @classmethod
    def of(cls, node: Node, in_flight: int | None = None) -> ServerOut:
        return cls(
            id=node.id,
            name=node.name,
            url=node.url,
            status=node.status.value,
            health=node.health.value,
            task_types=node.task_types,
            max_concurrency=node.max_concurrency,
            last_heartbeat=node.last_seen,
            in_flight=in_flight,
            created_at=node.created_at,
        )

    @classmethod
    def view(cls, view: NodeView) -> ServerOut:
        return cls.of(view.node, view.in_flight)


class ServerCreated(ServerOut):
    secret: str = Field(description="signs the requests sent to this server; shown once")


class ServerList(SeedModel):
    servers: list[ServerOut]


class Removed(SeedModel):
    success: bool = True
    released: list[str] = []


class CleanedUp(SeedModel):
    removed: list[str]
    count: int


@router.post("/api/task", status_code=201)
async def create_task(body: TaskIn, who: UserPrincipal, services: ServicesDep) -> TaskOut:
    spec = TaskSpec(
        task_type=body.task_type, params=body.params, metadata=body.metadata, priority=body.priority
    )
    created = await services.tasks.create(who, [spec])
    assert isinstance(created, list)  # no idempotency key, so never a stored answer
    return TaskOut.of(created[0])


@router.get("/api/task/{task_id}")
async def get_task(task_id: str, caller: CallerDep, services: ServicesDep) -> TaskOut:
    return TaskOut.of(await services.tasks.get(caller.principal, task_id))


@router.put("/api/task/{task_id}")
async def update_task(
    task_id: str, body: StatusIn, caller: CallerDep, services: ServicesDep
) -> TaskOut:
    """Nodes move their tasks (in_progress, completed, failed); owners cancel."""
    status = body.status.lower()
    if caller.node is None:
        if status != "cancelled":
            raise Conflict("only the node running a task reports its progress or outcome")
        return TaskOut.of(await services.tasks.cancel(caller.principal, task_id))
    return TaskOut.of(await _node_update(caller, task_id, status, body, services))


async def _node_update(
    caller: Caller, task_id: str, status: str, body: StatusIn, services: ServicesDep
) -> Task:
    node = caller.node
    assert node is not None
    if status in ("in_progress", "processing", "running"):
        return await services.worker.start(node, task_id, None)
    if status not in ("completed", "failed"):
        raise InvalidInput(
            "unknown status",
            details=[{"field": "status", "message": "in_progress, completed, failed, cancelled"}],
        )
    task = await services.tasks.get(caller.principal, task_id)
    outcome: Literal["completed", "failed"] = "completed" if status == "completed" else "failed"
    item = Finish(
        task_id, task.version, outcome, result=body.result, error=body.error, retryable=False
    )
    return await services.worker.finish(node, item)


@router.post("/api/servers", status_code=201)
async def register_server(
    body: ServerIn, who: AdminPrincipal, services: ServicesDep
) -> ServerCreated:
    spec = NodeSpec(
        name=body.name or body.id or body.url,
        kind=NodeKind.PUSH,
        node_id=body.id,
        url=body.url,
        task_types=list(body.task_types),
        max_concurrency=body.max_concurrency,
    )
    node, secret = await services.nodes.register(who, spec)
    return ServerCreated(**ServerOut.of(node, 0).model_dump(), secret=secret)


@router.get("/api/servers")
async def list_servers(who: AdminPrincipal, services: ServicesDep) -> ServerList:
    views = await services.nodes.list(who, NodeFilter(kind=NodeKind.PUSH))
    return ServerList(servers=[ServerOut.view(v) for v in views])


@router.post("/api/servers/cleanup")
async def cleanup(
    who: AdminPrincipal, services: ServicesDep, body: CleanupIn | None = None
) -> CleanedUp:
    age = body.max_age_seconds if body else DEFAULT_CLEANUP_AGE_SECONDS
    removed = await services.nodes.cleanup(who, age)
    return CleanedUp(removed=removed, count=len(removed))


@router.get("/api/servers/{server_id}")
async def get_server(server_id: str, who: AdminPrincipal, services: ServicesDep) -> ServerOut:
    return ServerOut.view(await services.nodes.view(who, server_id))


@router.post("/api/servers/{server_id}/heartbeat")
async def heartbeat(
    server_id: str, who: AdminPrincipal, services: ServicesDep, body: HeartbeatIn | None = None
) -> ServerOut:
    node = await services.nodes.get(who, server_id)
    await services.worker.heartbeat(node, None, body.load if body else None)
    return ServerOut.view(await services.nodes.view(who, server_id))


@router.delete("/api/servers/{server_id}")
async def remove_server(server_id: str, who: AdminPrincipal, services: ServicesDep) -> Removed:
    return Removed(released=await services.nodes.delete(who, server_id))
