"""Recovering tasks whose node went quiet: the lease-expiry transition, in batches."""

from __future__ import annotations

from datetime import datetime

from conveyor.domain.transitions import Command, Event, decide
from conveyor.services.runtime import Runtime
from conveyor.services.unit import unit_of_work
from conveyor.store import tasks as task_store

BATCH = 500


async def expire_leases(rt: Runtime, now: datetime, batch: int = BATCH) -> int:
    """Send every task whose lease ran out back to pending (or to ``timeout``).

    Each row is moved with the same guarded write as any other transition, so a
    node finishing at the very same moment either wins (and the sweeper skips the
    row) or loses with a 409; never both.
    """
    total = 0
    while True:
        async with unit_of_work(rt) as unit:
            expired = await task_store.expired_leases(unit.conn, now, batch)
            moved = []
            for task in expired:
                tr = decide(task, Command(Event.EXPIRE), now, rt.retry_policy, rt.rng)
                updated = await task_store.apply_transition(unit.conn, tr)
                if updated is not None:
                    moved.append(updated)
            unit.outbox.status_changed(moved)
        total += len(moved)
        if len(expired) < batch:
            return total
