"""The unit-of-work helper every service method uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from conveyor.services.events import Outbox
from conveyor.services.runtime import Runtime
from conveyor.store.database import Connection


@dataclass
class Unit:
    conn: Connection
    outbox: Outbox


@asynccontextmanager
async def unit_of_work(rt: Runtime, *, write: bool = True) -> AsyncIterator[Unit]:
    """One transaction; its events are published only once it has committed."""
    outbox = Outbox()
    scope = rt.db.write() if write else rt.db.read()
    async with scope as conn:
        yield Unit(conn, outbox)
    outbox.flush(rt.bus)
