"""Node health as a periodic duty: pull nodes by silence, push nodes by probes."""

from __future__ import annotations

from datetime import datetime

from conveyor.services.health import HealthService
from conveyor.services.runtime import Runtime


class NodeHealthDuty:
    name = "node_health"

    def __init__(self, rt: Runtime, service: HealthService | None = None) -> None:
        self.service = service or HealthService(rt)

    async def run_once(self, now: datetime) -> int:
        dead = await self.service.check_pull_nodes(now)
        probed = await self.service.probe_push_nodes(now)
        return len(dead) + probed

    async def close(self) -> None:
        await self.service.close()
