"""Seed 004 (task tracker): camelCase, worker claims, progress over SSE, fixed timeouts.

Mounted at ``{CONVEYOR_COMPAT_004_PREFIX}/api/v1/tasks``. The seed has no
authentication; this profile requires ``CONVEYOR_COMPAT_004_API_KEY`` as
``X-API-Key`` or a bearer token (compared in constant time). What the profile
maps onto which service is in ``services/tracker.py``.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncGenerator
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field, StrictInt
from sse_starlette import EventSourceResponse

from conveyor.api.compat.base import SeedModel, profile_route
from conveyor.api.deps import ServicesDep, enforce_limit
from conveyor.api.routes.events import SSE_RESPONSE, respond_stream
from conveyor.api.schemas.common import Identifier, JsonObject, JsonValue, TaskType
from conveyor.api.schemas.tasks import MAX_TIMEOUT
from conveyor.domain.tasks import Task
from conveyor.domain.validation import INT64_MAX
from conveyor.errors import ConveyorError, Unauthorized
from conveyor.services.streams import PROGRESS, StreamEvent, StreamService
from conveyor.services.tasks import TaskSpec
from conveyor.services.tracker import OWNER, TrackerService, timeout_at, worker_of
from conveyor.services.worker import ClaimInput, Finish

# A claim that finds only tasks already past their timeoutAt tries again this often.
CLAIM_TRIES = 5


def render_error(exc: ConveyorError) -> dict[str, Any]:
    """NestJS's error body, which the seed's server answers with."""
    body: dict[str, Any] = {
        "statusCode": exc.status_code,
        "message": exc.message,
        "error": HTTPStatus(exc.status_code).phrase,
    }
    if exc.details is not None:
        body["details"] = exc.details
    return body


async def api_key(request: Request, services: ServicesDep) -> None:
    """``X-API-Key`` or ``Authorization: Bearer``, equal to the configured key."""
    configured = services.rt.settings.compat_004_api_key
    given = request.headers.get("x-api-key")
    if given is None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else None
    if (
        configured is None
        or given is None
        or not hmac.compare_digest(given.encode(), configured.get_secret_value().encode())
    ):
        raise Unauthorized("a valid API key is required (X-API-Key or Authorization: Bearer)")
    # Per client address: the one key stands for every worker of a fleet.
    await enforce_limit(request, services, f"{OWNER.id}:{services.limits.client(request)}", "api")


router = APIRouter(
    route_class=profile_route(render_error),
    tags=["compat: seed 004"],
    dependencies=[Depends(api_key)],
)


def _tracker(services: ServicesDep) -> TrackerService:
    return TrackerService(services.rt, services.tasks, services.nodes)


Tracker = Annotated[TrackerService, Depends(_tracker)]
WorkerId = Annotated[str, Field(min_length=1, max_length=59)]


class RegisterIn(SeedModel):
    taskId: Identifier | None = None
    taskType: TaskType
    metadata: JsonObject = {}
    params: JsonObject = {}
    timeoutSeconds: Annotated[StrictInt, Field(ge=1, le=MAX_TIMEOUT)] | None = None


class RegisteredOut(SeedModel):
    taskId: str
    status: str
    createdAt: datetime
    timeoutAt: datetime | None


class ProgressIn(SeedModel):
    progress: JsonObject


class ProgressOut(SeedModel):
    taskId: str
    seqId: int
    timestamp: datetime


class WorkerIn(SeedModel):
    workerId: WorkerId


class StartIn(SeedModel):
    workerId: WorkerId = "default"


class ClaimIn(SeedModel):
    taskTypes: Annotated[list[TaskType], Field(max_length=100)] = []
    workerId: WorkerId


class CompleteIn(SeedModel):
    result: JsonValue = None


class FailIn(SeedModel):
    error: JsonValue = None


class ReleasedOut(SeedModel):
    taskId: str
    status: str
    message: str = "Task released"


class ProcessedOut(SeedModel):
    processedCount: int


class RetriedOut(SeedModel):
    newTaskId: str
    originalTaskId: str
    status: str
    retryCount: int


class TaskOut(SeedModel):
    id: str
    taskId: str
    taskType: str
    status: str
    metadata: dict[str, Any]
    params: dict[str, Any]
    result: Any
    error: Any
    workerId: str | None
    timeoutAt: datetime | None
    originalTaskId: str | None
    retryCount: int
    version: int
    createdAt: datetime
    updatedAt: datetime
    startedAt: datetime | None
    completedAt: datetime | None
    progressHistory: list[dict[str, Any]] | None = None


async def _out(tracker: TrackerService, task: Task, history: bool = False) -> TaskOut:
    worker = task.lease_owner
    progress = None
    if history:
        _, attempts = await tracker.tasks.get_with_attempts(OWNER, task.id)
        worker = worker or (attempts[-1].node_id if attempts else None)
        rows = await tracker.tasks.progress_history(OWNER, task.id, 0, 1000)
        progress = [{"seqId": p.seq, **p.data, "timestamp": p.created_at.isoformat()} for p in rows]
    return TaskOut(
        id=task.id,
        taskId=task.id,
        taskType=task.task_type,
        status=task.status.value,
        metadata=task.metadata,
        params=task.params,
        result=task.result,
        error=task.error,
        workerId=worker_of(worker),
        timeoutAt=timeout_at(task),
        originalTaskId=task.original_task_id,
        retryCount=await tracker.retry_count(task),
        version=task.version,
        createdAt=task.created_at,
        updatedAt=task.updated_at,
        startedAt=task.started_at,
        completedAt=task.finished_at,
        progressHistory=progress,
    )


@router.post("", status_code=201)
async def register(body: RegisterIn, services: ServicesDep) -> RegisteredOut:
    spec = TaskSpec(
        task_type=body.taskType,
        params=body.params,
        metadata=body.metadata,
        task_id=body.taskId,
        timeout_seconds=body.timeoutSeconds,
        # A timed task times out, it is not run again: the seed's retry is explicit.
        max_attempts=1 if body.timeoutSeconds else None,
    )
    created = await services.tasks.create(OWNER, [spec])
    assert isinstance(created, list)  # no idempotency key, so never a stored answer
    task = created[0]
    return RegisteredOut(
        taskId=task.id,
        status=task.status.value,
        createdAt=task.created_at,
        timeoutAt=timeout_at(task),
    )


@router.post("/timeouts/process")
async def process_timeouts(tracker: Tracker) -> ProcessedOut:
    return ProcessedOut(processedCount=await tracker.process_timeouts())


@router.post("/claim", response_model=TaskOut | None)
async def claim(body: ClaimIn, services: ServicesDep, tracker: Tracker) -> JSONResponse:
    """The next pending task of these types for this worker, or ``null``."""
    node = await tracker.worker_node(body.workerId)
    for _ in range(CLAIM_TRIES):
        claimed, _ = await services.worker.claim(node, ClaimInput(body.taskTypes, 1))
        if not claimed:
            break
        if not await tracker.timed_out(claimed[0]):
            out = await _out(tracker, claimed[0])
            return JSONResponse(out.model_dump(mode="json"))
    return JSONResponse(None)


@router.get("/{task_id}")
async def get_task(task_id: str, tracker: Tracker) -> TaskOut:
    return await _out(tracker, await tracker.get(task_id), history=True)


@router.post("/{task_id}/start")
async def start(
    task_id: str, services: ServicesDep, tracker: Tracker, body: StartIn | None = None
) -> TaskOut:
    await tracker.get(task_id)  # the profile's own tasks only, timed out if overdue
    node = await tracker.worker_node(body.workerId if body else "default")
    return await _out(tracker, await services.worker.start(node, task_id, None))


@router.post("/{task_id}/progress", status_code=201)
async def progress(
    task_id: str, body: ProgressIn, services: ServicesDep, tracker: Tracker
) -> ProgressOut:
    node = await tracker.holder(await tracker.get(task_id))
    row = await services.worker.progress(node, task_id, body.progress)
    return ProgressOut(taskId=task_id, seqId=row.seq, timestamp=row.created_at)


async def _finish(
    services: ServicesDep, tracker: TrackerService, task_id: str, outcome: Any, **kw: Any
) -> Task:
    task = await tracker.get(task_id)
    node = await tracker.holder(task)
    return await services.worker.finish(node, Finish(task_id, task.version, outcome, **kw))


@router.post("/{task_id}/complete")
async def complete(
    task_id: str, services: ServicesDep, tracker: Tracker, body: CompleteIn | None = None
) -> TaskOut:
    result = body.result if body else None
    return await _out(
        tracker, await _finish(services, tracker, task_id, "completed", result=result)
    )


@router.post("/{task_id}/fail")
async def fail(
    task_id: str, services: ServicesDep, tracker: Tracker, body: FailIn | None = None
) -> TaskOut:
    error = body.error if body else None
    task = await _finish(services, tracker, task_id, "failed", error=error, retryable=False)
    return await _out(tracker, task)


@router.post("/{task_id}/timeout")
async def timeout(task_id: str, tracker: Tracker) -> TaskOut:
    return await _out(tracker, await tracker.timeout(task_id))


@router.post("/{task_id}/release")
async def release(
    task_id: str, body: WorkerIn, services: ServicesDep, tracker: Tracker
) -> ReleasedOut:
    """Only the worker holding the task may give it back."""
    task = await tracker.get(task_id)
    node = await tracker.worker_node(body.workerId)
    done = await services.worker.finish(node, Finish(task_id, task.version, "released"))
    return ReleasedOut(taskId=task_id, status=done.status.value)


@router.post("/{task_id}/retry", status_code=201)
async def retry(task_id: str, services: ServicesDep, tracker: Tracker) -> RetriedOut:
    new = await services.tasks.retry(OWNER, task_id)
    return RetriedOut(
        newTaskId=new.id,
        originalTaskId=task_id,
        status=new.status.value,
        retryCount=await tracker.retry_count(new),
    )


async def _seed_events(
    task_id: str, events: AsyncGenerator[StreamEvent, None]
) -> AsyncGenerator[StreamEvent, None]:
    """The native stream's events in the seed's payloads."""
    try:
        async for item in events:
            if item.event == PROGRESS:
                data = item.data.get("data")
                fields = data if isinstance(data, dict) else {"value": data}
                payload = {"seqId": item.data["seq"], **fields}
                stamp = item.data.get("timestamp")
            else:
                payload = {k: item.data[k] for k in ("status", "result", "error") if k in item.data}
                stamp = item.data.get("timestamp")
            body = {"event": item.event, "data": payload, "taskId": task_id, "timestamp": stamp}
            yield StreamEvent(item.event, body, item.id)
    finally:
        await events.aclose()


@router.get("/{task_id}/track", response_class=EventSourceResponse, responses=SSE_RESPONSE)
async def track(
    task_id: str,
    services: ServicesDep,
    tracker: Tracker,
    after_seq: Annotated[int, Query(alias="afterSeqId", ge=0, le=INT64_MAX)] = 0,
    ignore_history: Annotated[bool, Query(alias="ignoreHistory")] = False,
) -> EventSourceResponse:
    """Progress entries one by one (after ``afterSeqId``), then live; a finished task
    streams its progress and its final status, then the stream closes."""
    await tracker.get(task_id)
    stream = await StreamService(services.rt).task_stream(OWNER, task_id, after_seq, ignore_history)
    return respond_stream(services, _seed_events(task_id, stream))
