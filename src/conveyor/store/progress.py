"""Append-only progress rows, numbered per task."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.domain.tasks import Progress
from conveyor.store.schema import task_progress

# Built once: the statement is the same for every report.
_APPEND = insert(task_progress)


async def append(
    conn: AsyncConnection, task_id: str, seq: int, data: dict[str, Any], now: datetime
) -> Progress:
    row = {"task_id": task_id, "seq": seq, "data": data, "created_at": now}
    await conn.execute(_APPEND, row)
    return Progress(task_id=task_id, seq=seq, data=data, created_at=now)


async def history(
    conn: AsyncConnection, task_id: str, after_seq: int, limit: int
) -> list[Progress]:
    stmt = (
        select(task_progress)
        .where(task_progress.c.task_id == task_id, task_progress.c.seq > after_seq)
        .order_by(task_progress.c.seq)
        .limit(limit)
    )
    return [
        Progress(row["task_id"], row["seq"], row["data"], row["created_at"])
        for row in (await conn.execute(stmt)).mappings()
    ]
