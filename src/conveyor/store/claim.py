"""The claim: hand up to ``limit`` due pending tasks to one node, never to two.

PostgreSQL claims in one statement: a ``FOR UPDATE SKIP LOCKED`` pick, so that
concurrent claimers on any number of replicas skip each other's rows instead of
queueing behind them, feeding the ``UPDATE`` that leases what it picked. The
node's free capacity (``capacity`` minus the tasks it holds) is counted in the same
statement; the caller has already row-locked the node (``nodes.check_in``), so
claims by one node take turns and this count is never stale. The statement is
built once: on the hot path of an idle worker's wake-up, building and hashing SQL
expressions cost more than the database did.

SQLite has one writer at a time (the transaction began with ``BEGIN IMMEDIATE``), so
a plain count, select and update in that transaction is already exclusive.

Both read only the partial ``status = 'pending'`` indexes, so a claim costs the
same with a million finished tasks as with none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Text,
    Update,
    and_,
    any_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import INTERVAL, JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.domain.states import TaskStatus
from conveyor.domain.tasks import Task
from conveyor.domain.transitions import claim_changes, effective_lease
from conveyor.store.schema import tasks
from conveyor.store.tasks import TASK_COLUMNS, column_values, count_held, row_to_task, timestamp
from conveyor.store.types import UTCDateTime

PENDING = TaskStatus.PENDING.value
CLAIM_ORDER = (tasks.c.priority.desc(), tasks.c.run_at, tasks.c.id)


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    node_id: str
    task_types: Sequence[str]  # empty: any type
    labels: Mapping[str, str]
    limit: int
    lease_seconds: int
    # The most tasks the node may hold in progress at once, counting those it
    # already holds (its ``max_concurrency``).
    capacity: int


async def claim(conn: AsyncConnection, req: ClaimRequest, now: datetime) -> list[Task]:
    if req.limit <= 0:
        return []
    if conn.dialect.name == "postgresql":
        claimed = await _claim_postgres(conn, req, now)
    else:
        claimed = await _claim_sqlite(conn, req, now)
    claimed.sort(key=lambda t: (-t.priority, t.run_at, t.id))
    return claimed


async def _claim_postgres(conn: AsyncConnection, req: ClaimRequest, now: datetime) -> list[Task]:
    params: dict[str, Any] = {
        "node_id": req.node_id,
        "now": now,
        "labels": dict(req.labels),
        "limit": req.limit,
        "capacity": req.capacity,
        "lease": req.lease_seconds,
    }
    if req.task_types:
        params["types"] = list(req.task_types)
    stmt = _postgres_statement(typed=bool(req.task_types))
    return [row_to_task(row) for row in (await conn.execute(stmt, params)).mappings()]


@cache
def _postgres_statement(*, typed: bool) -> Update:
    node_id = bindparam("node_id", type_=Text())
    now = bindparam("now", type_=UTCDateTime())
    held = (
        select(func.count())
        .select_from(tasks)
        .where(tasks.c.lease_owner == node_id, tasks.c.status == TaskStatus.IN_PROGRESS.value)
        .scalar_subquery()
    )
    capacity = bindparam("capacity", type_=Integer())
    room = func.greatest(0, func.least(bindparam("limit", type_=Integer()), capacity - held))
    conditions: list[Any] = [
        tasks.c.status == PENDING,
        tasks.c.run_at <= now,
        or_(tasks.c.assigned_node_id.is_(None), tasks.c.assigned_node_id == node_id),
        tasks.c.required_labels.op("<@")(bindparam("labels", type_=JSONB())),
    ]
    if typed:
        conditions.append(tasks.c.task_type.in_(bindparam("types", expanding=True)))
    picked = (
        select(tasks.c.id)
        .where(*conditions)
        .order_by(*CLAIM_ORDER)
        .limit(room)
        .with_for_update(skip_locked=True)
        .cte("picked")
    )
    # ``id = ANY(ARRAY(…))``, not a join: the planner cannot know how many rows the
    # pick returns and would hash-join it against every pending task.
    picked_ids = func.array(select(picked.c.id).scalar_subquery())
    # effective_lease (domain/transitions.py) in SQL: the task's own timeout wins.
    lease = func.coalesce(tasks.c.timeout_seconds, bindparam("lease", type_=Integer()))
    expires = type_coerce(now + lease * cast(literal("1 second"), INTERVAL()), UTCDateTime())
    return (
        update(tasks)
        .where(tasks.c.id == any_(picked_ids), tasks.c.status == PENDING)
        .values(
            status=TaskStatus.IN_PROGRESS.value,
            updated_at=now,
            lease_owner=node_id,
            leased_at=now,
            lease_seconds=lease,
            lease_expires_at=expires,
            version=tasks.c.version + 1,
            started_at=func.coalesce(tasks.c.started_at, now),
        )
        .returning(*TASK_COLUMNS)
    )


async def _claim_sqlite(conn: AsyncConnection, req: ClaimRequest, now: datetime) -> list[Task]:
    limit = min(req.limit, req.capacity - await count_held(conn, req.node_id))
    if limit <= 0:
        return []
    picked = (
        select(tasks.c.id, tasks.c.timeout_seconds)
        .where(*_claimable(req, now))
        .order_by(*CLAIM_ORDER)
        .limit(limit)
    )
    rows = (await conn.execute(picked)).all()
    by_lease: dict[int, list[str]] = {}
    for row in rows:
        lease = effective_lease(row.timeout_seconds, req.lease_seconds)
        by_lease.setdefault(lease, []).append(row.id)
    claimed: list[Task] = []
    for lease, ids in by_lease.items():
        claimed.extend(await _take(conn, ids, req.node_id, lease, now))
    return claimed


def _claimable(req: ClaimRequest, now: datetime) -> list[Any]:
    conditions: list[Any] = [
        tasks.c.status == PENDING,
        tasks.c.run_at <= timestamp(now),
        or_(tasks.c.assigned_node_id.is_(None), tasks.c.assigned_node_id == req.node_id),
    ]
    if req.task_types:
        conditions.append(tasks.c.task_type.in_(list(req.task_types)))
    conditions.append(_labels_match_sqlite(req.labels))
    return conditions


def _labels_match_sqlite(labels: Mapping[str, str]) -> ColumnElement[bool]:
    """Every label a task requires must be among the node's, with the same value."""
    encoded = json.dumps(dict(labels))
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
        .where(tasks.c.id.in_(ids), tasks.c.status == PENDING)
        .values(
            **column_values(claim_changes(node_id, lease, now)),
            version=tasks.c.version + 1,
            started_at=func.coalesce(tasks.c.started_at, timestamp(now)),
        )
        .returning(*TASK_COLUMNS)
    )
    return [row_to_task(row) for row in (await conn.execute(stmt)).mappings()]
