"""Job rows and the reads over their chunks (the chunks themselves are ``tasks`` rows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.domain.jobs import Job, JobStatus
from conveyor.domain.states import TaskStatus
from conveyor.domain.tasks import NewTask, Task
from conveyor.errors import Conflict
from conveyor.store.job_rows import RUNNING, row_to_job
from conveyor.store.paging import encode_key, newest_first
from conveyor.store.schema import jobs, tasks
from conveyor.store.tasks import new_row, row_to_task


async def insert_job(conn: AsyncConnection, job: Job) -> None:
    # The open count is the store's bookkeeping, set with the chunk count (set_counts).
    values = {c.name: getattr(job, c.name) for c in jobs.c if c.name != "open_chunks"}
    values["status"] = job.status.value
    try:
        await conn.execute(insert(jobs).values(values))
    except IntegrityError as exc:
        raise Conflict("a job with this id already exists") from exc


async def set_counts(conn: AsyncConnection, job_id: str, chunk_count: int, item_count: int) -> None:
    """The dataset's size, known once it has streamed in."""
    stmt = update(jobs).where(jobs.c.id == job_id)
    values = {"chunk_count": chunk_count, "item_count": item_count, "open_chunks": chunk_count}
    await conn.execute(stmt.values(values))


async def insert_chunks(conn: AsyncConnection, new: Sequence[NewTask], now: datetime) -> None:
    """Chunk tasks without reading them back: a dataset's chunks are written in
    batches while it streams in, and echoing every batch's items back would double
    what the server holds."""
    if not new:
        return
    rows = [new_row(item, now) for item in new]
    await conn.execute(insert(tasks), rows)


async def open_chunks(conn: AsyncConnection, job_id: str) -> list[Task]:
    stmt = select(tasks).where(
        tasks.c.job_id == job_id,
        tasks.c.status.in_([TaskStatus.PENDING.value, TaskStatus.IN_PROGRESS.value]),
    )
    return [row_to_task(row) for row in (await conn.execute(stmt)).mappings()]


async def chunk_page(
    conn: AsyncConnection, job_id: str, after_index: int, limit: int
) -> list[Task]:
    """Chunks in index order after ``after_index`` (-1: from the first)."""
    stmt = (
        select(tasks)
        .where(tasks.c.job_id == job_id, tasks.c.chunk_index > after_index)
        .order_by(tasks.c.chunk_index)
        .limit(limit)
    )
    return [row_to_task(row) for row in (await conn.execute(stmt)).mappings()]


@dataclass(frozen=True, slots=True)
class ChunkResult:
    chunk_index: int
    status: TaskStatus
    result: Any


async def result_page(
    conn: AsyncConnection, job_id: str, after_index: int, limit: int
) -> list[ChunkResult]:
    """Only what the results stream needs: not the chunks' items."""
    stmt = (
        select(tasks.c.chunk_index, tasks.c.status, tasks.c.result)
        .where(tasks.c.job_id == job_id, tasks.c.chunk_index > after_index)
        .order_by(tasks.c.chunk_index)
        .limit(limit)
    )
    return [
        ChunkResult(row.chunk_index, TaskStatus(row.status), row.result)
        for row in await conn.execute(stmt)
    ]


async def any_running(conn: AsyncConnection) -> bool:
    stmt = select(jobs.c.id).where(jobs.c.status == RUNNING).limit(1)
    return (await conn.execute(stmt)).first() is not None


@dataclass(frozen=True, slots=True)
class JobFilter:
    owner_id: str | None = None
    status: Sequence[JobStatus] = ()


async def list_jobs(
    conn: AsyncConnection, flt: JobFilter, cursor: str | None, limit: int
) -> tuple[list[Job], str | None]:
    """Newest first, keyset-paginated."""
    conditions: list[Any] = []
    if flt.owner_id is not None:
        conditions.append(jobs.c.owner_id == flt.owner_id)
    if flt.status:
        conditions.append(jobs.c.status.in_([s.value for s in flt.status]))
    stmt = newest_first(jobs, conditions, cursor, limit)
    found = [row_to_job(row) for row in (await conn.execute(stmt)).mappings()]
    page = found[:limit]
    return page, (encode_key(page[-1].created_at, page[-1].id) if len(found) > limit else None)


async def unfinished_indexes(conn: AsyncConnection, job_id: str) -> list[int]:
    """Chunks without a result to download: every chunk not completed."""
    stmt = (
        select(tasks.c.chunk_index)
        .where(tasks.c.job_id == job_id, tasks.c.status != TaskStatus.COMPLETED.value)
        .order_by(tasks.c.chunk_index)
    )
    return [int(i) for i in (await conn.execute(stmt)).scalars()]


async def mark_cancelled(conn: AsyncConnection, job_id: str, now: datetime) -> Job | None:
    """Running -> cancelled; None when the job was not running."""
    stmt = (
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == RUNNING)
        .values(status=JobStatus.CANCELLED.value, updated_at=now, finished_at=now)
        .returning(*jobs.c)
    )
    row = (await conn.execute(stmt)).mappings().first()
    return row_to_job(row) if row else None


async def chunk_counts_many(
    conn: AsyncConnection, job_ids: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Chunk counts by status for a page of jobs, in one statement."""
    counts: dict[str, dict[str, int]] = {job_id: {} for job_id in job_ids}
    if not job_ids:
        return counts
    stmt = (
        select(tasks.c.job_id, tasks.c.status, func.count())
        .where(tasks.c.job_id.in_(list(job_ids)))
        .group_by(tasks.c.job_id, tasks.c.status)
    )
    for job_id, status, n in (await conn.execute(stmt)).all():
        counts[job_id][status] = int(n)
    return counts
