"""Pending tasks whose ``run_at`` falls in a window: delayed work coming due."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.domain.states import TaskStatus
from conveyor.store.schema import tasks
from conveyor.store.types import timestamp


async def due_between(
    conn: AsyncConnection, after: datetime, until: datetime, limit: int
) -> list[tuple[str, datetime]]:
    """Distinct ``(task_type, run_at)`` of pending tasks with ``after < run_at <= until``.

    Distinct pairs, not rows: a million tasks due at the same instant are one wake-up.
    Only the partial ``status = 'pending'`` indexes are read.
    """
    stmt = (
        select(tasks.c.task_type, tasks.c.run_at)
        .where(
            tasks.c.status == TaskStatus.PENDING.value,
            tasks.c.run_at > timestamp(after),
            tasks.c.run_at <= timestamp(until),
        )
        .distinct()
        .order_by(tasks.c.run_at)
        .limit(limit)
    )
    return [(row.task_type, row.run_at) for row in await conn.execute(stmt)]
