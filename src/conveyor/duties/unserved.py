"""The unserved-task timeout as a periodic duty (off unless configured).

It reads every pending task that has waited past the timeout, so it runs at most
every tenth of the timeout (within one sweeper interval and a minute), not on
every tick; what it decides comes from the database alone (services/unserved.py),
so a restarted or newly elected leader picks up exactly where the last one was.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from conveyor.services.runtime import Runtime
from conveyor.services.unserved import fail_unserved

MAX_EVERY_SECONDS = 60.0


class UnservedTimeout:
    name = "unserved_timeout"

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._next: datetime | None = None

    async def run_once(self, now: datetime) -> int:
        timeout = self.rt.settings.unserved_task_timeout_seconds
        if timeout is None or (self._next is not None and now < self._next):
            return 0
        every = min(MAX_EVERY_SECONDS, max(timeout / 10, self.rt.settings.sweeper_interval_seconds))
        self._next = now + timedelta(seconds=every)
        return await fail_unserved(self.rt, now, timedelta(seconds=timeout))
