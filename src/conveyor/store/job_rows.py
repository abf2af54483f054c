"""Job rows as the chunk accounting reads and ends them (no dependency on the task store,
which calls into here from every transition)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.domain.jobs import Job, JobStatus
from conveyor.store.schema import jobs, tasks

RUNNING = JobStatus.RUNNING.value


def row_to_job(row: RowMapping) -> Job:
    return Job(
        id=row["id"],
        owner_id=row["owner_id"],
        status=JobStatus(row["status"]),
        task_type=row["task_type"],
        chunk_size=row["chunk_size"],
        chunk_count=row["chunk_count"],
        item_count=row["item_count"],
        max_concurrency=row["max_concurrency"],
        price_per_chunk=row["price_per_chunk"],
        fee_percent=row["fee_percent"],
        allow_own_nodes=bool(row["allow_own_nodes"]),
        required_labels=row["required_labels"] or {},
        max_attempts=row["max_attempts"],
        priority=row["priority"],
        dataset_artifact_id=row["dataset_artifact_id"],
        code_artifact_id=row["code_artifact_id"],
        runtime=row["runtime"],
        metadata=row["metadata"] or {},
        last_claimed_at=row["last_claimed_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
    )


async def get_job(conn: AsyncConnection, job_id: str, *, lock: bool = False) -> Job | None:
    """The job; ``lock``: row-locked (PostgreSQL) until the transaction ends, which
    serialises the claims, finishes and cancel of one job where they must."""
    stmt = select(jobs).where(jobs.c.id == job_id)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).mappings().first()
    return row_to_job(row) if row else None


async def close_chunks(conn: AsyncConnection, job_id: str, ended: int) -> tuple[Job, int]:
    """Take ``ended`` chunks off the job's open count; the job (its row now locked
    until the transaction ends) and how many of its chunks are still open."""
    stmt = (
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(open_chunks=jobs.c.open_chunks - ended)
        .returning(*jobs.c)
    )
    row = (await conn.execute(stmt)).mappings().one()
    return row_to_job(row), int(row["open_chunks"])


async def finish_job(
    conn: AsyncConnection, job_id: str, status: JobStatus, now: datetime
) -> Job | None:
    """Move a running job to ``status``; None when it was no longer running."""
    stmt = (
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == RUNNING)
        .values(status=status.value, updated_at=now, finished_at=now)
        .returning(*jobs.c)
    )
    row = (await conn.execute(stmt)).mappings().first()
    return row_to_job(row) if row else None


async def chunk_counts(conn: AsyncConnection, job_id: str) -> dict[str, int]:
    stmt = (
        select(tasks.c.status, func.count())
        .where(tasks.c.job_id == job_id)
        .group_by(tasks.c.status)
    )
    return {status: int(n) for status, n in (await conn.execute(stmt)).all()}
