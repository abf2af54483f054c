"""Node health: silent pull nodes go unhealthy then dead, push nodes are probed.

A node declared dead has its leases expired at once (an attempt charged, as when
a lease lapses) instead of waiting out each lease: DESIGN §2 "Nothing lost".
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx

from conveyor.domain.health import PushHealthPolicy
from conveyor.domain.nodes import Node
from conveyor.domain.states import NodeHealth
from conveyor.domain.transitions import Event
from conveyor.observability.logging import get_logger
from conveyor.services.leases import release_node_leases
from conveyor.services.runtime import Runtime
from conveyor.services.unit import unit_of_work
from conveyor.store import nodes as node_store

log = get_logger(__name__)
PROBE_BATCH = 200


def push_policy(rt: Runtime) -> PushHealthPolicy:
    s = rt.settings
    return PushHealthPolicy(
        unhealthy_after_failures=s.push_unhealthy_after_failures,
        dead_after_failures=s.push_dead_after_failures,
        healthy_interval=s.push_probe_healthy_seconds,
        failing_interval=s.push_probe_failing_seconds,
        dead_interval=s.push_probe_dead_seconds,
    )


class HealthService:
    def __init__(self, rt: Runtime, http: httpx.AsyncClient | None = None) -> None:
        self.rt = rt
        self.policy = push_policy(rt)
        self.http = http or httpx.AsyncClient(
            timeout=rt.settings.push_probe_timeout_seconds, follow_redirects=False
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def check_pull_nodes(self, now: datetime) -> list[str]:
        """Mark silent pull nodes; returns the ids newly declared dead."""
        s = self.rt.settings
        healthy, unhealthy = NodeHealth.HEALTHY, NodeHealth.UNHEALTHY
        async with unit_of_work(self.rt) as unit:
            await node_store.mark_silent_pull_nodes(
                unit.conn,
                now - timedelta(seconds=s.node_unhealthy_after_seconds),
                [healthy],
                unhealthy,
            )
            dead = await node_store.mark_silent_pull_nodes(
                unit.conn,
                now - timedelta(seconds=s.node_dead_after_seconds),
                [healthy, unhealthy],
                NodeHealth.DEAD,
            )
            for node_id in dead:
                await release_node_leases(unit, self.rt, node_id, Event.EXPIRE)
        for node_id in dead:
            log.warning("node declared dead", node_id=node_id)
        return dead

    async def probe_push_nodes(self, now: datetime) -> int:
        """Probe every push node whose check is due, concurrently; returns how many."""
        async with self.rt.db.read() as conn:
            due = await node_store.push_nodes_due(conn, now, PROBE_BATCH)
        answers = await asyncio.gather(*(self._probe(node) for node in due))
        for node, ok in zip(due, answers, strict=True):
            await self.record(node.id, ok, now)
        return len(due)

    async def _probe(self, node: Node) -> bool:
        try:
            response = await self.http.get(f"{(node.url or '').rstrip('/')}/health")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def record(self, node_id: str, ok: bool, now: datetime) -> NodeHealth | None:
        """Count a probe's or a dispatch's outcome; a node that dies loses its leases."""
        async with unit_of_work(self.rt) as unit:
            if ok:
                node = await node_store.update_node(
                    unit.conn,
                    node_id,
                    consecutive_failures=0,
                    health=NodeHealth.HEALTHY,
                    last_seen=now,
                    next_check_at=now + timedelta(seconds=self.policy.healthy_interval),
                )
                return None if node is None else node.health
            failures = await node_store.add_failure(unit.conn, node_id)
            if failures is None:
                return None
            health = self.policy.health(failures)
            delay = self.policy.next_probe_in(failures)
            await node_store.update_node(
                unit.conn, node_id, health=health, next_check_at=now + timedelta(seconds=delay)
            )
            if failures == self.policy.dead_after_failures:
                await release_node_leases(unit, self.rt, node_id, Event.EXPIRE)
        return health
