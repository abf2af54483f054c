"""Importing a fleet with the secrets its nodes already have (seed 000's ``nodes`` table).

Registration makes up a node's secret; a fleet moving over keeps its own, so that
no worker's configuration changes. The chosen secret is stored only as an argon2
hash, like every other; the import is all or nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from conveyor.domain.access import Principal
from conveyor.domain.nodes import Node
from conveyor.domain.states import NodeHealth, NodeKind, NodeStatus
from conveyor.errors import Forbidden, InvalidInput
from conveyor.services.nodes import DEFAULT_MAX_CONCURRENCY, NODE_ID
from conveyor.services.runtime import Runtime
from conveyor.store import nodes as node_store

MIN_SECRET, MAX_SECRET = 8, 256


@dataclass(frozen=True, slots=True)
class ImportedNode:
    node_id: str
    node_secret: str
    is_active: bool = True
    name: str | None = None


def check_imports(items: Sequence[ImportedNode]) -> None:
    problems = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not NODE_ID.match(item.node_id):
            problems.append({"field": f"nodes.{i}.node_id", "message": "1-64 of A-Z a-z 0-9 _.:-"})
        if not MIN_SECRET <= len(item.node_secret) <= MAX_SECRET:
            problems.append(
                {
                    "field": f"nodes.{i}.node_secret",
                    "message": f"{MIN_SECRET} to {MAX_SECRET} characters",
                }
            )
        if item.node_id in seen:
            problems.append({"field": f"nodes.{i}.node_id", "message": "listed twice"})
        seen.add(item.node_id)
    if problems:
        raise InvalidInput("invalid nodes", details=problems)


async def import_nodes(rt: Runtime, who: Principal, items: Sequence[ImportedNode]) -> list[Node]:
    """Create pull nodes with operator-chosen secrets; ``409`` if any id is taken."""
    if not who.is_admin:
        raise Forbidden("admins only")
    check_imports(items)
    now = rt.clock.now()
    created = [
        Node(
            id=item.node_id,
            name=item.name or item.node_id,
            kind=NodeKind.PULL,
            url=None,
            task_types=[],
            labels={},
            max_concurrency=DEFAULT_MAX_CONCURRENCY,
            owner_id=None,
            status=NodeStatus.ACTIVE if item.is_active else NodeStatus.DISABLED,
            health=NodeHealth.HEALTHY,
            secret_hash=await rt.hasher.ahash(item.node_secret),
            # Random, as at registration: tokens of a deleted node of the same id stay dead.
            credential_version=secrets.randbelow(2**30) + 1,
            last_seen=None,
            load=None,
            consecutive_failures=0,
            next_check_at=now,
            created_at=now,
            updated_at=now,
            secret_version=secrets.randbelow(2**30) + 1,
        )
        for item in items
    ]
    async with rt.db.write() as conn:
        for node in created:
            await node_store.create_node(conn, node)
    return created
