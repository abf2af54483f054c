"""Task request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, Field, StrictBool, StrictFloat, StrictInt

from conveyor.api.schemas.common import (
    Identifier,
    Integral,
    JsonObject,
    JsonValue,
    Labels,
    Strict,
    TaskType,
    Text,
    Version,
    When,
)
from conveyor.domain.tasks import Attempt, Progress, Task
from conveyor.services.tasks import TaskSpec

MAX_DELAY = 30 * 24 * 3600
MAX_TIMEOUT = 7 * 24 * 3600
# Leases are capped by the server's max_lease_seconds anyway; this keeps the number sane.
MAX_LEASE = 7 * 24 * 3600
# Strict floats take JSON integers too (3 is 3.0), never booleans or strings.
Number = StrictFloat


class TaskCreate(Strict):
    task_id: Identifier | None = None
    task_type: TaskType
    # ``task_details`` is seed 000's name for the same thing.
    params: JsonObject = Field(
        default_factory=dict, validation_alias=AliasChoices("params", "task_details")
    )
    metadata: JsonObject = Field(default_factory=dict)
    assigned_node_id: Identifier | None = None
    priority: Annotated[StrictInt, Field(ge=-1000, le=1000), Integral] = 0
    max_attempts: Annotated[StrictInt, Field(ge=1, le=100), Integral] | None = None
    delay_seconds: Annotated[Number, Field(ge=0, le=MAX_DELAY)] = 0
    run_at: When | None = None
    timeout_seconds: Annotated[StrictInt, Field(ge=1, le=MAX_TIMEOUT), Integral] | None = None
    required_labels: Labels = Field(default_factory=dict)

    def to_spec(self) -> TaskSpec:
        return TaskSpec(
            task_type=self.task_type,
            params=self.params,
            metadata=self.metadata,
            task_id=self.task_id,
            assigned_node_id=self.assigned_node_id,
            priority=self.priority,
            max_attempts=self.max_attempts,
            delay_seconds=float(self.delay_seconds),
            run_at=self.run_at,
            timeout_seconds=self.timeout_seconds,
            required_labels=dict(self.required_labels),
        )


class TaskBatchCreate(Strict):
    tasks: Annotated[list[TaskCreate], Field(min_length=1, max_length=1000)]


class AttemptOut(BaseModel):
    """One ended run of a task."""

    attempt: int
    node_id: str | None
    started_at: datetime
    finished_at: datetime
    outcome: str = Field(
        description="completed, failed, released, lease_expired, cancelled, timeout or reassigned"
    )
    error: Any = Field(
        None,
        description="what the node reported (the worker runtime sends code, type, message "
        "and traceback) or why the service ended the run",
    )

    @classmethod
    def of(cls, a: Attempt) -> AttemptOut:
        return cls(
            attempt=a.number,
            node_id=a.node_id,
            started_at=a.started_at,
            finished_at=a.finished_at,
            outcome=a.outcome,
            error=a.error,
        )


class TaskOut(BaseModel):
    task_id: str
    task_type: str
    status: str
    version: int
    params: dict[str, Any]
    metadata: dict[str, Any]
    owner_id: str | None
    assigned_node_id: str | None
    priority: int
    attempts: int = Field(
        description="charged attempts (failures and lapsed leases), what max_attempts bounds"
    )
    max_attempts: int
    runs: int = Field(description="times the task has been run, the current run included")
    lease_owner: str | None
    leased_at: datetime | None
    lease_expires_at: datetime | None
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
    attempt_history: list[AttemptOut] | None = Field(
        None, description="every ended run, oldest first; only in GET /tasks/{task_id}"
    )
    waiting_for_worker: str | None = Field(
        None,
        description="only in GET /tasks/{task_id}: why a pending task has no live node "
        "that could run it (its type, labels or pin); null when one could",
    )
    last_node_id: str | None = Field(
        None,
        description="the node that ran the latest ended attempt (a failed task's "
        "lease_owner is cleared; this is not); in GET /tasks and GET /tasks/{task_id}",
    )
    job_id: str | None = Field(None, description="the job this task is a chunk of")
    chunk_index: int | None = None
    traceparent: str | None = Field(
        None,
        description="W3C trace context of the task's trace, when the server traces"
        " (docs/observability.md): a worker continues it around the handler run",
    )

    @classmethod
    def of(
        cls, task: Task, attempts: list[Attempt] | None = None, last_node_id: str | None = None
    ) -> TaskOut:
        if attempts:
            last_node_id = attempts[-1].node_id
        return cls(
            task_id=task.id,
            task_type=task.task_type,
            status=task.status.value,
            version=task.version,
            params=task.params,
            metadata=task.metadata,
            owner_id=task.owner_id,
            assigned_node_id=task.assigned_node_id,
            priority=task.priority,
            attempts=task.attempts,
            max_attempts=task.max_attempts,
            runs=task.runs_started,
            lease_owner=task.lease_owner,
            leased_at=task.leased_at,
            lease_expires_at=task.lease_expires_at,
            run_at=task.run_at,
            timeout_seconds=task.timeout_seconds,
            result=task.result,
            error=task.error,
            original_task_id=task.original_task_id,
            required_labels=task.required_labels,
            progress_seq=task.progress_seq,
            created_at=task.created_at,
            updated_at=task.updated_at,
            started_at=task.started_at,
            finished_at=task.finished_at,
            attempt_history=None if attempts is None else [AttemptOut.of(a) for a in attempts],
            last_node_id=last_node_id,
            job_id=task.job_id,
            chunk_index=task.chunk_index,
            traceparent=task.traceparent,
        )


class TaskList(BaseModel):
    tasks: list[TaskOut]
    next_cursor: str | None


class TaskBatchOut(BaseModel):
    tasks: list[TaskOut]


class ProgressOut(BaseModel):
    task_id: str
    seq: int
    data: dict[str, Any]
    timestamp: datetime

    @classmethod
    def of(cls, p: Progress) -> ProgressOut:
        return cls(task_id=p.task_id, seq=p.seq, data=p.data, timestamp=p.created_at)


class ProgressList(BaseModel):
    progress: list[ProgressOut]


class ReassignIn(Strict):
    node_id: Identifier


class TimeoutIn(Strict):
    reason: Annotated[Text, Field(max_length=1000)] | None = None


# Worker side


class ProgressIn(Strict):
    data: JsonObject


class CompleteIn(Strict):
    version: Version
    result: JsonValue = None


class FailIn(Strict):
    version: Version
    error: JsonValue = None
    retryable: StrictBool = True


class ReleaseIn(Strict):
    version: Version


class StartIn(Strict):
    lease_seconds: Annotated[StrictInt, Field(ge=1, le=MAX_LEASE), Integral] | None = None


class FinishIn(Strict):
    task_id: Identifier
    version: Version
    status: Literal["completed", "failed", "released"]
    result: JsonValue = None
    error: JsonValue = None
    retryable: StrictBool = True


class ClaimIn(Strict):
    task_types: Annotated[list[TaskType], Field(max_length=100)] = Field(default_factory=list)
    max_tasks: Annotated[StrictInt, Field(ge=0, le=1000), Integral] = 1
    wait_seconds: Annotated[Number, Field(ge=0, le=60)] = 0
    lease_seconds: Annotated[StrictInt, Field(ge=1, le=MAX_LEASE), Integral] | None = None
    finishes: Annotated[list[FinishIn], Field(max_length=1000)] = Field(default_factory=list)


class FinishResult(BaseModel):
    task_id: str
    ok: bool
    status: str | None = None
    version: int | None = None
    error: dict[str, Any] | None = None


class ClaimOut(BaseModel):
    tasks: list[TaskOut]
    finished: list[FinishResult]


class HeartbeatIn(Strict):
    task_ids: Annotated[list[Identifier], Field(max_length=10000)] | None = None
    load: JsonObject | None = None


class HeartbeatOut(BaseModel):
    extended: list[str]
    cancelled: list[str]
    lost: list[str]
