"""Attempt history: one row per ended run, written with the transition that ended it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.domain.tasks import Attempt
from conveyor.store.schema import task_attempts

# Built once: a batch of finishes records its runs with one executemany of this
# statement (asyncpg pipelines it: one round trip for the batch, not one per run).
_RECORD = insert(task_attempts)


async def record(conn: AsyncConnection, attempts: Sequence[Attempt]) -> None:
    if not attempts:
        return
    # One run (a single finish) as a plain execute: a list takes the slower
    # insertmanyvalues path even for one row.
    rows = [_row(a) for a in attempts]
    await conn.execute(_RECORD, rows[0] if len(rows) == 1 else rows)


def _row(a: Attempt) -> dict[str, object]:
    return {
        "task_id": a.task_id,
        "attempt": a.number,
        "node_id": a.node_id,
        "started_at": a.started_at,
        "finished_at": a.finished_at,
        "outcome": a.outcome,
        "error": a.error,
    }


async def history(conn: AsyncConnection, task_id: str) -> list[Attempt]:
    stmt = (
        select(task_attempts)
        .where(task_attempts.c.task_id == task_id)
        .order_by(task_attempts.c.attempt)
    )
    return [
        Attempt(
            task_id=row["task_id"],
            number=row["attempt"],
            node_id=row["node_id"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            outcome=row["outcome"],
            error=row["error"],
        )
        for row in (await conn.execute(stmt)).mappings()
    ]


async def last_nodes(conn: AsyncConnection, task_ids: Sequence[str]) -> dict[str, str | None]:
    """For each task with an ended attempt, the node that ran its latest one (a page
    of a listing at a time: the primary key covers the lookup)."""
    if not task_ids:
        return {}
    stmt = (
        select(task_attempts.c.task_id, task_attempts.c.node_id)
        .where(task_attempts.c.task_id.in_(list(task_ids)))
        .order_by(task_attempts.c.task_id, task_attempts.c.attempt)
    )
    # Ordered by attempt: the last row of each task wins.
    return {row.task_id: row.node_id for row in (await conn.execute(stmt)).all()}
