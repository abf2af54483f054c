"""Node registry rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from conveyor.domain.nodes import Node
from conveyor.domain.states import NodeHealth, NodeKind, NodeStatus, TaskStatus
from conveyor.errors import Conflict
from conveyor.store.database import Connection
from conveyor.store.schema import nodes, tasks, users
from conveyor.store.types import UTCDateTime, timestamp


def row_to_node(row: RowMapping) -> Node:
    return Node(
        id=row["id"],
        name=row["name"],
        kind=NodeKind(row["kind"]),
        url=row["url"],
        task_types=list(row["task_types"] or []),
        labels=dict(row["labels"] or {}),
        max_concurrency=row["max_concurrency"],
        owner_id=row["owner_id"],
        status=NodeStatus(row["status"]),
        health=NodeHealth(row["health"]),
        secret_hash=row["secret_hash"],
        credential_version=row["credential_version"],
        last_seen=row["last_seen"],
        load=row["load"],
        consecutive_failures=row["consecutive_failures"],
        next_check_at=row["next_check_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        secret_version=row["secret_version"],
    )


async def create_node(conn: Connection, node: Node) -> Node:
    values = {
        "id": node.id,
        "name": node.name,
        "kind": node.kind.value,
        "url": node.url,
        "task_types": node.task_types,
        "labels": node.labels,
        "max_concurrency": node.max_concurrency,
        "owner_id": node.owner_id,
        "status": node.status.value,
        "health": node.health.value,
        "secret_hash": node.secret_hash,
        "credential_version": node.credential_version,
        "last_seen": node.last_seen,
        "load": node.load,
        "consecutive_failures": node.consecutive_failures,
        "next_check_at": node.next_check_at,
        "created_at": node.created_at,
        "updated_at": node.updated_at,
        "secret_version": node.secret_version,
    }
    try:
        await conn.execute(insert(nodes).values(**values))
    except IntegrityError as exc:
        raise Conflict("a node with this id already exists") from exc
    return node


async def get_node(conn: Connection, node_id: str) -> Node | None:
    row = (await conn.execute(select(nodes).where(nodes.c.id == node_id))).mappings().first()
    return row_to_node(row) if row else None


async def list_nodes(
    conn: Connection,
    *,
    kind: NodeKind | None = None,
    status: NodeStatus | None = None,
    health: NodeHealth | None = None,
    owner_id: str | None = None,
) -> list[Node]:
    stmt = select(nodes).order_by(nodes.c.created_at, nodes.c.id)
    if owner_id is not None:
        stmt = stmt.where(nodes.c.owner_id == owner_id)
    if kind is not None:
        stmt = stmt.where(nodes.c.kind == kind.value)
    if status is not None:
        stmt = stmt.where(nodes.c.status == status.value)
    if health is not None:
        stmt = stmt.where(nodes.c.health == health.value)
    return [row_to_node(row) for row in (await conn.execute(stmt)).mappings()]


async def update_node(conn: Connection, node_id: str, **values: Any) -> Node | None:
    """Write the given columns (enums as their values).

    ``bump_credentials`` ends old tokens; ``bump_secret`` moves to the next derived
    secret (the caller then stores its hash in the same transaction).
    """
    if values.pop("bump_credentials", False):
        values["credential_version"] = nodes.c.credential_version + 1
    if values.pop("bump_secret", False):
        values["secret_version"] = nodes.c.secret_version + 1
    plain = {k: getattr(v, "value", v) for k, v in values.items()}
    stmt = update(nodes).where(nodes.c.id == node_id).values(**plain).returning(*nodes.c)
    row = (await conn.execute(stmt)).mappings().first()
    return row_to_node(row) if row else None


async def touch_nodes(conn: Connection, node_ids: Sequence[str], now: datetime) -> None:
    """Record that nodes were heard from; a heard node is healthy again."""
    if node_ids:
        await conn.execute(
            update(nodes)
            .where(nodes.c.id.in_(list(node_ids)))
            .values(last_seen=now, health=NodeHealth.HEALTHY.value)
        )


async def delete_node(conn: Connection, node_id: str) -> bool:
    result = await conn.execute(delete(nodes).where(nodes.c.id == node_id))
    return bool(result.rowcount)


# Built once: every claim runs it, and building it cost more than running it.
_CHECK_IN = (
    update(nodes)
    .where(nodes.c.id == bindparam("node_id"))
    .values(last_seen=bindparam("now", type_=UTCDateTime()), health=NodeHealth.HEALTHY.value)
    .returning(*nodes.c)
)


async def check_in(conn: Connection, node_id: str, now: datetime) -> Node | None:
    """Record a node's sign of life and read it back, row-locked.

    On PostgreSQL the ``UPDATE`` holds the node's row lock until the claim's
    transaction ends, so two concurrent claims by one node take turns and the
    claim's count of the tasks the node holds (store/claim.py) cannot be raced
    past ``max_concurrency``.
    """
    row = (await conn.execute(_CHECK_IN, {"node_id": node_id, "now": now})).mappings().first()
    return row_to_node(row) if row else None


def _heard_at() -> Any:
    """When a node was last heard from; a node never heard from counts from creation."""
    return func.coalesce(nodes.c.last_seen, nodes.c.created_at)


async def hold_for_pin(conn: Connection, node_id: str, owner_id: str | None = None) -> bool:
    """Whether the node exists, kept so until this transaction ends.

    A pin checked in one transaction and written in another could name a node
    deleted in between, and the task would wait for it forever. ``FOR KEY SHARE``
    makes a concurrent delete wait for this transaction (and then cancel the pinned
    task) without blocking the node's check-ins and claims, which only update it.
    SQLite writers are serialised already.
    """
    stmt = select(nodes.c.id).where(nodes.c.id == node_id)
    if owner_id is not None:
        # A user may pin to its own nodes and the admins' (which run everyone's
        # work); another user's node is as good as missing.
        stmt = stmt.where(or_(nodes.c.owner_id.is_(None), nodes.c.owner_id == owner_id))
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=True, key_share=True)
    return (await conn.execute(stmt)).first() is not None


async def count_owned(conn: Connection, owner_id: str) -> int:
    """How many nodes a user owns, with the user's row locked (PostgreSQL) until the
    transaction ends, so two registrations at once cannot both fit under the limit."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(users.c.id).where(users.c.id == owner_id).with_for_update())
    stmt = select(func.count()).select_from(nodes).where(nodes.c.owner_id == owner_id)
    return int((await conn.execute(stmt)).scalar_one())


