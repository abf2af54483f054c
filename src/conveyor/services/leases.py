"""Recovering tasks whose node went quiet: the lease-expiry transition, in batches."""

from __future__ import annotations

from datetime import datetime

from conveyor.domain.tasks import Task
from conveyor.domain.transitions import Command, Event, decide
from conveyor.services.runtime import Runtime
from conveyor.services.unit import Unit, unit_of_work
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
            moved = await _move_each(unit, rt, expired, Command(Event.EXPIRE), now)
        rt.metrics.leases_expired(moved)
        total += len(moved)
        if len(expired) < batch:
            return total


async def release_node_leases(unit: Unit, rt: Runtime, node_id: str, event: Event) -> list[Task]:
    """Put every task a node holds back through the state machine, in this unit.

    ``Event.EXPIRE`` (a node declared dead) charges an attempt like a lapsed
    lease: the task may be what killed the node, and attempts bound that.
    ``Event.RELEASE`` (an admin deleting the node) charges none: the task did
    nothing wrong, it was taken away from it.
    """
    held = await task_store.leased_by(unit.conn, node_id)
    return await _move_each(unit, rt, held, Command(event, node_id=node_id), rt.clock.now())


async def cancel_pinned(unit: Unit, rt: Runtime, node_id: str) -> list[Task]:
    """Cancel the pending tasks pinned to a node that is going away.

    Only that node may run them, so left pending they would wait forever; the
    error says why, for their owners.
    """
    error = {"code": "node_deleted", "message": f"pinned to node {node_id}, which was deleted"}
    pinned = await task_store.pending_pinned_to(unit.conn, node_id)
    return await _move_each(unit, rt, pinned, Command(Event.CANCEL, error=error), rt.clock.now())


async def _move_each(
    unit: Unit, rt: Runtime, tasks: list[Task], cmd: Command, now: datetime
) -> list[Task]:
    """Apply one command to each task through the state machine; returns those moved.

    A task changed meanwhile by someone else is skipped (its guarded write matches
    no row): whoever changed it has decided its fate.
    """
    moved = []
    for task in tasks:
        tr = decide(task, cmd, now, rt.retry_policy, rt.rng)
        updated = await task_store.apply_transition(unit.conn, tr)
        if updated is not None:
            moved.append(updated)
    unit.outbox.status_changed(moved)
    return moved
