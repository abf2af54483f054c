"""The claim: hand up to ``limit`` due pending tasks to one node, never to two.

PostgreSQL claims in one statement: a ``FOR UPDATE SKIP LOCKED`` pick, so that
concurrent claimers on any number of replicas skip each other's rows instead of
queueing behind them, feeding the ``UPDATE`` that leases what it picked. The
node's free capacity (``capacity`` minus the tasks it holds) is counted in the same
statement; the caller has already row-locked the node (``nodes.check_in``), so
claims by one node take turns and this count is never stale.

SQLite has one writer at a time (the transaction began with ``BEGIN IMMEDIATE``), so
a plain count, select and update in that transaction is already exclusive. Both
dialects share the pick's conditions, and every statement is built once.

Both read only the partial ``status = 'pending'`` indexes, so a claim costs the
same with a million finished tasks as with none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
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

from conveyor.domain.jobs import JobStatus
from conveyor.domain.states import TaskStatus
from conveyor.domain.tasks import Task
from conveyor.domain.transitions import claim_changes, effective_lease
from conveyor.store.schema import jobs, tasks
from conveyor.store.tasks import TASK_COLUMNS, column_values, row_to_task
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
    # Start by id: this task only, under exactly the claim's rules.
    task_id: str | None = None
    # The user who owns the node, None for an admin-registered one. A user's node
    # takes only its owner's own tasks and marketplace work (job chunks).
    node_owner: str | None = None
    # Whether to look at jobs' chunks too. The caller says so only while a job is
    # running, so that without jobs the plain claim costs exactly what it did.
    chunks: bool = False


async def claim(conn: AsyncConnection, req: ClaimRequest, now: datetime) -> list[Task]:
    if req.limit <= 0:
        return []
    if conn.dialect.name == "postgresql":
        claimed = await _claim_postgres(conn, req, now)
    else:
        claimed = await _claim_sqlite(conn, req, now)
    if req.chunks and req.task_id is None and len(claimed) < req.limit:
        rest = replace(req, limit=req.limit - len(claimed))
        claimed.extend(await claim_chunks(conn, rest, now))
    claimed.sort(key=lambda t: (-t.priority, t.run_at, t.id))
    return claimed


def _params(req: ClaimRequest, now: datetime) -> dict[str, Any]:
    """Bind values shared by both dialects' claim statements."""
    params: dict[str, Any] = {
        "node_id": req.node_id,
        "now": now,
        "labels": json.dumps(dict(req.labels)),
        "limit": req.limit,
        "capacity": req.capacity,
        "lease": req.lease_seconds,
    }
    if req.task_types:
        params["types"] = list(req.task_types)
    if req.task_id is not None:
        params["task_id"] = req.task_id
    if req.node_owner is not None:
        params["node_owner"] = req.node_owner
    return params


async def _claim_postgres(conn: AsyncConnection, req: ClaimRequest, now: datetime) -> list[Task]:
    stmt = _postgres_statement(
        typed=bool(req.task_types), by_id=req.task_id is not None, owned=req.node_owner is not None
    )
    rows = (await conn.execute(stmt, _params(req, now))).mappings()
    return [row_to_task(row) for row in rows]


# Every statement here is built once, with bind parameters: on the hot path of an
# idle worker's wake-up, building and hashing SQL expressions cost more than the
# database did.
NODE_ID = bindparam("node_id", type_=Text())
NOW = bindparam("now", type_=UTCDateTime())
HELD = (
    select(func.count())
    .select_from(tasks)
    .where(tasks.c.lease_owner == NODE_ID, tasks.c.status == TaskStatus.IN_PROGRESS.value)
    .scalar_subquery()
)


def _due_for_node(dialect: str) -> list[Any]:
    """Pending, due, not pinned elsewhere, and the node has every label it requires."""
    return [
        tasks.c.status == PENDING,
        tasks.c.run_at <= NOW,
        or_(tasks.c.assigned_node_id.is_(None), tasks.c.assigned_node_id == NODE_ID),
        _labels_match(dialect),
    ]


def _pick(
    dialect: str, typed: bool, limit: Any, by_id: bool = False, owned: bool = False
) -> Select[Any]:
    """Due pending plain tasks this node may run, in claim order, at most ``limit``.

    The one eligibility rule: every way a node takes a task (claim, start by id,
    push dispatch) leases through this pick; chunks go through the same conditions
    in ``_chunk_pick``, under their job's slots.
    """
    conditions = [*_due_for_node(dialect), tasks.c.job_id.is_(None)]
    if typed:
        conditions.append(tasks.c.task_type.in_(bindparam("types", expanding=True)))
    if by_id:
        conditions.append(tasks.c.id == bindparam("task_id", type_=Text()))
    if owned:
        # A user's node never sees another user's private tasks.
        conditions.append(tasks.c.owner_id == bindparam("node_owner", type_=Text()))
    return (
        select(tasks.c.id, tasks.c.timeout_seconds)
        .where(*conditions)
        .order_by(*CLAIM_ORDER)
        .limit(limit)
    )


