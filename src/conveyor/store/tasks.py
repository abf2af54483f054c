"""Task rows: insert, read, guarded transitions, leases, listing."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from types import MappingProxyType
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Integer,
    Text,
    Update,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.selectable import TextualSelect
from sqlalchemy.types import TypeEngine

from conveyor.domain.states import TaskStatus
from conveyor.domain.tasks import NewTask, Task
from conveyor.domain.transitions import Transition
from conveyor.errors import Conflict
from conveyor.store import attempts as attempt_store
from conveyor.store import chunk_ledger
from conveyor.store.paging import encode_key, newest_first
from conveyor.store.schema import task_attempts, tasks
from conveyor.store.task_filter import TaskFilter as TaskFilter
from conveyor.store.task_filter import filter_conditions
from conveyor.store.types import UTCDateTime

TASK_COLUMNS = tuple(tasks.c)
NO_OWNERS: Mapping[str, str | None] = MappingProxyType({})


def row_to_task(row: Mapping[Any, Any]) -> Task:
    """A task from a row (or from new_row's dict: store/submit.py builds one)."""
    return Task(
        id=row["id"],
        task_type=row["task_type"],
        status=TaskStatus(row["status"]),
        version=row["version"],
        params=row["params"],
        metadata=row["metadata"],
        owner_id=row["owner_id"],
        assigned_node_id=row["assigned_node_id"],
        priority=row["priority"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        lease_owner=row["lease_owner"],
        leased_at=row["leased_at"],
        lease_expires_at=row["lease_expires_at"],
        lease_seconds=row["lease_seconds"],
        run_at=row["run_at"],
        timeout_seconds=row["timeout_seconds"],
        result=row["result"],
        error=row["error"],
        original_task_id=row["original_task_id"],
        required_labels=row["required_labels"] or {},
        progress_seq=row["progress_seq"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        runs=row["runs"],
        job_id=row["job_id"],
        chunk_index=row["chunk_index"],
        traceparent=row["traceparent"],
    )


# Built once: building and cache-keying the statement per submit cost more than
# executing it.
_INSERT_TASKS = insert(tasks).returning(*TASK_COLUMNS)


async def insert_tasks(conn: AsyncConnection, new: Sequence[NewTask], now: datetime) -> list[Task]:
    if not new:
        return []
    rows = [new_row(item, now) for item in new]
    try:
        # One row (a single submit, the common case) as a plain execute: a list,
        # even of one, takes SQLAlchemy's slower insertmanyvalues path.
        result = await conn.execute(_INSERT_TASKS, rows[0] if len(rows) == 1 else rows)
    except IntegrityError as exc:
        raise Conflict("a task with this id already exists") from exc
    created = {task.id: task for task in map(row_to_task, result.mappings())}
    return [created[item.id] for item in new]


def new_row(item: NewTask, now: datetime) -> dict[str, Any]:
    return {
        "id": item.id,
        "task_type": item.task_type,
        "status": TaskStatus.PENDING.value,
        "version": 1,
        "params": item.params,
        "metadata": item.metadata,
        "owner_id": item.owner_id,
        "assigned_node_id": item.assigned_node_id,
        "priority": item.priority,
        "attempts": 0,
        "max_attempts": item.max_attempts,
        "run_at": item.run_at,
        "timeout_seconds": item.timeout_seconds,
        "original_task_id": item.original_task_id,
        "required_labels": item.required_labels,
        "progress_seq": 0,
        "runs": 0,
        "job_id": item.job_id,
        "chunk_index": item.chunk_index,
        "traceparent": item.traceparent,
        "created_at": now,
        "updated_at": now,
    }


_GET_TASK = select(tasks).where(tasks.c.id == bindparam("id", type_=Text()))
_GET_TASKS = select(tasks).where(tasks.c.id.in_(bindparam("ids", expanding=True)))


async def get_task(conn: AsyncConnection, task_id: str) -> Task | None:
    row = (await conn.execute(_GET_TASK, {"id": task_id})).mappings().first()
    return row_to_task(row) if row else None


async def get_tasks(conn: AsyncConnection, task_ids: Iterable[str]) -> dict[str, Task]:
    ids = list(set(task_ids))
    if not ids:
        return {}
    result = await conn.execute(_GET_TASKS, {"ids": ids})
    return {task.id: task for task in map(row_to_task, result.mappings())}


async def apply_transition(
    conn: AsyncConnection, tr: Transition, node_owners: Mapping[str, str | None] = NO_OWNERS
) -> Task | None:
    """The guarded write: zero rows means the task moved since it was read.

    A transition that ends a run also records the run, only if the write won.
    ``node_owners``: nodes' owners the caller has read in this transaction, which
    paying a chunk then need not look up (``chunk_ledger.chunks_ended``).
    """
    task = await _apply_one(conn, tr)
    if task is not None and tr.attempt is not None:
        await attempt_store.record(conn, [tr.attempt])
    if task is not None and task.job_id is not None:
        await chunk_ledger.chunks_ended(conn, [task], node_owners)
    return task


async def _apply_one(conn: AsyncConnection, tr: Transition) -> Task | None:
    values = column_values(tr.values())
    params = {"_id": tr.task_id, "_from": tr.from_status.value, "_version": tr.expected_version}
    params.update({f"v_{key}": value for key, value in values.items()})
    stmt = _guarded_update(tuple(sorted(values)))
    row = (await conn.execute(stmt, params)).mappings().first()
    return row_to_task(row) if row else None


@cache
def _guarded_update(keys: tuple[str, ...]) -> Update:
    """One statement per set of changed columns, built once: every finish runs one,
    and building a fresh expression cost more than SQLite took to run it."""
    return (
        update(tasks)
        .where(
            tasks.c.id == bindparam("_id"),
            tasks.c.status == bindparam("_from"),
            tasks.c.version == bindparam("_version"),
        )
        .values(
            {
                **{key: bindparam(f"v_{key}", type_=tasks.c[key].type) for key in keys},
                "version": tasks.c.version + 1,
            }
        )
        .returning(*TASK_COLUMNS)
    )


async def apply_transitions(
    conn: AsyncConnection,
    transitions: Sequence[Transition],
    node_owners: Mapping[str, str | None] = NO_OWNERS,
) -> dict[str, Task]:
    """Many guarded writes at once; a task missing from the answer had moved meanwhile.

    On PostgreSQL transitions of the same shape go out as one ``UPDATE … FROM
    (VALUES …)``: a batch of 200 finishes costs a few round trips, not 200. SQLite
    runs in-process, where a round trip costs next to nothing, so it loops.
    """
    if conn.dialect.name != "postgresql":
        done: dict[str, Task] = {}
        for tr in transitions:
            task = await _apply_one(conn, tr)
            if task is not None:
                done[task.id] = task
    else:
        done = await _apply_grouped(conn, transitions)
    # The runs these transitions ended, in one INSERT for the whole batch.
    ended = [tr.attempt for tr in transitions if tr.attempt is not None and tr.task_id in done]
    await attempt_store.record(conn, ended)
    # Chunks pay or release in this same transaction (store/chunk_ledger.py).
    await chunk_ledger.chunks_ended(conn, done.values(), node_owners)
    return done


async def _apply_grouped(
    conn: AsyncConnection, transitions: Sequence[Transition]
) -> dict[str, Task]:
    groups: dict[tuple[str, tuple[str, ...]], list[Transition]] = {}
    for tr in transitions:
        shape = (tr.from_status.value, tuple(sorted(tr.values())))
        groups.setdefault(shape, []).append(tr)
    updated: dict[str, Task] = {}
    for (from_status, keys), group in groups.items():
        updated.update(await _apply_group(conn, from_status, keys, group))
    return updated


# unnest() element types for the batched update; JSON travels as text and is cast
# back, so one statement text serves every batch size (compiled and prepared once).
def _array_type(key: str) -> tuple[TypeEngine[Any], str]:
    col_type = tasks.c[key].type
    if isinstance(col_type, UTCDateTime):
        return ARRAY(DateTime(timezone=True)), "timestamptz"
    if isinstance(col_type, Integer):
        return ARRAY(BigInteger()), "bigint"
    if isinstance(col_type, JSON):
        return ARRAY(Text()), "jsonb"
    return ARRAY(Text()), "text"


def _array_value(key: str, value: Any) -> Any:
    if isinstance(tasks.c[key].type, JSON):
        return json.dumps(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


async def _apply_group(
    conn: AsyncConnection, from_status: str, keys: tuple[str, ...], group: list[Transition]
) -> dict[str, Task]:
    rows_in = [column_values(tr.values()) for tr in group]
    params: dict[str, Any] = {
        "_ids": [tr.task_id for tr in group],
        "_versions": [tr.expected_version for tr in group],
        "_from": from_status,
        **{key: [_array_value(key, row[key]) for row in rows_in] for key in keys},
    }
    rows = (await conn.execute(_group_statement(keys), params)).mappings().all()
    return {task.id: task for task in map(row_to_task, rows)}


@cache
def _group_statement(keys: tuple[str, ...]) -> TextualSelect:
    """The batched guarded update for one shape of transition, built once per shape
    (a handful exist: complete, fail, retry, release, ...)."""
    typed = {key: _array_type(key) for key in keys}
    assignments = ", ".join(f"{key} = CAST(incoming.{key} AS {typed[key][1]})" for key in keys)
    columns = ", ".join(f"tasks.{c.name}" for c in TASK_COLUMNS)
    sql = (
        f"UPDATE tasks SET {assignments}, version = tasks.version + 1 "
        f"FROM unnest(:_ids, :_versions, {', '.join(':' + k for k in keys)}) "
        f"AS incoming(_id, _version, {', '.join(keys)}) "
        "WHERE tasks.id = incoming._id AND tasks.version = incoming._version "
        f"AND tasks.status = :_from RETURNING {columns}"
    )
    return (
        text(sql)
        .bindparams(
            bindparam("_ids", type_=ARRAY(Text())),
            bindparam("_versions", type_=ARRAY(BigInteger())),
            *(bindparam(key, type_=typed[key][0]) for key in keys),
        )
        .columns(*TASK_COLUMNS)
    )


def column_values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: (v.value if isinstance(v, TaskStatus) else v) for key, v in values.items()}


async def expired_leases(conn: AsyncConnection, now: datetime, limit: int) -> list[Task]:
    stmt = (
        select(tasks)
        .where(tasks.c.status == TaskStatus.IN_PROGRESS.value, tasks.c.lease_expires_at < now)
        .order_by(tasks.c.lease_expires_at)
        .limit(limit)
    )
    return [row_to_task(row) for row in (await conn.execute(stmt)).mappings()]


async def leased_by(
    conn: AsyncConnection, node_id: str, task_ids: Sequence[str] | None = None
) -> list[Task]:
    stmt = select(tasks).where(
        tasks.c.lease_owner == node_id, tasks.c.status == TaskStatus.IN_PROGRESS.value
    )
    if task_ids is not None:
        stmt = stmt.where(tasks.c.id.in_(list(task_ids)))
    return [row_to_task(row) for row in (await conn.execute(stmt)).mappings()]


async def pending_pinned_to(conn: AsyncConnection, node_id: str) -> list[Task]:
    stmt = select(tasks).where(
        tasks.c.assigned_node_id == node_id, tasks.c.status == TaskStatus.PENDING.value
    )
    return [row_to_task(row) for row in (await conn.execute(stmt)).mappings()]


async def extend_leases(
    conn: AsyncConnection, node_id: str, held: Sequence[Task], now: datetime
) -> set[str]:
    """Push each held lease ``lease_seconds`` past now; returns the ids extended.

    Grouped by lease length so that a heartbeat for many tasks is a few statements.
    """
    by_length: dict[int, list[str]] = {}
    for task in held:
        by_length.setdefault(task.lease_seconds or 0, []).append(task.id)
    extended: set[str] = set()
    for seconds, ids in by_length.items():
        stmt = (
            update(tasks)
            .where(
                tasks.c.id.in_(ids),
                tasks.c.lease_owner == node_id,
                tasks.c.status == TaskStatus.IN_PROGRESS.value,
            )
            .values(lease_expires_at=now + timedelta(seconds=seconds))
            .returning(tasks.c.id)
        )
        extended.update((await conn.execute(stmt)).scalars())
    return extended


async def cancelled_for(conn: AsyncConnection, node_id: str, task_ids: Sequence[str]) -> list[str]:
    """Which of these tasks were cancelled while pinned to or running on the node.

    A cancel clears the lease, so "running on it" is read from the run the cancel
    ended (its attempt record names the node)."""
    if not task_ids:
        return []
    ended_here = (
        select(task_attempts.c.task_id)
        .where(
            task_attempts.c.task_id == tasks.c.id,
            task_attempts.c.node_id == node_id,
            task_attempts.c.outcome == "cancelled",
        )
        .exists()
    )
    stmt = select(tasks.c.id).where(
        tasks.c.id.in_(list(task_ids)),
        tasks.c.status == TaskStatus.CANCELLED.value,
        or_(tasks.c.assigned_node_id == node_id, ended_here),
    )
    return [row.id for row in await conn.execute(stmt)]


async def assigned_to(conn: AsyncConnection, node_id: str, limit: int) -> list[Task]:
    """Open tasks pinned to or held by a node (seed 000's ``GET /tasks/assigned``)."""
    open_statuses = [TaskStatus.PENDING.value, TaskStatus.IN_PROGRESS.value]
    stmt = (
        select(tasks)
        .where(
            tasks.c.status.in_(open_statuses),
            or_(tasks.c.assigned_node_id == node_id, tasks.c.lease_owner == node_id),
        )
        .order_by(tasks.c.priority.desc(), tasks.c.run_at)
        .limit(limit)
    )
    return [row_to_task(row) for row in (await conn.execute(stmt)).mappings()]


# Built once, like the claim: a task may report progress many times a second.
_NUMBER_PROGRESS = (
    update(tasks)
    .where(
        tasks.c.id == bindparam("_id"),
        tasks.c.status == TaskStatus.IN_PROGRESS.value,
        tasks.c.lease_owner == bindparam("_node"),
    )
    .values(progress_seq=tasks.c.progress_seq + 1)
    .returning(tasks.c.progress_seq, tasks.c.lease_seconds)
)
_EXTEND_LEASE = (
    update(tasks)
    .where(tasks.c.id == bindparam("_id"))
    .values(lease_expires_at=bindparam("_expires", type_=UTCDateTime()))
)


async def bump_progress(
    conn: AsyncConnection, task_id: str, node_id: str, now: datetime
) -> int | None:
    """Take the next progress number and extend the lease; None if no longer held.

    Only small columns are read or written, so a burst of progress never reads or
    rewrites the task's params or result; the row lock taken by the first UPDATE
    serialises numbering.
    """
    row = (await conn.execute(_NUMBER_PROGRESS, {"_id": task_id, "_node": node_id})).first()
    if row is None:
        return None
    expires = now + timedelta(seconds=row.lease_seconds or 0)
    await conn.execute(_EXTEND_LEASE, {"_id": task_id, "_expires": expires})
    return int(row.progress_seq)


async def count_by_status(conn: AsyncConnection) -> dict[str, int]:
    stmt = select(tasks.c.status, func.count()).group_by(tasks.c.status)
    return {status: count for status, count in (await conn.execute(stmt)).all()}


def encode_cursor(task: Task) -> str:
    return encode_key(task.created_at, task.id)


async def list_tasks(
    conn: AsyncConnection, flt: TaskFilter, cursor: str | None, limit: int
) -> tuple[list[Task], str | None]:
    """Newest first, keyset-paginated so a page costs the same at any depth."""
    stmt = newest_first(tasks, filter_conditions(flt), cursor, limit)
    found = [row_to_task(row) for row in (await conn.execute(stmt)).mappings()]
    page = found[:limit]
    return page, (encode_cursor(page[-1]) if len(found) > limit else None)
