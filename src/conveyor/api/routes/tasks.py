"""``/tasks`` for users and admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from conveyor.api import cursors
from conveyor.api.deps import AdminPrincipal, AnyPrincipal, ServicesDep, UserPrincipal
from conveyor.api.errors import error_responses
from conveyor.api.input import CheckedRoute
from conveyor.api.params import Cursor, Id, IdempotencyKey, StatusList
from conveyor.api.schemas.common import ID_PATTERN
from conveyor.api.schemas.tasks import (
    ProgressList,
    ProgressOut,
    ReassignIn,
    TaskBatchCreate,
    TaskBatchOut,
    TaskCreate,
    TaskList,
    TaskOut,
    TimeoutIn,
)
from conveyor.domain.states import TaskStatus
from conveyor.domain.tasks import Task
from conveyor.domain.validation import INT64_MAX
from conveyor.services.idempotency import IdempotencyRequest, request_hash
from conveyor.services.serving import waiting_for_worker
from conveyor.store.tasks import TaskFilter

router = APIRouter(
    route_class=CheckedRoute,
    prefix="/tasks",
    tags=["tasks"],
    responses=error_responses(400, 401, 403, 404),
)


def _render_single(tasks: list[Task]) -> Any:
    return TaskOut.of(tasks[0]).model_dump(mode="json")


def _render_batch(tasks: list[Task]) -> Any:
    return TaskBatchOut(tasks=[TaskOut.of(t) for t in tasks]).model_dump(mode="json")


@router.post(
    "", status_code=201, response_model=TaskOut | TaskBatchOut, responses=error_responses(409, 413)
)
async def create_tasks(
    body: TaskBatchCreate | TaskCreate,
    who: UserPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = "",
) -> JSONResponse:
    """Create one task, or a batch with ``{"tasks": [...]}`` (all or nothing)."""
    batch = isinstance(body, TaskBatchCreate)
    items = body.tasks if isinstance(body, TaskBatchCreate) else [body]
    idem = None
    if idempotency_key:
        idem = IdempotencyRequest(
            idempotency_key,
            request_hash(body.model_dump(mode="json")),
            201,
            _render_batch if batch else _render_single,
        )
    outcome = await services.tasks.create(who, [item.to_spec() for item in items], idem)
    if isinstance(outcome, list):
        content = (_render_batch if batch else _render_single)(outcome)
        return JSONResponse(content, status_code=201)
    return JSONResponse(outcome.response, status_code=outcome.status_code)


def _statuses(values: list[str]) -> list[TaskStatus]:
    # ``StatusList``'s pattern has let through known statuses only.
    return [TaskStatus(v) for part in values for v in part.split(",")]


@router.get("")
async def list_tasks(
    who: AnyPrincipal,
    services: ServicesDep,
    status: StatusList = [],  # noqa: B006 - FastAPI copies defaults
    task_type: Annotated[str | None, Query(max_length=100)] = None,
    original_task_id: Annotated[str | None, Query(max_length=64)] = None,
    owner_id: Annotated[str | None, Query(max_length=64)] = None,
    node_id: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, description="admins: tasks this node holds or is pinned to"),
    ] = None,
    q: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="a task id or the start of one")
    ] = None,
    type_contains: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="part of the task type, any case"),
    ] = None,
    cursor: Cursor = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> TaskList:
    """Newest first. Users see their own tasks, nodes theirs; admins may filter by owner
    and by node."""
    flt = TaskFilter(
        owner_id=owner_id if who.is_admin else None,
        node_id=node_id if who.is_admin else None,
        status=_statuses(status),
        task_type=task_type,
        original_task_id=original_task_id,
        id_prefix=q,
        type_contains=type_contains,
    )
    page, next_cursor = await services.tasks.list_tasks(who, flt, cursors.from_http(cursor), limit)
    last = await services.tasks.last_nodes(page)
    return TaskList(
        tasks=[TaskOut.of(t, last_node_id=last.get(t.id)) for t in page],
        next_cursor=cursors.to_http(next_cursor),
    )


@router.get("/{task_id}")
async def get_task(task_id: Id, who: AnyPrincipal, services: ServicesDep) -> TaskOut:
    """The task with its attempt history (every ended run: node, times, outcome, error)."""
    task, attempts = await services.tasks.get_with_attempts(who, task_id)
    out = TaskOut.of(task, attempts)
    out.waiting_for_worker = await waiting_for_worker(services.rt, task)
    return out


@router.get("/{task_id}/progress")
async def progress_history(
    task_id: Id,
    who: AnyPrincipal,
    services: ServicesDep,
    after_seq: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> ProgressList:
    items = await services.tasks.progress_history(who, task_id, after_seq, limit)
    return ProgressList(progress=[ProgressOut.of(p) for p in items])


@router.post("/{task_id}/cancel", responses=error_responses(409))
async def cancel(task_id: Id, who: UserPrincipal, services: ServicesDep) -> TaskOut:
    return TaskOut.of(await services.tasks.cancel(who, task_id))


@router.post("/{task_id}/retry", status_code=201, responses=error_responses(409))
async def retry(task_id: Id, who: UserPrincipal, services: ServicesDep) -> TaskOut:
    return TaskOut.of(await services.tasks.retry(who, task_id))


@router.post("/{task_id}/reassign", responses=error_responses(409))
async def reassign(
    task_id: Id, body: ReassignIn, who: AdminPrincipal, services: ServicesDep
) -> TaskOut:
    return TaskOut.of(await services.tasks.reassign(who, task_id, body.node_id))


@router.post("/{task_id}/timeout", responses=error_responses(409))
async def timeout(
    task_id: Id, who: AdminPrincipal, services: ServicesDep, body: TimeoutIn | None = None
) -> TaskOut:
    reason = body.reason if body else None
    return TaskOut.of(await services.tasks.timeout(who, task_id, reason))