def _labels_match(dialect: str) -> ColumnElement[bool]:
    """Every label a task requires must be among the node's (``labels``), with the same value."""
    labels = bindparam("labels", type_=Text())
    if dialect == "postgresql":
        return tasks.c.required_labels.op("<@")(cast(labels, JSONB))
    required = func.json_each(tasks.c.required_labels).table_valued("key", "value").alias("req")
    node_value = func.json_extract(labels, "$." + func.json_quote(required.c.key))
    mismatch = (
        select(literal(1))
        .select_from(required)
        .where(or_(node_value.is_(None), node_value != required.c.value))
    )
    return and_(~exists(mismatch))


@cache
def _postgres_statement(*, typed: bool, by_id: bool = False, owned: bool = False) -> Update:
    capacity = bindparam("capacity", type_=Integer())
    room = func.greatest(0, func.least(bindparam("limit", type_=Integer()), capacity - HELD))
    pick = _pick("postgresql", typed, room, by_id, owned)
    return _postgres_take(pick)


def _postgres_take(pick: Select[Any]) -> Update:
    """Lease what ``pick`` selects (skipping rows other claimers hold), in one statement."""
    picked = pick.with_for_update(skip_locked=True).cte("picked")
    # ``id = ANY(ARRAY(…))``, not a join: the planner cannot know how many rows the
    # pick returns and would hash-join it against every pending task.
    picked_ids = func.array(select(picked.c.id).scalar_subquery())
    # effective_lease (domain/transitions.py) in SQL: the task's own timeout wins.
    # The store test test_claim_writes_what_the_state_machine_says holds these
    # values to claim_changes on both databases.
    lease = func.coalesce(tasks.c.timeout_seconds, bindparam("lease", type_=Integer()))
    expires = type_coerce(NOW + lease * cast(literal("1 second"), INTERVAL()), UTCDateTime())
    return (
        update(tasks)
        .where(tasks.c.id == any_(picked_ids), tasks.c.status == PENDING)
        .values(
            status=TaskStatus.IN_PROGRESS.value,
            updated_at=NOW,
            lease_owner=NODE_ID,
            leased_at=NOW,
            lease_seconds=lease,
            lease_expires_at=expires,
            version=tasks.c.version + 1,
            started_at=func.coalesce(tasks.c.started_at, NOW),
        )
        .returning(*TASK_COLUMNS)
    )


async def _claim_sqlite(conn: AsyncConnection, req: ClaimRequest, now: datetime) -> list[Task]:
    params = _params(req, now)
    held = (await conn.execute(select(HELD), params)).scalar_one()
    params["limit"] = min(req.limit, req.capacity - held)
    if params["limit"] <= 0:
        return []
    pick = _sqlite_pick(
        typed=bool(req.task_types), by_id=req.task_id is not None, owned=req.node_owner is not None
    )
    return await _sqlite_lease(conn, pick, params, req, now)


async def _sqlite_lease(
    conn: AsyncConnection,
    pick: Select[Any],
    params: dict[str, Any],
    req: ClaimRequest,
    now: datetime,
) -> list[Task]:
    rows = (await conn.execute(pick, params)).all()
    by_lease: dict[int, list[str]] = {}
    for row in rows:
        lease = effective_lease(row.timeout_seconds, req.lease_seconds)
        by_lease.setdefault(lease, []).append(row.id)
    claimed: list[Task] = []
    for lease, ids in by_lease.items():
        values = column_values(claim_changes(req.node_id, lease, now))
        take = {"ids": ids, "now": now, **{f"v_{k}": v for k, v in values.items()}}
        result = await conn.execute(_sqlite_take(tuple(sorted(values))), take)
        claimed.extend(row_to_task(row) for row in result.mappings())
    return claimed


@cache
def _sqlite_pick(*, typed: bool, by_id: bool = False, owned: bool = False) -> Select[Any]:
    return _pick("sqlite", typed, bindparam("limit", type_=Integer()), by_id, owned)


@cache
def _sqlite_take(keys: tuple[str, ...]) -> Update:
    """Lease the picked rows with what the state machine's ``claim_changes`` says."""
    return (
        update(tasks)
        .where(tasks.c.id.in_(bindparam("ids", expanding=True)), tasks.c.status == PENDING)
        .values(
            {
                **{key: bindparam(f"v_{key}", type_=tasks.c[key].type) for key in keys},
                "version": tasks.c.version + 1,
                "started_at": func.coalesce(tasks.c.started_at, NOW),
            }
        )
        .returning(*TASK_COLUMNS)
    )


