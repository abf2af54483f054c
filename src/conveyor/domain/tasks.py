"""The task record as the rest of the service sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from conveyor.domain.states import TaskStatus


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    task_type: str
    status: TaskStatus
    version: int
    params: dict[str, Any]
    metadata: dict[str, Any]
    owner_id: str | None
    assigned_node_id: str | None
    priority: int
    attempts: int
    max_attempts: int
    lease_owner: str | None
    leased_at: datetime | None
    lease_expires_at: datetime | None
    lease_seconds: int | None
    run_at: datetime
    timeout_seconds: int | None
    result: Any
    error: Any
    original_task_id: str | None
    required_labels: dict[str, str]
    progress_seq: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    # Runs that have ended, each kept as an ``Attempt`` (``attempts`` counts only
    # the charged ones: failures and lapsed leases, what ``max_attempts`` bounds).
    runs: int = 0
    # Set on the chunks of a job (DESIGN §4); None on plain tasks.
    job_id: str | None = None
    chunk_index: int | None = None
    # W3C trace context the task's spans continue (submit, claim, run, finish).
    traceparent: str | None = None

    @property
    def runs_started(self) -> int:
        """Every run so far, the one in progress included (at most one is)."""
        return self.runs + (1 if self.status is TaskStatus.IN_PROGRESS else 0)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One run of a task by one node, written by the transition that ended it."""

    task_id: str
    number: int  # 1, 2, 3, … per task
    node_id: str | None
    started_at: datetime
    finished_at: datetime
    outcome: str
    error: Any = None


@dataclass(frozen=True, slots=True)
class NewTask:
    """What a caller asks for; the store fills in status, version and times."""

    id: str
    task_type: str
    params: dict[str, Any]
    metadata: dict[str, Any]
    owner_id: str | None
    assigned_node_id: str | None
    priority: int
    max_attempts: int
    run_at: datetime
    timeout_seconds: int | None
    original_task_id: str | None = None
    required_labels: dict[str, str] = field(default_factory=dict)
    job_id: str | None = None
    chunk_index: int | None = None
    traceparent: str | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    task_id: str
    seq: int
    data: dict[str, Any]
    created_at: datetime
