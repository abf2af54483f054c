"""Seed 003 (async task orchestrator): its auth and task routes, under its prefix.

Its four API types run on the built-in handlers (``domain/task_types.py``); the
status names are the seed's (PENDING, PROCESSING, COMPLETED, FAILED). The seed
answers ``403`` for another user's task, where the native API answers ``404``
(docs/compat.md says why the profile follows the seed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request

from conveyor.api.compat.base import SeedModel, message_error, profile_route
from conveyor.api.deps import ServicesDep, UserPrincipal, enforce_limit, limit_by_ip
from conveyor.api.schemas.common import JsonObject, Text
from conveyor.domain.access import Principal
from conveyor.domain.states import Role, TaskStatus
from conveyor.domain.task_types import unsupported_reason
from conveyor.domain.tasks import Task
from conveyor.errors import ConveyorError, Forbidden, InvalidInput, NotFound, RateLimited
from conveyor.services.auth import TokenPair
from conveyor.services.tasks import TaskSpec
from conveyor.store.tasks import TaskFilter

API_TYPES = ("IMAGE_RESIZE", "VIDEO_PROCESS", "DATA_EXPORT", "REPORT_GENERATE")
SEED_TYPE = "seed_003_task_type"  # metadata key: the name the client used
STATUS = {
    TaskStatus.PENDING: "PENDING",
    TaskStatus.IN_PROGRESS: "PROCESSING",
    TaskStatus.COMPLETED: "COMPLETED",
}
LIST_LIMIT = 500
# Reads another user's task only to tell "not yours" (403, as the seed documents)
# from "missing" (404); nothing of it is shown.
_READER = Principal("compat:003", Role.ADMIN, "seed 003 profile")


def render_error(exc: ConveyorError) -> dict[str, Any]:
    if isinstance(exc, RateLimited):
        return {"error": "Rate limit exceeded"}
    return message_error(exc)


router = APIRouter(route_class=profile_route(render_error), tags=["compat: seed 003"])


class Credentials(SeedModel):
    username: Text
    password: Text


class RefreshIn(SeedModel):
    refresh_token: Text


class RegisteredOut(SeedModel):
    user_id: str
    message: str = "User registered successfully"


class TokensOut(SeedModel):
    access_token: str
    refresh_token: str | None
    expires_in: int


class CreateIn(SeedModel):
    task_type: Text
    params: JsonObject = {}


class CreatedOut(SeedModel):
    task_id: str
    status: Literal["PENDING"] = "PENDING"
    message: str = "Task created successfully"


class TaskOut(SeedModel):
    id: str
    user_id: str | None
    task_type: str
    status: str
    result_file: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        return cls(
            id=task.id,
            user_id=task.owner_id,
            task_type=str(task.metadata.get(SEED_TYPE, task.task_type)),
            status=STATUS.get(task.status, "FAILED"),
            result_file=_result_file(task.result),
            error_message=_error_message(task),
            created_at=task.created_at,
            updated_at=task.updated_at,
        )


class TaskSummary(SeedModel):
    id: str
    user_id: str | None
    task_type: str
    status: str
    created_at: datetime


class TaskListOut(SeedModel):
    tasks: list[TaskSummary]


def _result_file(result: Any) -> str | None:
    """Where the handler's output can be downloaded (it is an artifact here)."""
    if not isinstance(result, dict):
        return None
    if isinstance(result.get("result_file"), str):
        return str(result["result_file"])
    ids = result.get("artifacts") or [result.get("artifact_id")]
    first = ids[0] if isinstance(ids, list) and ids else None
    return f"/api/v1/artifacts/{first}/content" if isinstance(first, str) else None


def _error_message(task: Task) -> str | None:
    if task.status is TaskStatus.CANCELLED:
        return "cancelled"
    if task.error is None:
        return "timed out" if task.status is TaskStatus.TIMEOUT else None
    if isinstance(task.error, dict) and isinstance(task.error.get("message"), str):
        return str(task.error["message"])
    return str(task.error)


def _tokens(pair: TokenPair) -> TokensOut:
    return TokensOut(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post("/auth/register", status_code=201, dependencies=[Depends(limit_by_ip)])
async def register(body: Credentials, services: ServicesDep) -> RegisteredOut:
    user = await services.auth.register(body.username, body.password)
    return RegisteredOut(user_id=user.id)


@router.post("/auth/login", dependencies=[Depends(limit_by_ip)])
async def login(body: Credentials, request: Request, services: ServicesDep) -> TokensOut:
    await enforce_limit(request, services, f"user:{body.username.casefold()}", "login")
    return _tokens(await services.auth.login(body.username, body.password))


@router.post("/auth/refresh", dependencies=[Depends(limit_by_ip)])
async def refresh(body: RefreshIn, services: ServicesDep) -> TokensOut:
    return _tokens(await services.auth.refresh(body.refresh_token))


@router.post("/api/v1/tasks", status_code=201)
async def create_task(body: CreateIn, who: UserPrincipal, services: ServicesDep) -> CreatedOut:
    if body.task_type not in API_TYPES:
        raise InvalidInput(
            "invalid task type",
            details=[{"field": "task_type", "message": f"one of: {', '.join(API_TYPES)}"}],
        )
    reason = unsupported_reason(body.task_type)
    if reason is not None:
        raise InvalidInput(reason, details=[{"field": "task_type", "message": reason}])
    spec = TaskSpec(
        task_type=body.task_type, params=body.params, metadata={SEED_TYPE: body.task_type}
    )
    created = await services.tasks.create(who, [spec])
    assert isinstance(created, list)  # no idempotency key, so never a stored answer
    return CreatedOut(task_id=created[0].id)


@router.get("/api/v1/tasks/{task_id}")
async def get_task(task_id: str, who: UserPrincipal, services: ServicesDep) -> TaskOut:
    try:
        return TaskOut.of(await services.tasks.get(who, task_id))
    except NotFound:
        await services.tasks.get(_READER, task_id)  # missing: 404 as it was
        raise Forbidden("you can only view your own tasks") from None


@router.get("/api/v1/users/{user_id}/tasks")
async def user_tasks(user_id: str, who: UserPrincipal, services: ServicesDep) -> TaskListOut:
    if user_id != who.id and not who.is_admin:
        raise Forbidden("you can only list your own tasks")
    owner = who if user_id == who.id else Principal(user_id, Role.USER, "")
    page, _ = await services.tasks.list_tasks(owner, TaskFilter(), None, LIST_LIMIT)
    return TaskListOut(
        tasks=[
            TaskSummary(
                id=t.id,
                user_id=t.owner_id,
                task_type=str(t.metadata.get(SEED_TYPE, t.task_type)),
                status=STATUS.get(t.status, "FAILED"),
                created_at=t.created_at,
            )
            for t in page
        ]
    )
