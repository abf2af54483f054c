"""The task state machine: the one place that decides every transition.

``decide`` is pure. It looks at the task as last read, the event and the time, and
returns the guarded write to make: the store executes it as
``UPDATE … WHERE id = :id AND status = :from AND version = :version`` and zero rows
affected means somebody else moved the task first (a 409 for the caller). The
batch claim is the one transition decided for many rows at once; ``claim_changes``
gives its values so that it too comes from here.

Every transition out of ``in_progress`` ends a run: it counts it (``runs``) and
carries the run's ``Attempt`` record, which the store writes in the same
transaction as the guarded update (only if that update won).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from conveyor.domain.backoff import backoff_seconds
from conveyor.domain.states import TaskStatus
from conveyor.domain.tasks import Attempt, Task
from conveyor.errors import Conflict

P, R = TaskStatus.PENDING, TaskStatus.IN_PROGRESS


class Event(StrEnum):
    CLAIM = "claim"
    START = "start"
    COMPLETE = "complete"
    FAIL = "fail"
    RELEASE = "release"
    EXPIRE = "expire"
    CANCEL = "cancel"
    REASSIGN = "reassign"
    TIMEOUT = "timeout"
    # A pending task no live node could run for too long (the unserved-task duty).
    UNSERVED = "unserved"


# Which statuses each event may leave from. Terminal statuses appear nowhere.
SOURCES: dict[Event, frozenset[TaskStatus]] = {
    Event.CLAIM: frozenset({P}),
    Event.START: frozenset({P}),
    Event.COMPLETE: frozenset({R}),
    Event.FAIL: frozenset({R}),
    Event.RELEASE: frozenset({R}),
    Event.EXPIRE: frozenset({R}),
    Event.CANCEL: frozenset({P, R}),
    Event.REASSIGN: frozenset({P, R}),
    Event.TIMEOUT: frozenset({P, R}),
    Event.UNSERVED: frozenset({P}),
}

# How a run ends, by the event that ends it (the attempt record's ``outcome``).
RUN_OUTCOMES: dict[Event, str] = {
    Event.COMPLETE: "completed",
    Event.FAIL: "failed",
    Event.RELEASE: "released",
    Event.EXPIRE: "lease_expired",
    Event.CANCEL: "cancelled",
    Event.TIMEOUT: "timeout",
    Event.REASSIGN: "reassigned",
}

# Events only the current lease holder may send, with the version it holds.
HOLDER_EVENTS = frozenset({Event.COMPLETE, Event.FAIL, Event.RELEASE})

_CLEAR_LEASE: dict[str, Any] = {
    "lease_owner": None,
    "leased_at": None,
    "lease_expires_at": None,
    "lease_seconds": None,
}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 2.0
    cap_seconds: float = 600.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        return backoff_seconds(attempt, self.base_seconds, self.cap_seconds, rng)


@dataclass(frozen=True, slots=True)
class Transition:
    task_id: str
    event: Event
    from_status: TaskStatus
    to_status: TaskStatus
    expected_version: int
    changes: dict[str, Any] = field(default_factory=dict)
    attempt: Attempt | None = None  # the run this transition ends, if it ends one

    def values(self) -> dict[str, Any]:
        """Column values to write, status included (the store adds ``version + 1``)."""
        return {**self.changes, "status": self.to_status}


@dataclass(frozen=True, slots=True)
class Command:
    """An event plus what the caller said with it."""

    event: Event
    node_id: str | None = None
    version: int | None = None
    result: Any = None
    error: Any = None
    retryable: bool = True
    lease_seconds: int | None = None
    new_node_id: str | None = None


def conflict(task: Task, message: str) -> Conflict:
    return Conflict(
        message,
        details={"task_id": task.id, "status": task.status.value, "version": task.version},
    )


Outcome = Callable[
    [Task, Command, datetime, RetryPolicy, random.Random | None], tuple[TaskStatus, dict[str, Any]]
]


def decide(
    task: Task,
    cmd: Command,
    now: datetime,
    policy: RetryPolicy | None = None,
    rng: random.Random | None = None,
) -> Transition:
    if cmd.event is Event.CLAIM:
        raise ValueError("claims are decided for a batch: use claim_changes")
    if task.status not in SOURCES[cmd.event]:
        raise conflict(task, f"cannot {cmd.event.value} a task that is {task.status.value}")
    if cmd.event in HOLDER_EVENTS:
        _check_holder(task, cmd)
    to_status, changes = _OUTCOMES[cmd.event](task, cmd, now, policy or RetryPolicy(), rng)
    changes.setdefault("updated_at", now)
    attempt = None
    if task.status is R:
        attempt = ended_run(task, cmd.event, now, changes.get("error"))
        changes["runs"] = attempt.number
    return Transition(task.id, cmd.event, task.status, to_status, task.version, changes, attempt)


def ended_run(task: Task, event: Event, now: datetime, error: Any) -> Attempt:
    """The record of the run an event ends: who ran it, from when, how it ended."""
    return Attempt(
        task_id=task.id,
        number=task.runs + 1,
        node_id=task.lease_owner,
        started_at=task.leased_at or now,
        finished_at=now,
        outcome=RUN_OUTCOMES[event],
        error=error,
    )


def _check_holder(task: Task, cmd: Command) -> None:
    if cmd.node_id is None or task.lease_owner != cmd.node_id:
        raise conflict(task, "the task is not leased to this node")
    if cmd.version is not None and cmd.version != task.version:
        raise conflict(task, f"stale version {cmd.version}; the task is at {task.version}")


def lease_values(node_id: str, lease_seconds: int, now: datetime) -> dict[str, Any]:
    return {
        "lease_owner": node_id,
        "leased_at": now,
        "lease_seconds": lease_seconds,
        "lease_expires_at": now + timedelta(seconds=lease_seconds),
    }


def effective_lease(task_timeout: int | None, requested: int) -> int:
    """A task's own timeout wins over the claimer's lease: it is the owner's limit."""
    return task_timeout if task_timeout is not None else requested


