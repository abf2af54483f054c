"""The node registry: admins register pull and push nodes and manage them."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field

from conveyor.domain.access import Principal
from conveyor.domain.nodes import Node
from conveyor.domain.states import NodeHealth, NodeKind, NodeStatus
from conveyor.errors import Forbidden, InvalidInput, NotFound
from conveyor.services.runtime import Runtime
from conveyor.store import nodes as node_store

NODE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
DEFAULT_MAX_CONCURRENCY = 100


@dataclass(frozen=True, slots=True)
class NodeSpec:
    name: str
    kind: NodeKind = NodeKind.PULL
    node_id: str | None = None
    url: str | None = None
    task_types: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    owner_id: str | None = None


@dataclass(frozen=True, slots=True)
class NodeChanges:
    status: NodeStatus | None = None
    task_types: list[str] | None = None
    labels: dict[str, str] | None = None
    max_concurrency: int | None = None
    name: str | None = None
    url: str | None = None
    rotate_secret: bool = False


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class NodeService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def register(self, who: Principal, spec: NodeSpec) -> tuple[Node, str]:
        """Create a node; its secret is returned here once and stored only hashed."""
        _require_admin(who)
        node_id = spec.node_id or f"node-{uuid.uuid4().hex[:12]}"
        if not NODE_ID.match(node_id):
            raise InvalidInput("invalid node id", details=[{"field": "node_id"}])
        if spec.kind is NodeKind.PUSH and not spec.url:
            raise InvalidInput("a push node needs a url", details=[{"field": "url"}])
        secret = new_secret()
        now = self.rt.clock.now()
        node = Node(
            id=node_id,
            name=spec.name,
            kind=spec.kind,
            url=spec.url,
            task_types=spec.task_types,
            labels=spec.labels,
            max_concurrency=spec.max_concurrency,
            owner_id=spec.owner_id,
            status=NodeStatus.ACTIVE,
            health=NodeHealth.HEALTHY if spec.kind is NodeKind.PULL else NodeHealth.UNHEALTHY,
            secret_hash=await self.rt.hasher.ahash(secret),
            credential_version=1,
            last_seen=None,
            load=None,
            consecutive_failures=0,
            next_check_at=now,
            created_at=now,
            updated_at=now,
        )
        async with self.rt.db.write() as conn:
            await node_store.create_node(conn, node)
        return node, secret

    async def get(self, who: Principal, node_id: str) -> Node:
        _require_admin(who)
        async with self.rt.db.read() as conn:
            node = await node_store.get_node(conn, node_id)
        if node is None:
            raise NotFound(f"node {node_id} not found")
        return node

    async def list(
        self,
        who: Principal,
        kind: NodeKind | None = None,
        status: NodeStatus | None = None,
        health: NodeHealth | None = None,
    ) -> list[Node]:
        _require_admin(who)
        async with self.rt.db.read() as conn:
            return await node_store.list_nodes(conn, kind=kind, status=status, health=health)

    async def update(
        self, who: Principal, node_id: str, changes: NodeChanges
    ) -> tuple[Node, str | None]:
        """Apply changes; returns the node and, when rotated, its new one-time secret."""
        _require_admin(who)
        values: dict[str, object] = {"updated_at": self.rt.clock.now()}
        for name in ("status", "task_types", "labels", "max_concurrency", "name", "url"):
            value = getattr(changes, name)
            if value is not None:
                values[name] = value
        secret = None
        if changes.rotate_secret:
            secret = new_secret()
            values["secret_hash"] = await self.rt.hasher.ahash(secret)
        if changes.rotate_secret or changes.status is NodeStatus.DISABLED:
            values["bump_credentials"] = True
        async with self.rt.db.write() as conn:
            node = await node_store.update_node(conn, node_id, **values)
        if node is None:
            raise NotFound(f"node {node_id} not found")
        return node, secret


def _require_admin(who: Principal) -> None:
    if not who.is_admin:
        raise Forbidden("admins only")
