"""Seed 000 (node-assigned tasks): its routes at its own paths, over the native services.

``GET /tasks/assigned`` is the native start (the claim narrowed to one task) applied
to each pending task pinned to the node, with the seed's 5-minute lease; the
version it answers is the one ``PATCH /tasks/:id/status`` must send.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import StrictInt

from conveyor.api.compat.base import SeedModel, message_error, profile_route
from conveyor.api.deps import AdminPrincipal, NodeCaller, ServicesDep, enforce_limit, limit_by_ip
from conveyor.api.schemas.common import Identifier, JsonObject, TaskType, Text
from conveyor.domain.states import TaskStatus
from conveyor.domain.tasks import Task
from conveyor.errors import ConveyorError, Unauthorized
from conveyor.services.tasks import TaskSpec
from conveyor.services.worker import Finish

LEASE_SECONDS = 5 * 60
# The most pinned tasks one poll locks; the rest wait for the next poll.
POLL_LIMIT = 100

router = APIRouter(route_class=profile_route(message_error), tags=["compat: seed 000"])


class NodeLoginIn(SeedModel):
    node_id: Identifier
    node_secret: Text


class AdminLoginIn(SeedModel):
    username: Text
    password: Text


class TokenOut(SeedModel):
    token: str


class CreateIn(SeedModel):
    task_type: TaskType
    task_details: JsonObject = {}
    assigned_node_id: Identifier


class CreatedOut(SeedModel):
    task_id: str


class StatusIn(SeedModel):
    status: Literal["completed", "failed"]
    version: StrictInt


class ReassignIn(SeedModel):
    new_node_id: Identifier


class SuccessOut(SeedModel):
    success: bool = True


class AssignedTask(SeedModel):
    task_id: str
    task_type: str
    task_details: dict[str, Any]
    assigned_node_id: str | None
    status: str
    version: int
    locked_at: datetime | None
    timeout_at: datetime | None
    retry_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, task: Task) -> AssignedTask:
        return cls(
            task_id=task.id,
            task_type=task.task_type,
            task_details=task.params,
            assigned_node_id=task.assigned_node_id,
            status=task.status.value,
            version=task.version,
            locked_at=task.leased_at,
            timeout_at=task.lease_expires_at,
            retry_count=task.attempts,
            created_at=task.created_at,
            updated_at=task.updated_at,
        )


@router.post("/auth/node/login", dependencies=[Depends(limit_by_ip)])
async def node_login(body: NodeLoginIn, request: Request, services: ServicesDep) -> TokenOut:
    await enforce_limit(request, services, f"node:{body.node_id}", "login")
    pair = await services.auth.node_login(body.node_id, body.node_secret)
    return TokenOut(token=pair.access_token)


@router.post("/auth/admin/login", dependencies=[Depends(limit_by_ip)])
async def admin_login(body: AdminLoginIn, request: Request, services: ServicesDep) -> TokenOut:
    await enforce_limit(request, services, f"user:{body.username.casefold()}", "login")
    pair = await services.auth.login(body.username, body.password)
    if pair.role != "admin":
        # The same answer as a wrong password: this login is for admins only.
        raise Unauthorized("wrong username or password")
    return TokenOut(token=pair.access_token)


@router.post("/tasks", status_code=201)
async def create_task(body: CreateIn, who: AdminPrincipal, services: ServicesDep) -> CreatedOut:
    spec = TaskSpec(
        task_type=body.task_type, params=body.task_details, assigned_node_id=body.assigned_node_id
    )
    created = await services.tasks.create(who, [spec])
    assert isinstance(created, list)  # no idempotency key, so never a stored answer
    return CreatedOut(task_id=created[0].id)


@router.get("/tasks/assigned")
async def assigned(node: NodeCaller, services: ServicesDep) -> list[AssignedTask]:
    """Lock the node's pending pinned tasks ``in_progress`` for five minutes."""
    pinned = [
        t
        for t in await services.worker.assigned(node, POLL_LIMIT)
        if t.status is TaskStatus.PENDING and t.assigned_node_id == node.id
    ]
    locked = []
    for task in pinned:
        try:
            locked.append(await services.worker.start(node, task.id, LEASE_SECONDS))
        except ConveyorError:
            # Not due yet (backoff), taken meanwhile, or the node is full: next poll.
            continue
    return [AssignedTask.of(t) for t in locked]


@router.patch("/tasks/{task_id}/status")
async def update_status(
    task_id: str, body: StatusIn, node: NodeCaller, services: ServicesDep
) -> SuccessOut:
    # The seed's worker reports a failure once and for all; no retry behind its back.
    item = Finish(task_id, body.version, body.status, retryable=False)
    await services.worker.finish(node, item)
    return SuccessOut()


@router.patch("/tasks/{task_id}/reassign")
async def reassign(
    task_id: str, body: ReassignIn, who: AdminPrincipal, services: ServicesDep
) -> SuccessOut:
    await services.tasks.reassign(who, task_id, body.new_node_id)
    return SuccessOut()
