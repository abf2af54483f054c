"""The claim: hand up to ``limit`` due pending tasks to one node, never to two.

PostgreSQL picks rows with ``FOR UPDATE SKIP LOCKED``: concurrent claimers on any
number of replicas skip each other's rows instead of queueing behind them. SQLite
has one writer at a time (the transaction began with ``BEGIN IMMEDIATE``), so a
plain select-then-update in that transaction is already exclusive.

Both read only the partial ``status = 'pending'`` indexes, so a claim costs the
same with a million finished tasks as with none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, cast, exists, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.domain.states import TaskStatus
from conveyor.domain.tasks import Task
from conveyor.domain.transitions import claim_changes, effective_lease
from conveyor.store.schema import tasks
from conveyor.store.tasks import TASK_COLUMNS, column_values, row_to_task, timestamp


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    node_id: str
    task_types: Sequence[str]  # empty: any type
    labels: Mapping[str, str]
    limit: int
    lease_seconds: int


async def claim(conn: AsyncConnection, req: ClaimRequest, now: datetime) -> list[Task]:
    if req.limit <= 0:
        return []
    picked = select(tasks.c.id, tasks.c.timeout_seconds).where(*_claimable(conn, req, now))
    picked = picked.order_by(tasks.c.priority.desc(), tasks.c.run_at, tasks.c.id).limit(req.limit)
    if conn.dialect.name == "postgresql":
        picked = picked.with_for_update(skip_locked=True)
    rows = (await conn.execute(picked)).all()
    by_lease: dict[int, list[str]] = {}
    for row in rows:
        lease = effective_lease(row.timeout_seconds, req.lease_seconds)
        by_lease.setdefault(lease, []).append(row.id)
    claimed: list[Task] = []
    for lease, ids in by_lease.items():
        claimed.extend(await _take(conn, ids, req.node_id, lease, now))
    claimed.sort(key=lambda t: (-t.priority, t.run_at, t.id))
    return claimed


def _claimable(conn: AsyncConnection, req: ClaimRequest, now: datetime) -> list[Any]:
    conditions: list[Any] = [
        tasks.c.status == TaskStatus.PENDING.value,
        tasks.c.run_at <= timestamp(now),
        or_(tasks.c.assigned_node_id.is_(None), tasks.c.assigned_node_id == req.node_id),
    ]
    if req.task_types:
        conditions.append(tasks.c.task_type.in_(list(req.task_types)))
    conditions.append(_labels_match(conn.dialect.name, req.labels))
    return conditions


def _labels_match(dialect: str, labels: Mapping[str, str]) -> ColumnElement[bool]:
    """Every label a task requires must be among the node's, with the same value."""
    encoded = json.dumps(dict(labels))
    if dialect == "postgresql":
        return tasks.c.required_labels.op("<@")(cast(literal(encoded), JSONB))
    required = func.json_each(tasks.c.required_labels).table_valued("key", "value").alias("req")
    node_value = func.json_extract(literal(encoded), "$." + func.json_quote(required.c.key))
    mismatch = (
        select(literal(1))
        .select_from(required)
        .where(or_(node_value.is_(None), node_value != required.c.value))
    )
    return and_(~exists(mismatch))


async def _take(
    conn: AsyncConnection, ids: list[str], node_id: str, lease: int, now: datetime
) -> list[Task]:
    stmt = (
        update(tasks)
        .where(tasks.c.id.in_(ids), tasks.c.status == TaskStatus.PENDING.value)
        .values(
            **column_values(claim_changes(node_id, lease, now)),
            version=tasks.c.version + 1,
            started_at=func.coalesce(tasks.c.started_at, timestamp(now)),
        )
        .returning(*TASK_COLUMNS)
    )
    return [row_to_task(row) for row in (await conn.execute(stmt)).mappings()]
