"""Failing pending tasks that no live node has been there to run for too long.

``CONVEYOR_UNSERVED_TASK_TIMEOUT_SECONDS`` (off by default). A task has waited
unserved since the latest of: it became pending as it is now (``updated_at``), it
came due (``run_at``), and the last time a node that runs it was live (its
``last_seen``; now, while one is live). All three are in the database, so a
restart, or another replica taking over the duty, neither resets nor shortens the
wait. The task is failed through the state machine (``Event.UNSERVED``) with the
error code ``no_worker``; a chunk's price goes back to its customer as for any
unpaid end.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from conveyor.domain.transitions import Command, Event, decide
from conveyor.services.runtime import Runtime
from conveyor.services.serving import served_until
from conveyor.services.unit import unit_of_work
from conveyor.store import nodes as node_store
from conveyor.store import tasks as task_store
from conveyor.store import unserved as unserved_store

NO_WORKER = "no_worker"
BATCH = 500


def _error(task_type: str, waited: timedelta) -> dict[str, str]:
    return {
        "code": NO_WORKER,
        "message": f"no live node ran {task_type} tasks with this task's labels "
        f"for {waited.total_seconds():g} s",
    }


async def fail_unserved(rt: Runtime, now: datetime, timeout: timedelta) -> int:
    """Fail every pending task unserved for ``timeout``; returns how many were."""
    cutoff = now - timeout
    async with rt.db.read() as conn:
        nodes = await node_store.list_nodes(conn)
    failed = 0
    after: tuple[datetime, str] | None = None
    while True:
        async with unit_of_work(rt) as unit:
            page = await unserved_store.pending_waiting_since(unit.conn, cutoff, after, BATCH)
            moved = []
            for task in page:
                last = served_until(nodes, task, now)
                if last is not None and last > cutoff:
                    continue
                cmd = Command(Event.UNSERVED, error=_error(task.task_type, timeout))
                tr = decide(task, cmd, now, rt.retry_policy, rt.rng)
                # A claim or cancel that won meanwhile decided the task's fate.
                updated = await task_store.apply_transition(unit.conn, tr)
                if updated is not None:
                    moved.append(updated)
            unit.outbox.status_changed(moved)
        failed += len(moved)
        if len(page) < BATCH:
            return failed
        after = (page[-1].run_at, page[-1].id)
