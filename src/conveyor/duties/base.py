"""Running duties on exactly one replica, on an interval.

The loop must outlive anything a tick can throw: a database outage makes taking
the leader lock and every duty fail for as long as it lasts, and a loop that died
then would leave this replica without lease expiry, health checks or dispatch
for good, silently. So every failure is logged, counted
(``conveyor_duty_tick_failures_total``) and retried with backoff, per duty: a
duty that keeps failing is tried less often, and the others run on time.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Protocol

from conveyor.clock import Clock
from conveyor.domain.backoff import backoff_seconds
from conveyor.observability.logging import get_logger
from conveyor.observability.metrics import Metrics
from conveyor.store.leader import LeaderLock

log = get_logger(__name__)
# Retries of a failing duty slow down to this many intervals apart, no more: a
# recovered database is noticed within a few intervals.
BACKOFF_CAP_INTERVALS = 5
LEADER_LOCK = "leader_lock"


class Duty(Protocol):
    name: str

    async def run_once(self, now: datetime) -> int: ...


class Backoff:
    """When a failing thing may be tried again: exponential, jittered, capped."""

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0
        self._rng = rng
        self._retry_at = 0.0

    def ready(self, now: float) -> bool:
        return now >= self._retry_at

    def failed(self, now: float) -> float:
        """Record a failure; returns the seconds until the next try."""
        self.failures += 1
        delay = backoff_seconds(self.failures, self.base, self.cap, self._rng)
        self._retry_at = now + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self._retry_at = 0.0


class DutyRunner:
    """Ticks every ``interval`` seconds; on each tick, if leader, runs every duty once."""

    def __init__(
        self,
        duties: Sequence[Duty],
        lock: LeaderLock,
        clock: Clock,
        interval: float,
        metrics: Metrics | None = None,
    ) -> None:
        self.duties = list(duties)
        self.lock = lock
        self.clock = clock
        self.interval = interval
        self.metrics = metrics or Metrics()
        cap = interval * BACKOFF_CAP_INTERVALS
        self._backoff = {name: Backoff(interval, cap) for name in self._names()}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def _names(self) -> list[str]:
        return [LEADER_LOCK, *(duty.name for duty in self.duties)]

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="conveyor-duties")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
        try:
            await self.lock.release()
        except Exception:
            log.warning("leader lock release failed", exc_info=True)

    async def tick(self) -> dict[str, int]:
        """One round: each duty whose backoff allows it runs once, if this replica leads."""
        if not await self._attempt(LEADER_LOCK, self._lead):
            return {}
        done: dict[str, int] = {}
        for duty in self.duties:
            count = await self._attempt(duty.name, partial(duty.run_once, self.clock.now()))
            if count is not None:
                done[duty.name] = count
        return done

    async def _lead(self) -> int:
        return 1 if await self.lock.acquire() else 0

    async def _attempt(self, name: str, run: Callable[[], Awaitable[int]]) -> int | None:
        """Run one duty (or the lock) unless it is backing off; None if it did not run
        or failed. A failure never leaves here: it is logged, counted and delayed."""
        backoff = self._backoff[name]
        if not backoff.ready(time.monotonic()):
            return None
        try:
            result = await run()
        except Exception as exc:
            delay = backoff.failed(time.monotonic())
            self.metrics.duty_tick_failures_total.labels(name).inc()
            log.warning(
                "duty failed; retrying",
                duty=name,
                failures=backoff.failures,
                retry_in=round(delay, 2),
                error=f"{type(exc).__name__}: {exc}",
                exc_info=backoff.failures == 1,
            )
            return None
        if backoff.failures:
            log.info("duty recovered", duty=name, after_failures=backoff.failures)
        backoff.succeeded()
        return result

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:
                # tick() handles every failure itself; this is the last guard that
                # keeps the loop alive if that ever changes.
                log.exception("duty tick failed")
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)
            except TimeoutError:
                continue
