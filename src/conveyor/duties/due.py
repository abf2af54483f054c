"""Waking long-polling claimers when delayed tasks come due.

A task created with a delay (or put back with a retry backoff) becomes claimable
at ``run_at`` without any write, so nothing publishes a wake-up then; claimers
would only notice on their fallback re-poll. On each tick the leader looks one
interval ahead: types due already (since the previous tick) are woken at once, and
types due before the next tick get a timer at their ``run_at``, so a wake-up is
late by a timer's jitter, not by up to a whole tick.

Wake-ups are hints: a lost or duplicated one costs one claim query, never a task.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timedelta

from conveyor.services.runtime import Runtime
from conveyor.store import due as due_store

# Timers coalesce into buckets this wide: many run_at values close together cost
# one wake-up each bucket instead of one each.
BUCKET_SECONDS = 0.05
SCAN_LIMIT = 10_000


class DueWakeups:
    name = "due_wakeups"

    def __init__(self, rt: Runtime, interval: float | None = None) -> None:
        self.rt = rt
        self.interval = interval or rt.settings.sweeper_interval_seconds
        self._last: datetime | None = None
        self._scheduled: dict[tuple[str, datetime], None] = {}
        self._timers: set[asyncio.Task[None]] = set()

    async def run_once(self, now: datetime) -> int:
        # A new leader does not know the previous tick; two intervals back is
        # enough because claimers re-poll on their own anyway.
        since = self._last or now - timedelta(seconds=2 * self.interval)
        horizon = now + timedelta(seconds=self.interval)
        async with self.rt.db.read() as conn:
            pairs = await due_store.due_between(conn, since, horizon, SCAN_LIMIT)
        self._last = now
        due_now: set[str] = set()
        later: dict[float, set[str]] = defaultdict(set)
        for task_type, run_at in pairs:
            if (task_type, run_at) in self._scheduled:
                continue  # a timer from the previous tick covers it
            if run_at <= now:
                due_now.add(task_type)
                continue
            self._scheduled[(task_type, run_at)] = None
            delay = (run_at - now).total_seconds()
            later[round(delay / BUCKET_SECONDS + 0.5) * BUCKET_SECONDS].add(task_type)
        self._forget_before(now)
        if due_now:
            self.rt.waker.notify(due_now)
        for delay, types in later.items():
            self._schedule(delay, types)
        return len(due_now) + sum(len(t) for t in later.values())

    def _forget_before(self, now: datetime) -> None:
        for key in [k for k in self._scheduled if k[1] <= now]:
            del self._scheduled[key]

    def _schedule(self, delay: float, types: set[str]) -> None:
        task = asyncio.create_task(self._wake_later(delay, types), name="conveyor-due-wake")
        # Keep a reference: the loop holds tasks only weakly.
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    async def _wake_later(self, delay: float, types: set[str]) -> None:
        await asyncio.sleep(delay)
        self.rt.waker.notify(types)

    async def close(self) -> None:
        for task in list(self._timers):
            task.cancel()
        await asyncio.gather(*self._timers, return_exceptions=True)
