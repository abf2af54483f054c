"""Running duties on exactly one replica, on an interval."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from conveyor.clock import Clock
from conveyor.observability.logging import get_logger
from conveyor.store.leader import LeaderLock

log = get_logger(__name__)


class Duty(Protocol):
    name: str

    async def run_once(self, now: datetime) -> int: ...


class DutyRunner:
    """Ticks every ``interval`` seconds; on each tick, if leader, runs every duty once."""

    def __init__(
        self, duties: Sequence[Duty], lock: LeaderLock, clock: Clock, interval: float
    ) -> None:
        self.duties = list(duties)
        self.lock = lock
        self.clock = clock
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="conveyor-duties")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
        await self.lock.release()

    async def tick(self) -> dict[str, int]:
        if not await self.lock.acquire():
            return {}
        done: dict[str, int] = {}
        for duty in self.duties:
            try:
                done[duty.name] = await duty.run_once(self.clock.now())
            except Exception:
                # One failing duty must not stop the others or the loop; it is
                # logged and tried again next tick.
                log.exception("duty failed", duty=duty.name)
        return done

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            await self.tick()
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)
            except TimeoutError:
                continue