def claim_changes(node_id: str, lease_seconds: int, now: datetime) -> dict[str, Any]:
    """Values a claim writes to each claimed row (``started_at`` kept if already set)."""
    return {"status": R, "updated_at": now, **lease_values(node_id, lease_seconds, now)}


def _start(task: Task, cmd: Command, now: datetime, *_: Any) -> tuple[TaskStatus, dict[str, Any]]:
    if cmd.node_id is None:
        raise conflict(task, "only a node can start a task")
    if task.assigned_node_id not in (None, cmd.node_id):
        raise conflict(task, "the task is pinned to another node")
    if task.run_at > now:
        raise conflict(task, "the task is not due yet")
    lease = effective_lease(task.timeout_seconds, cmd.lease_seconds or 0)
    return R, {**lease_values(cmd.node_id, lease, now), "started_at": task.started_at or now}


def _complete(
    task: Task, cmd: Command, now: datetime, *_: Any
) -> tuple[TaskStatus, dict[str, Any]]:
    return TaskStatus.COMPLETED, {
        "result": cmd.result,
        "error": None,
        "finished_at": now,
        "lease_expires_at": None,
    }


def _finish_or_retry(
    task: Task,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random | None,
    *,
    retryable: bool,
    final: TaskStatus,
    error: Any,
) -> tuple[TaskStatus, dict[str, Any]]:
    """Charge one attempt; go back to pending after backoff while attempts remain."""
    attempts = task.attempts + 1
    changes: dict[str, Any] = {"attempts": attempts, "error": error, **_CLEAR_LEASE}
    if retryable and attempts < task.max_attempts:
        delay = policy.delay(attempts, rng)
        return P, {**changes, "run_at": now + timedelta(seconds=delay)}
    return final, {**changes, "finished_at": now}


def _fail(
    task: Task, cmd: Command, now: datetime, policy: RetryPolicy, rng: random.Random | None
) -> tuple[TaskStatus, dict[str, Any]]:
    return _finish_or_retry(
        task, now, policy, rng, retryable=cmd.retryable, final=TaskStatus.FAILED, error=cmd.error
    )


def _expire(
    task: Task, cmd: Command, now: datetime, policy: RetryPolicy, rng: random.Random | None
) -> tuple[TaskStatus, dict[str, Any]]:
    error = {"code": "lease_expired", "message": f"lease of {task.lease_owner} expired"}
    return _finish_or_retry(
        task, now, policy, rng, retryable=True, final=TaskStatus.TIMEOUT, error=error
    )


def _release(task: Task, cmd: Command, now: datetime, *_: Any) -> tuple[TaskStatus, dict[str, Any]]:
    # Giving work back (e.g. a worker shutting down) charges no attempt.
    return P, {**_CLEAR_LEASE, "run_at": now}


def _cancel(task: Task, cmd: Command, now: datetime, *_: Any) -> tuple[TaskStatus, dict[str, Any]]:
    # The lease owner is kept so that its heartbeat can learn of the cancellation.
    changes: dict[str, Any] = {"finished_at": now, "lease_expires_at": None}
    if cmd.error is not None:
        changes["error"] = cmd.error  # why the system, not the owner, cancelled it
    return TaskStatus.CANCELLED, changes


def _timeout(task: Task, cmd: Command, now: datetime, *_: Any) -> tuple[TaskStatus, dict[str, Any]]:
    error = cmd.error or {"code": "timeout", "message": "timed out by an administrator"}
    return TaskStatus.TIMEOUT, {"finished_at": now, "error": error, "lease_expires_at": None}


def _unserved(
    task: Task, cmd: Command, now: datetime, *_: Any
) -> tuple[TaskStatus, dict[str, Any]]:
    # Failed, not timed out: the task never ran; nobody was there to run it.
    error = cmd.error or {"code": "no_worker", "message": "no live node runs this task"}
    return TaskStatus.FAILED, {"finished_at": now, "error": error}


def _reassign(
    task: Task, cmd: Command, now: datetime, *_: Any
) -> tuple[TaskStatus, dict[str, Any]]:
    if not cmd.new_node_id:
        raise conflict(task, "reassign needs a node")
    return P, {**_CLEAR_LEASE, "assigned_node_id": cmd.new_node_id, "run_at": now}


_OUTCOMES: dict[Event, Outcome] = {
    Event.START: _start,
    Event.COMPLETE: _complete,
    Event.FAIL: _fail,
    Event.EXPIRE: _expire,
    Event.RELEASE: _release,
    Event.CANCEL: _cancel,
    Event.TIMEOUT: _timeout,
    Event.REASSIGN: _reassign,
    Event.UNSERVED: _unserved,
}
