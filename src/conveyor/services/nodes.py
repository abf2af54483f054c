"""The node registry: admins register pull and push nodes and manage them."""

from __future__ import annotations

import builtins
import re
import secrets
import uuid
from dataclasses import dataclass, field, replace
from datetime import timedelta

from conveyor.domain.access import Principal
from conveyor.domain.jobs import RUNTIME_LABEL_VALUE, runtime_label
from conveyor.domain.nodes import Node
from conveyor.domain.states import NodeHealth, NodeKind, NodeStatus
from conveyor.domain.transitions import Event
from conveyor.errors import Conflict, Forbidden, InvalidInput, NotFound
from conveyor.services.credentials import node_key
from conveyor.services.leases import cancel_pinned, release_node_leases
from conveyor.services.runtime import Runtime
from conveyor.services.unit import unit_of_work
from conveyor.store import nodes as node_store

NODE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
RUNTIME_PREFIX = runtime_label("")
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


@dataclass(frozen=True, slots=True)
class NodeView:
    """A node with what it is doing: tasks held now, tasks it has completed."""

    node: Node
    in_flight: int
    finished: int


@dataclass(frozen=True, slots=True)
class NodeFilter:
    kind: NodeKind | None = None
    status: NodeStatus | None = None
    health: NodeHealth | None = None
    task_type: str | None = None
    label: tuple[str, str] | None = None

    def admits(self, node: Node) -> bool:
        """The filters a JSON column would make dialect-specific, applied here."""
        # A node without types takes every type.
        if self.task_type is not None and node.task_types and self.task_type not in node.task_types:
            return False
        if self.label is not None:
            return node.labels.get(self.label[0]) == self.label[1]
        return True