# --- job chunks: bucket slots and fair turns -----------------------------------
#
# A claim with room left after plain tasks takes chunks of ONE job: the running job
# this node may work for that has a free slot and a due chunk for it, the one with
# the fewest chunks in progress and, among equals, the one claimed from longest
# ago, so that jobs take turns whatever their size or age. Choosing it also stamps
# ``last_claimed_at``: on PostgreSQL that UPDATE row-locks the job, so concurrent
# claimers of one job on any replica take turns, and the next statement (a fresh
# snapshot under that lock) counts the job's chunks in progress exactly: at most
# ``max_concurrency`` of them are ever leased. One job per claim, so a claim never
# holds two job locks and two claims cannot deadlock. SQLite's single writer
# serialises the same statements.

JOB_ID = bindparam("chunk_job", type_=Text())
RUNNING_JOB = JobStatus.RUNNING.value
JOB_BUSY = (
    select(func.count())
    .select_from(tasks)
    .where(tasks.c.job_id == JOB_ID, tasks.c.status == TaskStatus.IN_PROGRESS.value)
    .scalar_subquery()
)


async def claim_chunks(conn: AsyncConnection, req: ClaimRequest, now: datetime) -> list[Task]:
    params = _params(req, now)
    chosen = (
        await conn.execute(
            _choose_job(
                conn.dialect.name, typed=bool(req.task_types), owned=req.node_owner is not None
            ),
            params,
        )
    ).first()
    if chosen is None:
        return []
    params["chunk_job"] = chosen.id
    params["slots"] = chosen.max_concurrency
    if conn.dialect.name == "postgresql":
        rows = (await conn.execute(_postgres_chunk_take(), params)).mappings()
        return [row_to_task(row) for row in rows]
    busy = (await conn.execute(select(JOB_BUSY), params)).scalar_one()
    held = (await conn.execute(select(HELD), params)).scalar_one()
    params["limit"] = min(req.limit, req.capacity - held, chosen.max_concurrency - busy)
    if params["limit"] <= 0:
        return []
    return await _sqlite_lease(conn, _sqlite_chunk_pick(), params, req, now)


def _chunk_pick(dialect: str, limit: Any) -> Select[Any]:
    conditions = [*_due_for_node(dialect), tasks.c.job_id == JOB_ID]
    return (
        select(tasks.c.id, tasks.c.timeout_seconds)
        .where(*conditions)
        .order_by(*CLAIM_ORDER)
        .limit(limit)
    )


@cache
def _choose_job(dialect: str, *, typed: bool, owned: bool) -> Update:
    candidate = jobs.alias("candidate")
    busy = (
        select(func.count())
        .select_from(tasks)
        .where(tasks.c.job_id == candidate.c.id, tasks.c.status == TaskStatus.IN_PROGRESS.value)
        .scalar_subquery()
    )
    due_chunk = exists(
        select(literal(1)).where(*_due_for_node(dialect), tasks.c.job_id == candidate.c.id)
    )
    conditions: list[Any] = [
        candidate.c.status == RUNNING_JOB,
        busy < candidate.c.max_concurrency,
        due_chunk,
    ]
    if typed:
        conditions.append(candidate.c.task_type.in_(bindparam("types", expanding=True)))
    if owned:
        # A customer's chunks never go to its own nodes, unless its job allows it.
        owner = bindparam("node_owner", type_=Text())
        conditions.append(or_(candidate.c.allow_own_nodes, candidate.c.owner_id != owner))
    fairest = (
        select(candidate.c.id)
        .where(*conditions)
        .order_by(
            busy,
            candidate.c.last_claimed_at.asc().nulls_first(),
            candidate.c.created_at,
            candidate.c.id,
        )
        .limit(1)
        .scalar_subquery()
    )
    return (
        update(jobs)
        .where(jobs.c.id == fairest, jobs.c.status == RUNNING_JOB)
        .values(last_claimed_at=NOW)
        .returning(jobs.c.id, jobs.c.max_concurrency)
    )


@cache
def _postgres_chunk_take() -> Update:
    capacity = bindparam("capacity", type_=Integer())
    slots = bindparam("slots", type_=Integer())
    limit = bindparam("limit", type_=Integer())
    room = func.greatest(0, func.least(limit, capacity - HELD, slots - JOB_BUSY))
    return _postgres_take(_chunk_pick("postgresql", room))


@cache
def _sqlite_chunk_pick() -> Select[Any]:
    return _chunk_pick("sqlite", bindparam("limit", type_=Integer()))
