"""Whether any job is running, known to a replica without asking on every claim.

The claim looks at job chunks only while a job runs, so that without jobs a claim
costs exactly the statements it always did. The answer is re-read at most once per
``ttl`` (the claim's re-check interval), and a job created here is known at once; a
job created on another replica is seen within ``ttl``.
"""

from __future__ import annotations

import math
import time

from conveyor.store import jobs as job_store
from conveyor.store.database import Connection


class JobPresence:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._running = False
        self._checked = -math.inf

    def noted(self) -> None:
        """A job was just created on this replica."""
        self._running = True
        self._checked = time.monotonic()

    async def any_running(self, conn: Connection) -> bool:
        now = time.monotonic()
        if now - self._checked >= self.ttl:
            self._running = await job_store.any_running(conn)
            self._checked = now
        return self._running
