"""Pending tasks that have waited past a cutoff: the unserved-task duty's reading.

Kept out of the claim, finish and create paths: only the duty reads this, a page
at a time in ``(run_at, id)`` order.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.domain.states import TaskStatus
from conveyor.domain.tasks import Task
from conveyor.store.schema import tasks
from conveyor.store.tasks import row_to_task


async def pending_waiting_since(
    conn: AsyncConnection, cutoff: datetime, after: tuple[datetime, str] | None, limit: int
) -> list[Task]:
    """Pending tasks due and unchanged since ``cutoff``, after the ``(run_at, id)`` key."""
    stmt = select(tasks).where(
        tasks.c.status == TaskStatus.PENDING.value,
        tasks.c.run_at <= cutoff,
        tasks.c.updated_at <= cutoff,
    )
    if after is not None:
        run_at, task_id = after
        stmt = stmt.where(
            or_(tasks.c.run_at > run_at, and_(tasks.c.run_at == run_at, tasks.c.id > task_id))
        )
    stmt = stmt.order_by(tasks.c.run_at, tasks.c.id).limit(limit)
    return [row_to_task(row) for row in (await conn.execute(stmt)).mappings()]
