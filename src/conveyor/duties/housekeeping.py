"""Purging records whose time is up: used stream tickets and old idempotency keys.

Neither needs to go the moment it expires (an expired ticket no longer verifies;
an old idempotency key only takes room), so this runs once a minute on the
leader instead of on the requests that write them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from conveyor.services.runtime import Runtime
from conveyor.store import idempotency as idem_store
from conveyor.store import tickets as ticket_store

EVERY = timedelta(seconds=60)


class Housekeeping:
    name = "housekeeping"

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._next: datetime | None = None

    async def run_once(self, now: datetime) -> int:
        if self._next is not None and now < self._next:
            return 0
        self._next = now + EVERY
        keep = timedelta(seconds=self.rt.settings.idempotency_key_retention_seconds)
        async with self.rt.db.write() as conn:
            tickets = await ticket_store.purge_expired(conn, now)
            keys = await idem_store.purge_before(conn, now - keep)
        return tickets + keys
