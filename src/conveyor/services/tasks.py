"""Task operations for users and admins: create, read, list, cancel, retry, reassign."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from conveyor.domain.access import Principal, can_manage_task, can_view_task
from conveyor.domain.states import RETRYABLE_STATUSES, Role
from conveyor.domain.task_types import canonical_task_type
from conveyor.domain.tasks import Attempt, NewTask, Progress, Task
from conveyor.domain.transitions import Command, Event, conflict, decide
from conveyor.errors import Forbidden, NotFound
from conveyor.observability import tracing
from conveyor.services.cluster_stats import stats_document
from conveyor.services.events import Outbox
from conveyor.services.idempotency import IdempotencyRequest, in_flight, once, stored_answer
from conveyor.services.runtime import Runtime
from conveyor.services.unit import Unit, unit_of_work
from conveyor.store import attempts as attempt_store
from conveyor.store import nodes as node_store
from conveyor.store import progress as progress_store
from conveyor.store import queue_stats
from conveyor.store import submit as submit_store
from conveyor.store import tasks as task_store
from conveyor.store.idempotency import StoredResponse
from conveyor.store.tasks import TaskFilter


@dataclass(frozen=True, slots=True)
class TaskSpec:
    task_type: str
    params: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    task_id: str | None = None
    assigned_node_id: str | None = None
    priority: int = 0
    max_attempts: int | None = None
    delay_seconds: float = 0
    run_at: datetime | None = None
    timeout_seconds: int | None = None
    required_labels: dict[str, str] = field(default_factory=dict)


class TaskService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def create(
        self,
        who: Principal,
        specs: Sequence[TaskSpec],
        idem: IdempotencyRequest[list[Task]] | None = None,
    ) -> StoredResponse | list[Task]:
        """Create tasks; with an idempotency key, a repeat returns the stored first answer."""
        if who.is_node:
            raise Forbidden("nodes cannot create tasks")
        now = self.rt.clock.now()
        new = [self._new_task(who, spec, now) for spec in specs]
        traced = tracing.current()
        # With tracing on, a keyed submit takes the transactional path: a repeat
        # answered from its key must open no trace, and the one statement cannot
        # tell before it runs whether the key is taken.
        one_statement = idem is None or not traced.enabled
        if (
            one_statement
            and len(new) == 1
            and not new[0].assigned_node_id
            and self.rt.db.is_postgres
        ):
            return await self._submit_one(who, traced.stamp(new)[0], idem, now)

        async def insert(unit: Unit) -> list[Task]:
            await self._check_pins(unit, who, new)
            # Here, not before: a repeat answered from its idempotency key makes no trace.
            created = await task_store.insert_tasks(unit.conn, traced.stamp(new), now)
            unit.outbox.created(created)
            return created

        done = await once(self.rt, who, idem, insert, now)
        for task in done.fresh or ():
            self.rt.metrics.tasks_created_total.labels(task.task_type).inc()
        if done.stored is not None:
            return done.stored
        assert done.fresh is not None
        return done.fresh

    async def _submit_one(
        self,
        who: Principal,
        item: NewTask,
        idem: IdempotencyRequest[list[Task]] | None,
        now: datetime,
    ) -> StoredResponse | list[Task]:
        """The common submit (one unpinned task) on PostgreSQL: one statement, no
        transaction around it (store/submit.py), the same answers as ``once``."""
        task = submit_store.as_created(item, now)
        stored, key = None, None
        if idem is not None:
            stored = StoredResponse(idem.request_hash, idem.status_code, idem.render([task]))
            key = (who.id, idem.key, stored)
        async with self.rt.db.single_statement() as conn:
            inserted = await submit_store.insert_task(conn, item, now, key)
        if not inserted:
            assert idem is not None  # without a key the insert either succeeds or raises
            found = await stored_answer(self.rt, who, idem)
            if found is None:
                raise in_flight()
            return found
        outbox = Outbox()
        outbox.created([task])
        outbox.flush(self.rt.bus)
        self.rt.metrics.tasks_created_total.labels(task.task_type).inc()
        return stored if stored is not None else [task]

    def _new_task(self, who: Principal, spec: TaskSpec, now: datetime) -> NewTask:
        run_at = spec.run_at or now + timedelta(seconds=spec.delay_seconds)
        return NewTask(
            id=spec.task_id or str(uuid.uuid4()),
            # Seed spellings (``send_email``) become the built-in type they name.
            task_type=canonical_task_type(spec.task_type),
            params=spec.params,
            metadata=spec.metadata,
            owner_id=who.id,
            assigned_node_id=spec.assigned_node_id,
            priority=spec.priority,
            max_attempts=spec.max_attempts or self.rt.settings.default_max_attempts,
            run_at=max(run_at, now),
            timeout_seconds=spec.timeout_seconds,
            required_labels=spec.required_labels,
        )

    async def _check_pins(self, unit: Unit, who: Principal, new: Sequence[NewTask]) -> None:
        for node_id in sorted({t.assigned_node_id for t in new if t.assigned_node_id}):
            await _hold_pin_target(unit, node_id, _pin_owner(who))

    async def get(self, who: Principal, task_id: str) -> Task:
        async with self.rt.db.read() as conn:
            task = await task_store.get_task(conn, task_id)
        return self._visible(who, task, task_id)

    async def get_with_attempts(self, who: Principal, task_id: str) -> tuple[Task, list[Attempt]]:
        """The task and every ended run of it, read in one snapshot."""
        async with self.rt.db.read() as conn:
            task = self._visible(who, await task_store.get_task(conn, task_id), task_id)
            return task, await attempt_store.history(conn, task_id)

    @staticmethod
    def _visible(who: Principal, task: Task | None, task_id: str) -> Task:
        if task is None or not can_view_task(who, task):
            raise NotFound(f"task {task_id} not found")
        return task

    async def list_tasks(
        self, who: Principal, flt: TaskFilter, cursor: str | None, limit: int
    ) -> tuple[list[Task], str | None]:
        if who.role is Role.USER:
            flt = replace(flt, owner_id=who.id)
        elif who.role is Role.NODE:
            flt = replace(flt, node_id=who.id)
        async with self.rt.db.read() as conn:
            return await task_store.list_tasks(conn, flt, cursor, limit)

    async def last_nodes(self, tasks: Sequence[Task]) -> dict[str, str | None]:
        """Who ran each listed task's latest ended attempt (the listing has already
        decided which tasks the caller may see)."""
        async with self.rt.db.read() as conn:
            return await attempt_store.last_nodes(conn, [t.id for t in tasks])

    async def progress_history(
        self, who: Principal, task_id: str, after_seq: int, limit: int
    ) -> list[Progress]:
        async with self.rt.db.read() as conn:
            self._visible(who, await task_store.get_task(conn, task_id), task_id)
            return await progress_store.history(conn, task_id, after_seq, limit)

    async def cancel(self, who: Principal, task_id: str) -> Task:
        return await self._manage(who, task_id, Command(Event.CANCEL))

    async def timeout(self, who: Principal, task_id: str, reason: str | None = None) -> Task:
        self._require_admin(who)
        error = {"code": "timeout", "message": reason} if reason else None
        return await self._manage(who, task_id, Command(Event.TIMEOUT, error=error))

    async def reassign(self, who: Principal, task_id: str, node_id: str) -> Task:
        self._require_admin(who)
        cmd = Command(Event.REASSIGN, new_node_id=node_id)
        return await self._manage(who, task_id, cmd, pin=node_id)

    async def _manage(
        self, who: Principal, task_id: str, cmd: Command, pin: str | None = None
    ) -> Task:
        """One guarded transition; ``pin``: the node it pins the task to, checked and
        held in the same transaction (so a delete cannot slip in between)."""
        async with unit_of_work(self.rt) as unit:
            task = self._visible(who, await task_store.get_task(unit.conn, task_id), task_id)
            if not can_manage_task(who, task):
                raise Forbidden("only the task's owner or an admin may do this")
            tr = decide(task, cmd, self.rt.clock.now(), self.rt.retry_policy, self.rt.rng)
            updated = await task_store.apply_transition(unit.conn, tr)
            if updated is None:
                raise conflict(task, "the task changed meanwhile; read it again")
            # After the task's row, as a node delete takes its tasks' rows before the
            # node's: both lock in one order, so they wait for each other, never deadlock.
            if pin is not None:
                await _hold_pin_target(unit, pin, _pin_owner(who))
            unit.outbox.status_changed([updated])
        self.rt.metrics.ended(updated)
        return updated

    async def retry(self, who: Principal, task_id: str) -> Task:
        """A new task with the same work, linked to the old one; the old one stays as it was."""
        now = self.rt.clock.now()
        async with unit_of_work(self.rt) as unit:
            old = self._visible(who, await task_store.get_task(unit.conn, task_id), task_id)
            if not can_manage_task(who, old):
                raise Forbidden("only the task's owner or an admin may retry it")
            if old.status not in RETRYABLE_STATUSES:
                raise conflict(old, f"a task that is {old.status.value} cannot be retried")
            new = NewTask(
                id=str(uuid.uuid4()),
                task_type=old.task_type,
                params=old.params,
                metadata=old.metadata,
                owner_id=old.owner_id,
                assigned_node_id=old.assigned_node_id,
                priority=old.priority,
                max_attempts=old.max_attempts,
                run_at=now,
                timeout_seconds=old.timeout_seconds,
                original_task_id=old.id,
                required_labels=old.required_labels,
            )
            (created,) = await task_store.insert_tasks(
                unit.conn, tracing.current().stamp([new]), now
            )
            unit.outbox.created([created])
        return created

    async def stats(self, who: Principal) -> dict[str, Any]:
        self._require_admin(who)
        now = self.rt.clock.now()
        async with self.rt.db.read() as conn:
            counts = await task_store.count_by_status(conn)
            nodes = await node_store.list_nodes(conn)
            depths = await queue_stats.pending_by_type(conn, now)
        return stats_document(counts, nodes, depths, self.rt.metrics, now)

    @staticmethod
    def _require_admin(who: Principal) -> None:
        if not who.is_admin:
            raise Forbidden("admins only")


def _pin_owner(who: Principal) -> str | None:
    """Whose nodes ``who`` may pin to besides the admins' (None: any node at all)."""
    return None if who.is_admin else who.id


async def _hold_pin_target(unit: Unit, node_id: str, owner_id: str | None) -> None:
    if not await node_store.hold_for_pin(unit.conn, node_id, owner_id):
        raise NotFound(f"node {node_id} does not exist", code="node_not_found")