async def lock_node(conn: Connection, node_id: str) -> Node | None:
    """Read a node row-locked (PostgreSQL) without recording a sign of life.

    The dispatcher claims on a push node's behalf: like ``check_in`` it must
    serialise claims for one node, but it is no proof the node is alive.
    """
    stmt = select(nodes).where(nodes.c.id == node_id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).mappings().first()
    return row_to_node(row) if row else None


async def mark_silent_pull_nodes(
    conn: Connection, cutoff: datetime, from_health: Sequence[NodeHealth], to: NodeHealth
) -> list[str]:
    """Move pull nodes not heard from since ``cutoff`` to ``to``; returns their ids."""
    stmt = (
        update(nodes)
        .where(
            nodes.c.kind == NodeKind.PULL.value,
            nodes.c.health.in_([h.value for h in from_health]),
            _heard_at() < timestamp(cutoff),
        )
        .values(health=to.value)
        .returning(nodes.c.id)
    )
    return list((await conn.execute(stmt)).scalars())


async def push_nodes_due(conn: Connection, now: datetime, limit: int) -> list[Node]:
    """Push nodes whose next health probe is due (disabled ones are left alone)."""
    stmt = (
        select(nodes)
        .where(
            nodes.c.kind == NodeKind.PUSH.value,
            nodes.c.status != NodeStatus.DISABLED.value,
            or_(nodes.c.next_check_at.is_(None), nodes.c.next_check_at <= timestamp(now)),
        )
        .order_by(nodes.c.next_check_at)
        .limit(limit)
    )
    return [row_to_node(row) for row in (await conn.execute(stmt)).mappings()]


async def add_failure(conn: Connection, node_id: str) -> int | None:
    """Count one more consecutive failure, atomically; returns the new count."""
    stmt = (
        update(nodes)
        .where(nodes.c.id == node_id)
        .values(consecutive_failures=nodes.c.consecutive_failures + 1)
        .returning(nodes.c.consecutive_failures)
    )
    count = (await conn.execute(stmt)).scalar()
    return None if count is None else int(count)


async def dead_since(conn: Connection, cutoff: datetime) -> list[str]:
    """Ids of dead nodes not heard from since ``cutoff``."""
    stmt = select(nodes.c.id).where(
        nodes.c.health == NodeHealth.DEAD.value, _heard_at() < timestamp(cutoff)
    )
    return list((await conn.execute(stmt)).scalars())


async def task_counts(conn: Connection, node_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Per node: tasks it holds in progress, and tasks it completed.

    A completed task keeps its ``lease_owner``: that is who finished it. Both
    counts read partial indexes (in progress, completed) only.
    """
    counts = {node_id: (0, 0) for node_id in node_ids}
    if not node_ids:
        return counts
    for position, status in enumerate((TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED)):
        stmt = (
            select(tasks.c.lease_owner, func.count())
            .where(tasks.c.status == status.value, tasks.c.lease_owner.in_(list(node_ids)))
            .group_by(tasks.c.lease_owner)
        )
        for owner, count in (await conn.execute(stmt)).all():
            pair = list(counts[owner])
            pair[position] = int(count)
            counts[owner] = (pair[0], pair[1])
    return counts
