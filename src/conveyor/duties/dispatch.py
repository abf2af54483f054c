"""Push dispatch as a continuous loop that runs only while this replica leads.

A sweeper tick (every ``sweeper_interval_seconds``) would add up to a whole tick
of latency to every pushed task, so dispatch runs in its own loop, woken by new
work (the Waker) and by freed send slots. The duty's ``run_once``, called only
on the leader's ticks, starts the loop and renews its leadership: without a
renewal for a few ticks (the lock was lost) the loop goes idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime

from conveyor.observability.logging import get_logger
from conveyor.services.dispatch import Dispatcher
from conveyor.services.runtime import Runtime

log = get_logger(__name__)
# Re-check on its own this often: a node turning healthy, a backoff ending.
POLL_SECONDS = 0.5
LEADERSHIP_TICKS = 3


class PushDispatch:
    name = "push_dispatch"

    def __init__(self, rt: Runtime, dispatcher: Dispatcher) -> None:
        self.rt = rt
        self.dispatcher = dispatcher
        self._leader_until = 0.0
        self._loop: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def run_once(self, now: datetime) -> int:
        ticks = LEADERSHIP_TICKS * self.rt.settings.sweeper_interval_seconds
        self._leader_until = time.monotonic() + ticks
        if self._loop is None or self._loop.done():
            self._loop = asyncio.create_task(self._run(), name="conveyor-push-dispatch")
        return self.dispatcher.in_flight

    @property
    def leading(self) -> bool:
        return time.monotonic() < self._leader_until

    async def _run(self) -> None:
        while not self._stopping.is_set():
            if not self.leading:
                await self._sleep(POLL_SECONDS)
                continue
            try:
                sent = await self.dispatcher.dispatch_round()
            except Exception:
                log.exception("push dispatch round failed")
                await self._sleep(POLL_SECONDS)
                continue
            if sent == 0 or self.dispatcher.in_flight >= self.dispatcher.limit:
                await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        """Until new work of a served type, a freed slot, or the poll interval."""
        wanted = self.dispatcher.wanted_types
        freed = self.dispatcher.slot_freed
        freed.clear()
        if wanted is not None and not wanted:
            await self._sleep(POLL_SECONDS)  # no push node to serve
            return
        # An empty set of types listens for every type.
        async with self.rt.waker.listen(wanted or ()) as listener:
            waits = [
                asyncio.create_task(listener.wait(POLL_SECONDS)),
                asyncio.create_task(freed.wait()),
                asyncio.create_task(self._stopping.wait()),
            ]
            _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def close(self) -> None:
        self._stopping.set()
        if self._loop is not None:
            await self._loop
        await self.dispatcher.close()
