"""A job's chunk changes in the order its event stream numbers them: by the chunk
row's ``(updated_at, id)``, read from a resume point on (the stream's replay).

``updated_at`` is written with microseconds on both databases (PostgreSQL
``timestamptz``; SQLite's fixed-width ``YYYY-MM-DD HH:MM:SS.ffffff`` text, whose
string order is time order), so the key a stream sends names one row exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.domain.states import TaskStatus
from conveyor.store.schema import tasks
from conveyor.store.types import UTCDateTime


@dataclass(frozen=True, slots=True)
class ChunkChange:
    """What a ``chunk`` event says about a chunk: its current state."""

    task_id: str
    chunk_index: int
    status: TaskStatus
    version: int
    node_id: str | None
    updated_at: datetime


_AT = bindparam("at", type_=UTCDateTime())
_ID = bindparam("after_id", type_=Text())
_COLUMNS = (
    tasks.c.id,
    tasks.c.chunk_index,
    tasks.c.status,
    tasks.c.version,
    tasks.c.lease_owner,
    tasks.c.updated_at,
)
# ``updated_at >= :at`` bounds the range scan of ix_tasks_job_changes on both
# databases; the OR then only tells ties at the same microsecond apart. Only the
# columns an event carries: a chunk's params (its items) may be large.
_CHANGES_AFTER = (
    select(*_COLUMNS)
    .where(
        tasks.c.job_id == bindparam("job_id", type_=Text()),
        tasks.c.updated_at >= _AT,
        or_(tasks.c.updated_at > _AT, and_(tasks.c.updated_at == _AT, tasks.c.id > _ID)),
    )
    .order_by(tasks.c.updated_at, tasks.c.id)
    .limit(bindparam("limit"))
)
_LATEST = (
    select(tasks.c.updated_at, tasks.c.id)
    .where(tasks.c.job_id == bindparam("job_id", type_=Text()))
    .order_by(tasks.c.updated_at.desc(), tasks.c.id.desc())
    .limit(1)
)


async def changes_after(
    conn: AsyncConnection, job_id: str, after: tuple[datetime, str], limit: int
) -> list[ChunkChange]:
    """Up to ``limit`` of the job's chunks whose ``(updated_at, id)`` is after ``after``,
    in that order (one keyset page; the caller pages on from the last one)."""
    params = {"job_id": job_id, "at": after[0], "after_id": after[1], "limit": limit}
    return [
        ChunkChange(
            row.id,
            row.chunk_index,
            TaskStatus(row.status),
            row.version,
            row.lease_owner,
            row.updated_at,
        )
        for row in await conn.execute(_CHANGES_AFTER, params)
    ]


async def latest_change(conn: AsyncConnection, job_id: str) -> tuple[datetime, str] | None:
    """The key of the job's most recently changed chunk (None: no chunks yet)."""
    row = (await conn.execute(_LATEST, {"job_id": job_id})).first()
    return (row.updated_at, row.id) if row else None
