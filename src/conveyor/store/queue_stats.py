"""The pending queue by task type, for ``GET /admin/stats`` (and the operations view).

One grouped read of the pending rows (the partial claim indexes cover them); the
claim, finish and create paths never run it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.domain.states import TaskStatus
from conveyor.store.schema import tasks
from conveyor.store.types import UTCDateTime, timestamp


@dataclass(frozen=True, slots=True)
class QueueDepth:
    task_type: str
    pending: int  # every pending task, delayed ones included
    ready: int  # pending and due now (run_at passed): what workers could take
    oldest_ready_at: datetime | None  # the earliest run_at among the ready ones


async def pending_by_type(conn: AsyncConnection, now: datetime) -> list[QueueDepth]:
    due = tasks.c.run_at <= timestamp(now)
    # type_coerce: min() over a case() would lose the column's type, and SQLite would
    # hand back the stored text instead of an aware datetime.
    oldest = type_coerce(func.min(case((due, tasks.c.run_at), else_=None)), UTCDateTime())
    stmt = (
        select(
            tasks.c.task_type,
            func.count().label("pending"),
            func.coalesce(func.sum(case((due, 1), else_=0)), 0).label("ready"),
            oldest.label("oldest"),
        )
        .where(tasks.c.status == TaskStatus.PENDING.value)
        .group_by(tasks.c.task_type)
        .order_by(tasks.c.task_type)
    )
    rows = (await conn.execute(stmt)).all()
    return [
        QueueDepth(
            task_type=row.task_type,
            pending=int(row.pending),
            ready=int(row.ready),
            oldest_ready_at=row.oldest,
        )
        for row in rows
    ]