class NodeService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def register(self, who: Principal, spec: NodeSpec) -> tuple[Node, str]:
        """Create a node; its secret is returned here once and stored only hashed.

        A user registers a pull node it owns (a provider's, paid for its chunks), up
        to ``max_nodes_per_user``; push nodes are admins' (the server calls their URL).
        """
        if who.is_node:
            raise Forbidden("nodes cannot register nodes")
        if not who.is_admin:
            if spec.owner_id not in (None, who.id):
                raise Forbidden("only admins register nodes for someone else")
            if spec.kind is not NodeKind.PULL:
                raise Forbidden("only admins register push nodes")
            spec = replace(spec, owner_id=who.id)
        node_id = spec.node_id or f"node-{uuid.uuid4().hex[:12]}"
        if not NODE_ID.match(node_id):
            raise InvalidInput("invalid node id", details=[{"field": "node_id"}])
        if spec.kind is NodeKind.PUSH and not spec.url:
            raise InvalidInput("a push node needs a url", details=[{"field": "url"}])
        # Derived, not random, so the server can sign push requests with it. The
        # first version is random so that a node deleted and registered again
        # under the same id does not get its old secret back; the credential
        # version too, so the old node's tokens (which carry it) stay dead.
        secret_version = secrets.randbelow(2**30) + 1
        credential_version = secrets.randbelow(2**30) + 1
        secret = self.rt.node_secret(node_id, secret_version)
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
            credential_version=credential_version,
            last_seen=None,
            load=None,
            consecutive_failures=0,
            next_check_at=now,
            created_at=now,
            updated_at=now,
            secret_version=secret_version,
        )
        async with self.rt.db.write() as conn:
            if not who.is_admin:
                limit = self.rt.settings.max_nodes_per_user
                if await node_store.count_owned(conn, who.id) >= limit:
                    raise Conflict(
                        f"a user may register at most {limit} nodes", code="node_limit_reached"
                    )
            await node_store.create_node(conn, node)
        return node, secret

    async def get(self, who: Principal, node_id: str) -> Node:
        _require_user(who)
        async with self.rt.db.read() as conn:
            node = await node_store.get_node(conn, node_id)
        if node is None or not _may_manage(who, node):
            raise NotFound(f"node {node_id} not found")
        return node

    async def list(self, who: Principal, flt: NodeFilter | None = None) -> list[NodeView]:
        _require_user(who)
        flt = flt or NodeFilter()
        async with self.rt.db.read() as conn:
            found = await node_store.list_nodes(
                conn,
                kind=flt.kind,
                status=flt.status,
                health=flt.health,
                owner_id=None if who.is_admin else who.id,
            )
            found = [n for n in found if flt.admits(n)]
            counts = await node_store.task_counts(conn, [n.id for n in found])
        return [NodeView(n, *counts[n.id]) for n in found]

    async def view(self, who: Principal, node_id: str) -> NodeView:
        node = await self.get(who, node_id)
        async with self.rt.db.read() as conn:
            counts = await node_store.task_counts(conn, [node.id])
        return NodeView(node, *counts[node.id])

    async def update(
        self, who: Principal, node_id: str, changes: NodeChanges
    ) -> tuple[Node, str | None]:
        """Apply changes; returns the node and, when rotated, its new one-time secret."""
        await self.get(who, node_id)
        if not who.is_admin and changes.url is not None:
            raise Forbidden("only admins set a node's url")
        values: dict[str, object] = {"updated_at": self.rt.clock.now()}
        for name in ("status", "task_types", "labels", "max_concurrency", "name", "url"):
            value = getattr(changes, name)
            if value is not None:
                values[name] = value
        secret = None
        if changes.rotate_secret:
            values["bump_secret"] = True
        if changes.rotate_secret or changes.status is NodeStatus.DISABLED:
            values["bump_credentials"] = True
        async with self.rt.db.write() as conn:
            node = await node_store.update_node(conn, node_id, **values)
            if node is not None and changes.rotate_secret:
                # The new version is known only now; the row stays locked until
                # commit, so the hash written matches the version written.
                secret = self.rt.secret_of(node)
                digest = await self.rt.hasher.ahash(secret)
                node = await node_store.update_node(conn, node_id, secret_hash=digest)
        if node is None:
            raise NotFound(f"node {node_id} not found")
        # Any change, not only a revocation: a node's requests are served from the
        # cached record (its status, types and concurrency decide what it may claim).
        self._changed(node_id)
        return node, secret

    async def advertise_runtimes(self, node: Node, runtimes: builtins.list[str]) -> Node:
        """A node's own ``runtime:<name>=true`` labels: what its sandbox can run now.

        The worker knows what its machine runs (it probes the sandbox at start), so
        these labels are its to set: the other ``runtime:*`` keys go, every other
        label stays the admin's or owner's."""
        wanted = {runtime_label(r): RUNTIME_LABEL_VALUE for r in runtimes}
        labels = {k: v for k, v in node.labels.items() if not k.startswith(RUNTIME_PREFIX)}
        labels.update(wanted)
        if labels == node.labels:
            return node
        async with self.rt.db.write() as conn:
            updated = await node_store.update_node(
                conn, node.id, labels=labels, updated_at=self.rt.clock.now()
            )
        if updated is None:
            raise NotFound(f"node {node.id} not found")
        self._changed(node.id)
        return updated

    def _changed(self, *node_ids: str) -> None:
        for node_id in node_ids:
            self.rt.credentials.announce(self.rt.bus, principal=node_key(node_id))

    async def delete(self, who: Principal, node_id: str) -> builtins.list[str]:
        """Remove a node; the tasks it holds go back to pending at once, and the
        pending tasks pinned to it are cancelled (no other node may run them).

        Released (``Event.RELEASE``), not expired: no attempt is charged, because
        an admin removing a node is no fault of the tasks it held.
        """
        await self.get(who, node_id)
        async with unit_of_work(self.rt) as unit:
            released = await release_node_leases(unit, self.rt, node_id, Event.RELEASE)
            if not await node_store.delete_node(unit.conn, node_id):
                raise NotFound(f"node {node_id} not found")
            await cancel_pinned(unit, self.rt, node_id)
        self._changed(node_id)
        return [t.id for t in released]

    async def cleanup(self, who: Principal, dead_for_seconds: float) -> builtins.list[str]:
        """Delete nodes dead and silent for longer than ``dead_for_seconds``."""
        _require_admin(who)
        cutoff = self.rt.clock.now() - timedelta(seconds=dead_for_seconds)
        async with unit_of_work(self.rt) as unit:
            stale = await node_store.dead_since(unit.conn, cutoff)
            for node_id in stale:
                # Declared dead, its leases were expired already; any taken since
                # (a push node's late answer) are expired the same way.
                await release_node_leases(unit, self.rt, node_id, Event.EXPIRE)
                await node_store.delete_node(unit.conn, node_id)
                await cancel_pinned(unit, self.rt, node_id)
        self._changed(*stale)
        return stale


def _require_admin(who: Principal) -> None:
    if not who.is_admin:
        raise Forbidden("admins only")


def _require_user(who: Principal) -> None:
    if who.is_node:
        raise Forbidden("this is for users and admins, not nodes")


def _may_manage(who: Principal, node: Node) -> bool:
    """Admins manage every node; a user only the nodes it owns (others are not found)."""
    return who.is_admin or node.owner_id == who.id
