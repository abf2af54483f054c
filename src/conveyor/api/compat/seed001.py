"""Seed 001 (credit-based chunk marketplace): ``/api/tasks``, ``/api/worker/*``, ``/api/wallet/*``.

Mounted at ``CONVEYOR_COMPAT_001_PREFIX`` (default: the seed's own paths, which no
native route uses). The seed's "task" is a job, its chunks are tasks, its wallet
is the ledger: every route calls the services the native ``/jobs``, ``/worker``
and ``/wallet`` routes call. The seed has no authentication; here customers send
a user's bearer token and workers a node's (``POST /api/v1/auth/node/login``), so
a ``workerId`` in a body, when given, must name the calling node.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from conveyor.api.compat.base import message_error, profile_route
from conveyor.api.compat.seed001_schemas import (
    AmountIn,
    ChunkOut,
    HeartbeatIn,
    HeartbeatOut,
    NextChunkIn,
    NextChunkOut,
    PaymentOut,
    RecordIn,
    RecordOut,
    TaskIn,
    TaskList,
    TaskOut,
    TransactionList,
    TransactionOut,
    WalletOut,
)
from conveyor.api.deps import CallerDep, NodeCaller, ServicesDep, UserPrincipal
from conveyor.domain.ledger import CURSOR_PATTERN
from conveyor.domain.nodes import Node
from conveyor.errors import Forbidden, InvalidInput
from conveyor.services.auth import Caller
from conveyor.services.jobs import JobView
from conveyor.services.open_jobs import OpenJobs
from conveyor.services.wallet import PaymentOutcome
from conveyor.services.worker import ClaimInput, Finish
from conveyor.store.idempotency import StoredResponse
from conveyor.store.jobs import JobFilter

router = APIRouter(route_class=profile_route(message_error), tags=["compat: seed 001"])
LIST_LIMIT = 200


def _open_jobs(services: ServicesDep) -> OpenJobs:
    return OpenJobs(services.rt, services.jobs)


def _check_worker(node: Node, worker_id: str | None) -> None:
    if worker_id is not None and worker_id != node.id:
        raise Forbidden(f"workerId {worker_id} is not the calling node ({node.id})")


@router.post("/api/tasks", status_code=201)
async def create_task(body: TaskIn, who: UserPrincipal, services: ServicesDep) -> TaskOut:
    """A task (a job): its items cut into chunks, ``chunks * pricePerChunk`` reserved
    from the wallet (402 with the shortfall when short)."""
    outcome = await services.jobs.create(who, body.to_spec(), body.items, None)
    assert isinstance(outcome, JobView)  # no idempotency key, so never a stored answer
    return TaskOut.of(outcome)


@router.get("/api/tasks")
async def list_tasks(caller: CallerDep, services: ServicesDep) -> TaskList:
    """A customer's own tasks, newest first; to a worker, the running tasks it could
    take chunks of."""
    if caller.node is not None:
        views = await _open_jobs(services).for_node(caller.node, LIST_LIMIT)
    else:
        views, _ = await services.jobs.list_views(caller.principal, JobFilter(), None, LIST_LIMIT)
    return TaskList(tasks=[TaskOut.of(v) for v in views])


@router.get("/api/tasks/{task_id}")
async def get_task(task_id: str, caller: CallerDep, services: ServicesDep) -> TaskOut:
    if caller.node is not None:
        return TaskOut.of(await _open_jobs(services).get(caller.node, task_id))
    return TaskOut.of(await services.jobs.get(caller.principal, task_id))


@router.post("/api/worker/next-chunk")
async def next_chunk(
    node: NodeCaller, services: ServicesDep, body: NextChunkIn | None = None
) -> NextChunkOut:
    """Lease the next chunk this worker may run (bucket slots and fair turns between
    tasks decide which), or ``{"chunk": null}``."""
    body = body or NextChunkIn()
    _check_worker(node, body.worker_id)
    if body.task_id is not None:
        # 404 unless this worker could ever serve it; an ended task has no more chunks.
        named = await _open_jobs(services).get(node, body.task_id, ended_too=True)
        if named.job.status.is_terminal:
            return NextChunkOut(chunk=None)
    req = ClaimInput(max_tasks=1, wait_seconds=body.wait_seconds)
    claimed, _ = await services.worker.claim(node, req)
    return NextChunkOut(chunk=ChunkOut.of(claimed[0]) if claimed else None)


async def _worker(caller: CallerDep) -> Caller:
    if caller.node is None:
        raise Forbidden("this is for workers: log in as a node (POST /api/v1/auth/node/login)")
    return caller


WorkerCaller = Annotated[Caller, Depends(_worker)]


@router.post("/api/worker/record-chunk")
async def record_chunk(body: RecordIn, caller: WorkerCaller, services: ServicesDep) -> RecordOut:
    """Progress (``progress``: a percent or an object), a result (``results``, one
    per item, or ``result``), or a failure (``error``/``status: failed``)."""
    node = caller.node
    assert node is not None
    _check_worker(node, body.worker_id)
    seq = None
    if body.progress is not None:
        data: dict[str, Any] = (
            dict(body.progress) if isinstance(body.progress, dict) else {"percent": body.progress}
        )
        if body.message is not None:
            data.setdefault("message", body.message)
        seq = (await services.worker.progress(node, body.chunk_id, data)).seq
    outcome = _outcome(body)
    if outcome is None:
        if seq is None:
            raise InvalidInput(
                "nothing to record: send progress, results or an error",
                details=[{"field": "body", "message": "progress, results, result or error"}],
            )
        task = await services.tasks.get(caller.principal, body.chunk_id)
        return RecordOut(chunkId=task.id, status=task.status.value, version=task.version,
                         progressSeq=seq)  # fmt: skip
    version = body.version
    if version is None:
        version = (await services.tasks.get(caller.principal, body.chunk_id)).version
    result = {"results": body.results} if body.results is not None else body.result
    error = body.error if body.error is not None else {"message": "the worker reported a failure"}
    item = Finish(
        body.chunk_id,
        version,
        outcome,
        result=result if outcome == "completed" else None,
        error=error if outcome == "failed" else None,
        retryable=body.retryable,
    )
    task = await services.worker.finish(node, item)
    job = await services.jobs.view(task.job_id) if task.job_id else None
    return RecordOut(
        chunkId=task.id,
        status=task.status.value,
        version=task.version,
        progressSeq=seq,
        task=TaskOut.of(job) if job else None,
    )


def _outcome(body: RecordIn) -> Literal["completed", "failed"] | None:
    if body.status == "failed" or body.error is not None:
        return "failed"
    if body.status == "completed" or body.results is not None or body.result is not None:
        return "completed"
    return None


@router.post("/api/worker/heartbeat")
async def heartbeat(
    node: NodeCaller, services: ServicesDep, body: HeartbeatIn | None = None
) -> HeartbeatOut:
    """The worker is alive; the leases of its chunks (all, or ``chunkIds``) are extended."""
    body = body or HeartbeatIn()
    _check_worker(node, body.worker_id)
    beat = await services.worker.heartbeat(node, body.chunk_ids, None)
    return HeartbeatOut(
        workerId=node.id, extended=beat.extended, cancelled=beat.cancelled, lost=beat.lost
    )


@router.get("/api/wallet")
async def wallet(who: UserPrincipal, services: ServicesDep) -> WalletOut:
    return WalletOut.of(who.id, await services.wallet.balances(who))


def _payment(outcome: PaymentOutcome | StoredResponse) -> JSONResponse:
    assert not isinstance(outcome, StoredResponse)  # no idempotency key
    return JSONResponse(PaymentOut.of(outcome).model_dump(mode="json"), status_code=201)


@router.post("/api/wallet/deposit", status_code=201, response_model=PaymentOut)
async def deposit(body: AmountIn, who: UserPrincipal, services: ServicesDep) -> JSONResponse:
    """Sandbox mode (``CONVEYOR_WALLET_SANDBOX``) credits at once; Stripe answers
    ``pending`` with a ``checkoutUrl``."""
    return _payment(await services.wallet.deposit(who, body.amount, None))


@router.post("/api/wallet/withdraw", status_code=201, response_model=PaymentOut)
async def withdraw(body: AmountIn, who: UserPrincipal, services: ServicesDep) -> JSONResponse:
    return _payment(await services.wallet.withdraw(who, body.amount, None))


@router.get("/api/wallet/transactions")
async def transactions(
    who: UserPrincipal,
    services: ServicesDep,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> TransactionList:
    """Newest first: reservations, chunk payouts (``settle``, ref ``chunk:<id>``), releases."""
    page, next_cursor = await services.wallet.movements(who, None, cursor, limit)
    return TransactionList(
        transactions=[TransactionOut.of(m) for m in page], nextCursor=next_cursor
    )
