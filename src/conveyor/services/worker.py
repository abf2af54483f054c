"""What nodes do: claim (long-polling), start, report progress, finish, heartbeat."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from conveyor.domain.nodes import Node
from conveyor.domain.states import NodeHealth, TaskStatus
from conveyor.domain.tasks import Progress, Task
from conveyor.domain.transitions import Command, Event, Transition, conflict, decide
from conveyor.errors import Conflict, ConveyorError, Forbidden, NotFound
from conveyor.observability import tracing
from conveyor.services.runtime import Runtime
from conveyor.services.unit import Unit, unit_of_work
from conveyor.store import claim as claim_store
from conveyor.store import nodes as node_store
from conveyor.store import progress as progress_store
from conveyor.store import tasks as task_store


@dataclass(frozen=True, slots=True)
class Finish:
    task_id: str
    version: int
    outcome: Literal["completed", "failed", "released"]
    result: Any = None
    error: Any = None
    retryable: bool = True

    def command(self, node_id: str) -> Command:
        event = {"completed": Event.COMPLETE, "failed": Event.FAIL, "released": Event.RELEASE}
        return Command(
            event[self.outcome],
            node_id=node_id,
            version=self.version,
            result=self.result,
            error=self.error,
            retryable=self.retryable,
        )


@dataclass(frozen=True, slots=True)
class FinishOutcome:
    task_id: str
    ok: bool
    task: Task | None = None
    error: ConveyorError | None = None
    before: Task | None = None  # an applied finish's task as it was running


@dataclass(frozen=True, slots=True)
class ClaimInput:
    task_types: Sequence[str] = ()
    max_tasks: int = 1
    wait_seconds: float = 0
    lease_seconds: int | None = None
    finishes: Sequence[Finish] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    extended: list[str]
    cancelled: list[str]
    lost: list[str]


class WorkerService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def _lease(self, requested: int | None) -> int:
        settings = self.rt.settings
        return min(requested or settings.lease_seconds, settings.max_lease_seconds)

    async def claim(self, node: Node, req: ClaimInput) -> tuple[list[Task], list[FinishOutcome]]:
        """Apply the finishes and make the first claim in one transaction.

        One commit (one fsync, one BEGIN/COMMIT round trip pair) per worker round
        trip instead of two, and the claim already sees the slots and capacity the
        finishes freed. The node's row is locked first, as a heartbeat does, so the
        two take their locks in the same order (node, then tasks) and cannot
        deadlock. Only a claim that found nothing and may wait commits on its own
        first: the finishes never wait behind a long poll.
        """
        types = node.claimable_types(req.task_types)
        claiming = types is not None and req.max_tasks > 0
        now = self.rt.clock.now()
        async with unit_of_work(self.rt) as unit:
            fresh = await node_store.check_in(unit.conn, node.id, now) if claiming else None
            finished = await self._finish_in(unit, node, req.finishes, now)
            claimed: list[Task] = []
            if types is not None and fresh is not None:
                claimed = await self._claim_in(unit, fresh, types, req, now)
        self._count_finishes(finished, now)
        self._count_claims(claimed, node.id)
        wait = min(req.wait_seconds, self.rt.settings.max_wait_seconds)
        if types is None or not claiming or claimed or wait <= 0:
            return claimed, finished
        return await self._claim_when_woken(node, types, req, wait), finished

    async def _claim_when_woken(
        self, node: Node, types: list[str], req: ClaimInput, wait: float
    ) -> list[Task]:
        """Park until a wake-up (or the fallback poll) finds work, or ``wait`` runs out."""
        deadline = time.monotonic() + wait
        recheck = self.rt.settings.claim_recheck_seconds
        async with self.rt.waker.listen(types) as waiter:
            with self.rt.metrics.claims_waiting.track_inprogress():
                while (remaining := deadline - time.monotonic()) > 0:
                    await waiter.wait(min(remaining, recheck))
                    claimed = await self._claim_once(node, types, req)
                    if claimed:
                        return claimed
        return []

    async def claim_for_push(self, node: Node, max_tasks: int) -> list[Task]:
        """The dispatcher claiming on a push node's behalf: the same claim, capacity
        and drain rules, but no sign of life recorded and only while it is healthy."""
        types = node.claimable_types(())
        if types is None:
            return []
        return await self._claim_once(node, types, ClaimInput(max_tasks=max_tasks), push=True)

    async def _claim_once(
        self,
        node: Node,
        types: list[str],
        req: ClaimInput,
        *,
        push: bool = False,
        task_id: str | None = None,
    ) -> list[Task]:
        now = self.rt.clock.now()
        async with unit_of_work(self.rt) as unit:
            if push:
                fresh = await node_store.lock_node(unit.conn, node.id)
                if fresh is None or fresh.health is not NodeHealth.HEALTHY:
                    return []
            else:
                fresh = await node_store.check_in(unit.conn, node.id, now)
            if fresh is None:
                return []
            claimed = await self._claim_in(unit, fresh, types, req, now, task_id=task_id)
        self._count_claims(claimed, node.id)
        return claimed

    async def _claim_in(
        self,
        unit: Unit,
        fresh: Node,
        types: list[str],
        req: ClaimInput,
        now: datetime,
        *,
        task_id: str | None = None,
    ) -> list[Task]:
        """The claim inside the caller's transaction; ``fresh`` is the node's row,
        already locked by that transaction."""
        if not fresh.can_claim:
            return []
        request = claim_store.ClaimRequest(
            fresh.id,
            types,
            fresh.labels,
            limit=min(req.max_tasks, self.rt.settings.max_batch),
            lease_seconds=self._lease(req.lease_seconds),
            capacity=fresh.max_concurrency,
            task_id=task_id,
            node_owner=fresh.owner_id,
            chunks=task_id is None and await self.rt.jobs_running.any_running(unit.conn),
        )
        claimed = await claim_store.claim(unit.conn, request, now)
        unit.outbox.status_changed(claimed)
        return claimed

    def _count_claims(self, claimed: list[Task], node_id: str) -> None:
        self.rt.metrics.claimed(claimed)
        tracing.current().claimed(claimed, node_id)

    async def finish_many(self, node: Node, finishes: Sequence[Finish]) -> list[FinishOutcome]:
        """Apply many finishes in one transaction; each succeeds or fails on its own."""
        now = self.rt.clock.now()
        async with unit_of_work(self.rt) as unit:
            outcomes = await self._finish_in(unit, node, finishes, now)
        self._count_finishes(outcomes, now)
        return outcomes

    async def _finish_in(
        self, unit: Unit, node: Node, finishes: Sequence[Finish], now: datetime
    ) -> list[FinishOutcome]:
        if not finishes:
            return []
        outcomes: list[FinishOutcome] = []
        current = await task_store.get_tasks(unit.conn, [f.task_id for f in finishes])
        planned: dict[str, Transition] = {}
        refused: dict[str, ConveyorError] = {}
        for item in finishes:
            try:
                if item.task_id in planned:
                    raise Conflict("the same task is finished twice in one request")
                task = self._visible(node, current.get(item.task_id), item.task_id)
                cmd = item.command(node.id)
                planned[item.task_id] = decide(task, cmd, now, self.rt.retry_policy, self.rt.rng)
            except ConveyorError as exc:
                refused.setdefault(item.task_id, exc)
        done = await task_store.apply_transitions(
            unit.conn, list(planned.values()), {node.id: node.owner_id}
        )
        unit.outbox.status_changed(done.values())
        for item in finishes:
            if item.task_id in refused:
                outcomes.append(FinishOutcome(item.task_id, False, error=refused[item.task_id]))
            elif item.task_id in done:
                before = current[item.task_id]
                outcomes.append(
                    FinishOutcome(item.task_id, True, done[item.task_id], before=before)
                )
            else:
                error = conflict(current[item.task_id], "the task changed meanwhile")
                outcomes.append(FinishOutcome(item.task_id, False, error=error))
        return outcomes

    def _count_finishes(self, outcomes: list[FinishOutcome], now: datetime) -> None:
        for outcome in outcomes:
            if outcome.task is not None:
                assert outcome.before is not None
                self.rt.metrics.run_ended(outcome.before, outcome.task, now)
                tracing.current().finished(outcome.task)

    async def finish(self, node: Node, item: Finish) -> Task:
        (outcome,) = await self.finish_many(node, [item])
        if outcome.error is not None:
            raise outcome.error
        assert outcome.task is not None
        return outcome.task

    async def start(self, node: Node, task_id: str, lease_seconds: int | None) -> Task:
        """Start one task by id: the claim narrowed to that task, so the pin, types,
        labels, due time and the node's capacity apply exactly as they do to a claim."""
        if not node.can_claim:
            raise Forbidden(f"node {node.id} is {node.status.value} and takes no new work")
        types = node.claimable_types(())
        assert types is not None  # asking for nothing never refuses
        req = ClaimInput(max_tasks=1, lease_seconds=lease_seconds)
        claimed = await self._claim_once(node, types, req, task_id=task_id)
        if claimed:
            return claimed[0]
        async with self.rt.db.read() as conn:
            task = await task_store.get_task(conn, task_id)
        raise self._why_not_started(node, task, task_id)

    def _why_not_started(self, node: Node, task: Task | None, task_id: str) -> ConveyorError:
        """The claim took nothing: say why, but only about a task this node may know of.

        That is one pinned to or held by it, or a pending one of the shared pool that it
        could run (its type, its labels). Any other task answers exactly as a missing
        one, so start is no probe of others' work."""
        if task is None or not self._may_know(node, task):
            return NotFound(f"task {task_id} not found")
        if node.owner_id is not None and task.job_id is None and task.owner_id != node.owner_id:
            return NotFound(f"task {task_id} not found")
        if task.job_id is not None:
            # A chunk is leased only by a claim, which holds it to its job's slots.
            return conflict(task, "chunks of a job are taken by claiming, not by id")
        try:
            # The state machine explains a task that is not pending, or not due yet.
            decide(task, Command(Event.START, node_id=node.id), self.rt.clock.now())
        except Conflict as exc:
            return exc
        if node.claimable_types([task.task_type]) is None:
            return conflict(task, f"node {node.id} does not run {task.task_type} tasks")
        if not node.has_labels(task.required_labels):
            return conflict(task, f"node {node.id} lacks the labels the task requires")
        return conflict(task, f"node {node.id} is at its capacity of {node.max_concurrency}")

    @staticmethod
    def _may_know(node: Node, task: Task) -> bool:
        if node.id in (task.assigned_node_id, task.lease_owner):
            return True
        return (
            task.assigned_node_id is None
            and task.status is TaskStatus.PENDING
            and node.claimable_types([task.task_type]) is not None
            and node.has_labels(task.required_labels)
        )

    async def progress(self, node: Node, task_id: str, data: dict[str, Any]) -> Progress:
        now = self.rt.clock.now()
        async with unit_of_work(self.rt) as unit:
            # The hot path touches small columns only; the full row is read just to
            # explain a refusal.
            seq = await task_store.bump_progress(unit.conn, task_id, node.id, now)
            if seq is None:
                task = self._visible(node, await task_store.get_task(unit.conn, task_id), task_id)
                raise conflict(task, "the task is not in progress on this node")
            progress = await progress_store.append(unit.conn, task_id, seq, data, now)
            unit.outbox.progressed(progress)
        return progress

    async def heartbeat(
        self, node: Node, task_ids: Sequence[str] | None, load: dict[str, Any] | None
    ) -> Heartbeat:
        now = self.rt.clock.now()
        async with unit_of_work(self.rt) as unit:
            await node_store.check_in(unit.conn, node.id, now)
            if load is not None:
                await node_store.update_node(unit.conn, node.id, load=load)
            held = await task_store.leased_by(unit.conn, node.id, task_ids)
            extended = await task_store.extend_leases(unit.conn, node.id, held, now)
            asked = list(task_ids) if task_ids is not None else []
            others = [t for t in asked if t not in extended]
            # Only a task this node held or was pinned to is reported cancelled; anyone
            # else's id is "lost", exactly like an id that does not exist.
            cancelled = await task_store.cancelled_for(unit.conn, node.id, others)
        lost = [t for t in others if t not in cancelled]
        return Heartbeat(sorted(extended), sorted(cancelled), lost)

    async def assigned(self, node: Node, limit: int) -> list[Task]:
        async with self.rt.db.read() as conn:
            return await task_store.assigned_to(conn, node.id, limit)

    @staticmethod
    def _visible(node: Node, task: Task | None, task_id: str) -> Task:
        if task is None or node.id not in (task.assigned_node_id, task.lease_owner):
            raise NotFound(f"task {task_id} not found")
        return task
