"""Node registry rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from conveyor.domain.nodes import Node
from conveyor.domain.states import NodeHealth, NodeKind, NodeStatus
from conveyor.errors import Conflict
from conveyor.store.database import Connection
from conveyor.store.schema import nodes


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
) -> list[Node]:
    stmt = select(nodes).order_by(nodes.c.created_at, nodes.c.id)
    if kind is not None:
        stmt = stmt.where(nodes.c.kind == kind.value)
    if status is not None:
        stmt = stmt.where(nodes.c.status == status.value)
    if health is not None:
        stmt = stmt.where(nodes.c.health == health.value)
    return [row_to_node(row) for row in (await conn.execute(stmt)).mappings()]


async def update_node(conn: Connection, node_id: str, **values: Any) -> Node | None:
    """Write the given columns (enums as their values); ``bump_credentials`` ends old tokens."""
    if values.pop("bump_credentials", False):
        values["credential_version"] = nodes.c.credential_version + 1
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


async def check_in(conn: Connection, node_id: str, now: datetime) -> Node | None:
    """Record a node's sign of life and read it back, row-locked.

    On PostgreSQL the ``UPDATE`` holds the node's row lock until the claim's
    transaction ends, so two concurrent claims by one node take turns and the
    capacity check below them cannot be raced past ``max_concurrency``.
    """
    stmt = (
        update(nodes)
        .where(nodes.c.id == node_id)
        .values(last_seen=now, health=NodeHealth.HEALTHY.value)
        .returning(*nodes.c)
    )
    row = (await conn.execute(stmt)).mappings().first()
    return row_to_node(row) if row else None
