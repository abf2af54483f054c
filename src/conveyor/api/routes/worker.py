"""Worker endpoints: claim, assigned, start, progress, complete, fail, release, heartbeat."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from conveyor.api.deps import NodeCaller, ServicesDep
from conveyor.api.errors import error_responses
from conveyor.api.input import CheckedRoute
from conveyor.api.params import Id
from conveyor.api.schemas.nodes import RuntimesIn, RuntimesOut
from conveyor.api.schemas.tasks import (
    ClaimIn,
    ClaimOut,
    CompleteIn,
    FailIn,
    FinishResult,
    HeartbeatIn,
    HeartbeatOut,
    ProgressIn,
    ProgressOut,
    ReleaseIn,
    StartIn,
    TaskList,
    TaskOut,
)
from conveyor.services.worker import ClaimInput, Finish, FinishOutcome

router = APIRouter(
    route_class=CheckedRoute, tags=["worker"], responses=error_responses(400, 401, 403, 404, 409)
)


def _finish_result(outcome: FinishOutcome) -> FinishResult:
    if outcome.task is not None:
        task = outcome.task
        return FinishResult(
            task_id=outcome.task_id, ok=True, status=task.status.value, version=task.version
        )
    error = outcome.error.to_dict()["error"] if outcome.error else None
    return FinishResult(task_id=outcome.task_id, ok=False, error=error)


@router.post("/worker/claim")
async def claim(body: ClaimIn, node: NodeCaller, services: ServicesDep) -> ClaimOut:
    """Finish the previous batch and claim the next one in one round trip.

    With ``wait_seconds`` the call long-polls: it returns as soon as a matching
    task becomes claimable, or empty-handed when the wait is over.
    """
    finishes = [
        Finish(f.task_id, f.version, f.status, f.result, f.error, f.retryable)
        for f in body.finishes
    ]
    req = ClaimInput(
        body.task_types, body.max_tasks, float(body.wait_seconds), body.lease_seconds, finishes
    )
    claimed, finished = await services.worker.claim(node, req)
    return ClaimOut(
        tasks=[TaskOut.of(t) for t in claimed], finished=[_finish_result(f) for f in finished]
    )


@router.get("/tasks/assigned")
async def assigned(
    node: NodeCaller, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> TaskList:
    """Open tasks pinned to or held by the calling node."""
    tasks = await services.worker.assigned(node, limit)
    return TaskList(tasks=[TaskOut.of(t) for t in tasks], next_cursor=None)


@router.post("/tasks/{task_id}/start")
async def start(
    task_id: Id, node: NodeCaller, services: ServicesDep, body: StartIn | None = None
) -> TaskOut:
    lease = body.lease_seconds if body else None
    return TaskOut.of(await services.worker.start(node, task_id, lease))


@router.post("/tasks/{task_id}/progress", status_code=201)
async def progress(
    task_id: Id, body: ProgressIn, node: NodeCaller, services: ServicesDep
) -> ProgressOut:
    """Append progress (numbered 1, 2, 3, …); it also extends the lease."""
    return ProgressOut.of(await services.worker.progress(node, task_id, body.data))


@router.post("/tasks/{task_id}/complete")
async def complete(
    task_id: Id, body: CompleteIn, node: NodeCaller, services: ServicesDep
) -> TaskOut:
    item = Finish(task_id, body.version, "completed", result=body.result)
    return TaskOut.of(await services.worker.finish(node, item))


@router.post("/tasks/{task_id}/fail")
async def fail(task_id: Id, body: FailIn, node: NodeCaller, services: ServicesDep) -> TaskOut:
    item = Finish(task_id, body.version, "failed", error=body.error, retryable=body.retryable)
    return TaskOut.of(await services.worker.finish(node, item))


@router.post("/tasks/{task_id}/release")
async def release(task_id: Id, body: ReleaseIn, node: NodeCaller, services: ServicesDep) -> TaskOut:
    return TaskOut.of(await services.worker.finish(node, Finish(task_id, body.version, "released")))


@router.post("/nodes/runtimes")
async def advertise_runtimes(
    body: RuntimesIn, node: NodeCaller, services: ServicesDep
) -> RuntimesOut:
    """The calling node's ``runtime:<name>=true`` labels, set to the runtimes its
    sandbox runs (others of that prefix removed), so code chunks reach it only for
    runtimes it has. Its other labels are untouched."""
    updated = await services.nodes.advertise_runtimes(node, list(dict.fromkeys(body.runtimes)))
    return RuntimesOut(node_id=updated.id, labels=updated.labels)


@router.post("/nodes/heartbeat")
async def heartbeat(
    node: NodeCaller, services: ServicesDep, body: HeartbeatIn | None = None
) -> HeartbeatOut:
    """Extend the leases of the tasks the node still runs; learn which were cancelled."""
    body = body or HeartbeatIn()
    beat = await services.worker.heartbeat(node, body.task_ids, body.load)
    return HeartbeatOut(extended=beat.extended, cancelled=beat.cancelled, lost=beat.lost)
