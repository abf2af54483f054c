"""One submit in one statement on PostgreSQL: the task and its idempotency key.

A single submit with a key was four round trips (BEGIN, the task's insert, the
key's insert, COMMIT). Here the key goes in first, in a CTE, and the task only if
the key did: one statement, so one round trip and its own transaction. A key
already taken (a repeat, or a racing first request that committed first: ``ON
CONFLICT DO NOTHING`` waits for it) inserts nothing at all, and the caller
replays the stored answer, exactly as the transactional path does.

SQLite cannot put an ``INSERT`` in a CTE; it keeps the transactional path, where
round trips cost nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, exists, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.domain.tasks import NewTask, Task
from conveyor.errors import Conflict
from conveyor.store.idempotency import StoredResponse, key_row
from conveyor.store.schema import idempotency_keys, tasks
from conveyor.store.tasks import new_row, row_to_task

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The columns a new task's insert writes, as new_row (the transactional path) has them.
_WRITTEN = tuple(new_row(NewTask("", "", {}, {}, None, None, 0, 1, _EPOCH, None), _EPOCH))
_UNWRITTEN = tuple(c.name for c in tasks.c if c.name not in _WRITTEN)
_KEY_COLUMNS = tuple(c.name for c in idempotency_keys.c)


def _build() -> Any:
    key = (
        pg_insert(idempotency_keys)
        .from_select(
            _KEY_COLUMNS,
            select(*(bindparam(f"k_{c}", type_=idempotency_keys.c[c].type) for c in _KEY_COLUMNS)),
        )
        .on_conflict_do_nothing(index_elements=["principal_id", "key"])
        .returning(idempotency_keys.c.key)
        .cte("new_key")
    )
    values = select(*(bindparam(c, type_=tasks.c[c].type) for c in _WRITTEN))
    return (
        insert(tasks)
        .from_select(_WRITTEN, values.where(exists(select(key.c.key))))
        .add_cte(key)
        .returning(tasks.c.id)
    )


_INSERT_WITH_KEY = _build()
_INSERT = insert(tasks).returning(tasks.c.id)


def as_created(item: NewTask, now: datetime) -> Task:
    """The task exactly as its insert stores it (what a read would return)."""
    return row_to_task({**new_row(item, now), **dict.fromkeys(_UNWRITTEN)})


async def insert_task(
    conn: AsyncConnection,
    item: NewTask,
    now: datetime,
    key: tuple[str, str, StoredResponse] | None = None,
) -> bool:
    """Insert one task, with ``(principal_id, key, answer)`` kept beside it if given.

    False when the key was already taken (then nothing was written). Run it on a
    connection outside a transaction (``Database.single_statement``).
    """
    params = new_row(item, now)
    if key is not None:
        params.update({f"k_{name}": v for name, v in key_row(*key, now).items()})
    try:
        result = await conn.execute(_INSERT_WITH_KEY if key is not None else _INSERT, params)
    except IntegrityError as exc:
        raise Conflict("a task with this id already exists") from exc
    return result.first() is not None
