"""``/jobs``: chunked jobs for customers (DESIGN §4)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, StreamingResponse
from sse_starlette import EventSourceResponse

from conveyor.api import cursors
from conveyor.api.deps import ServicesDep, StreamPrincipal, UserPrincipal
from conveyor.api.errors import error_responses
from conveyor.api.input import CheckedRoute, enum_list
from conveyor.api.params import Cursor, JobEventAfter, JobEventId, JobStatusList
from conveyor.api.routes.events import SSE_RESPONSE, respond_stream
from conveyor.api.schemas.common import OPTIONAL_ID_PATTERN
from conveyor.api.schemas.jobs import ChunkList, ChunkOut, JobCreate, JobList, JobOut
from conveyor.domain.jobs import JobStatus, index_ranges, result_lines
from conveyor.services.idempotency import IdempotencyRequest, request_hash
from conveyor.services.job_streams import JobStreamService
from conveyor.services.jobs import JobView
from conveyor.store.jobs import ChunkResult, JobFilter

router = APIRouter(
    route_class=CheckedRoute,
    prefix="/jobs",
    tags=["jobs"],
    responses=error_responses(400, 401, 403, 404),
)

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
MISSING_HEADER = "Conveyor-Missing-Chunks"


def _render(view: JobView) -> Any:
    return JobOut.of(view).model_dump(mode="json")


@router.post("", status_code=201, responses=error_responses(402, 409, 413))
async def create_job(
    body: JobCreate,
    who: UserPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Split ``items`` (or the uploaded dataset) into chunks of ``chunk_size`` and
    reserve ``chunks * price_per_chunk`` credits; ``402`` with the shortfall if short."""
    idem = None
    if idempotency_key:
        idem = IdempotencyRequest(
            idempotency_key, request_hash(body.model_dump(mode="json")), 201, _render
        )
    outcome = await services.jobs.create(who, body.to_spec(), body.items, idem)
    if isinstance(outcome, JobView):
        return JSONResponse(_render(outcome), status_code=201)
    return JSONResponse(outcome.response, status_code=outcome.status_code)


@router.get("")
async def list_jobs(
    who: UserPrincipal,
    services: ServicesDep,
    status: JobStatusList = [],  # noqa: B006 - FastAPI copies defaults
    owner_id: Annotated[str, Query(pattern=OPTIONAL_ID_PATTERN)] = "",
    cursor: Cursor = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JobList:
    """Newest first. Users see their own jobs; admins all (or one owner's)."""
    statuses = enum_list(status, JobStatus)
    flt = JobFilter(owner_id=(owner_id or None) if who.is_admin else None, status=statuses)
    views, next_cursor = await services.jobs.list_views(who, flt, cursors.from_http(cursor), limit)
    return JobList(jobs=[JobOut.of(v) for v in views], next_cursor=cursors.to_http(next_cursor))


@router.get("/{job_id}")
async def get_job(job_id: str, who: UserPrincipal, services: ServicesDep) -> JobOut:
    """The job with its chunk counts, progress, credits spent/reserved/refunded and ETA."""
    return JobOut.of(await services.jobs.get(who, job_id))


@router.get("/{job_id}/chunks")
async def list_chunks(
    job_id: str,
    who: UserPrincipal,
    services: ServicesDep,
    cursor: Annotated[str | None, Query(max_length=12, pattern=r"^[0-9]{1,10}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ChunkList:
    """The chunk grid in chunk order: status, node, attempts, first items, result size."""
    after = int(cursor) if cursor is not None else -1
    page = await services.jobs.chunks(who, job_id, after, limit)
    next_cursor = str(page[-1].chunk_index) if len(page) == limit else None
    return ChunkList(chunks=[ChunkOut.of(t) for t in page], next_cursor=next_cursor)


async def _jsonl(rows: AsyncIterator[ChunkResult]) -> AsyncIterator[bytes]:
    async for row in rows:
        lines = [json.dumps(line, separators=(",", ":")) for line in result_lines(row.result)]
        yield ("\n".join(lines) + "\n").encode()


@router.get(
    "/{job_id}/results",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
async def results(job_id: str, who: UserPrincipal, services: ServicesDep) -> StreamingResponse:
    """Completed chunks' results as one JSONL stream in chunk order, also while the
    job runs; ``Conveyor-Missing-Chunks`` lists the chunks not (yet) in it."""
    missing, rows = await services.jobs.results(who, job_id)
    headers = {MISSING_HEADER: index_ranges(missing), "Conveyor-Missing-Count": str(len(missing))}
    return StreamingResponse(_jsonl(rows), media_type="application/x-ndjson", headers=headers)


@router.get("/{job_id}/events", response_class=EventSourceResponse, responses=SSE_RESPONSE)
async def job_events(
    job_id: str,
    who: StreamPrincipal,
    services: ServicesDep,
    after: JobEventAfter = "",
    last_event_id: JobEventId = "",
) -> EventSourceResponse:
    """``chunk`` events (a chunk's status changed) and ``progress`` (the job's figures,
    read from the database); ends after the progress that shows the job finished.
    Every event has an ``id``; with one as ``Last-Event-ID`` (or ``after``) the stream
    first replays every chunk changed since, then goes live.
    Authenticate with a bearer header or ``?ticket=`` like task streams."""
    streams = JobStreamService(services.rt, services.jobs)
    # Both given (a reconnecting EventSource on an ``after`` URL): the later one.
    stream = await streams.job_stream(who, job_id, (after, last_event_id))
    return respond_stream(services, stream)


@router.post("/{job_id}/cancel", responses=error_responses(409))
async def cancel_job(job_id: str, who: UserPrincipal, services: ServicesDep) -> JobOut:
    """Pending chunks cancelled, running ones' leases revoked, the rest of the
    reservation released."""
    return JobOut.of(await services.jobs.cancel(who, job_id))
