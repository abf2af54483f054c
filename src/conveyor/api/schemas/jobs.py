"""Job request and response models."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt

from conveyor.api.schemas.common import (
    Integral,
    JsonObject,
    JsonValue,
    Labels,
    Strict,
    TaskType,
)
from conveyor.domain.jobs import PREVIEW_ITEMS, SANDBOX_TASK_TYPE, Job, JobFigures, JobSpec
from conveyor.domain.ledger import MAX_API_AMOUNT
from conveyor.domain.tasks import Task
from conveyor.services.jobs import JobView

ArtifactId = Annotated[str, Field(pattern=r"^[0-9a-f-]{36}$")]
MAX_INLINE_ITEMS = 100_000


class JobCreate(Strict):
    task_type: TaskType | None = Field(
        None,
        description="the handler every chunk runs; omitted (or conveyor.sandbox) when the "
        "job carries customer code",
    )
    items: Annotated[list[JsonValue], Field(max_length=MAX_INLINE_ITEMS)] | None = Field(
        None, description="the items, inline; or give dataset_artifact_id"
    )
    dataset_artifact_id: ArtifactId | None = Field(
        None, description="an uploaded JSON array or JSONL file (read as it streams)"
    )
    chunk_size: Annotated[StrictInt, Field(ge=1, le=100_000), Integral]
    max_concurrency: Annotated[StrictInt, Field(ge=1, le=100_000), Integral] = Field(
        description="bucket slots: at most this many chunks in progress at once"
    )
    price_per_chunk: Annotated[StrictInt, Field(ge=0, le=MAX_API_AMOUNT), Integral] = Field(
        description="integer credits paid per completed chunk; 0 for free work"
    )
    max_attempts: Annotated[StrictInt, Field(ge=1, le=100), Integral] | None = None
    required_labels: Labels = Field(default_factory=dict)
    allow_own_nodes: StrictBool = Field(
        False, description="whether the customer's own nodes may take its chunks"
    )
    priority: Annotated[StrictInt, Field(ge=-1000, le=1000), Integral] = 0
    code_artifact_id: ArtifactId | None = Field(
        None, description="customer code (run by workers with the sandbox); needs runtime"
    )
    runtime: Literal["python", "node"] | None = None
    metadata: JsonObject = Field(default_factory=dict)

    def to_spec(self) -> JobSpec:
        return JobSpec(
            task_type=self.task_type or (SANDBOX_TASK_TYPE if self.code_artifact_id else ""),
            chunk_size=self.chunk_size,
            max_concurrency=self.max_concurrency,
            price_per_chunk=self.price_per_chunk,
            max_attempts=self.max_attempts,
            required_labels=dict(self.required_labels),
            allow_own_nodes=self.allow_own_nodes,
            priority=self.priority,
            dataset_artifact_id=self.dataset_artifact_id,
            code_artifact_id=self.code_artifact_id,
            runtime=self.runtime,
            metadata=self.metadata,
        )


class JobOut(BaseModel):
    job_id: str
    status: str = Field(description="running, completed, partially_failed or cancelled")
    owner_id: str
    task_type: str
    chunk_size: int
    chunk_count: int
    item_count: int
    max_concurrency: int
    price_per_chunk: int
    fee_percent: int
    allow_own_nodes: bool
    required_labels: dict[str, str]
    max_attempts: int
    priority: int
    dataset_artifact_id: str | None
    code_artifact_id: str | None
    runtime: str | None
    metadata: dict[str, Any]
    counts: dict[str, int] = Field(description="chunks by task status")
    progress_percent: float = Field(description="chunks ended (any way) out of all")
    spent: int = Field(description="credits paid for completed chunks")
    reserved: int = Field(description="credits still reserved for open chunks")
    refunded: int = Field(description="credits released for chunks that ended unpaid")
    eta_seconds: float | None = Field(
        None, description="at the rate chunks have ended so far; null before the first"
    )
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, view: JobView) -> JobOut:
        return cls.with_figures(view.job, view.figures, view.eta_seconds)

    @classmethod
    def with_figures(cls, job: Job, figures: JobFigures, eta: float | None) -> JobOut:
        return cls(
            job_id=job.id,
            status=job.status.value,
            owner_id=job.owner_id,
            task_type=job.task_type,
            chunk_size=job.chunk_size,
            chunk_count=job.chunk_count,
            item_count=job.item_count,
            max_concurrency=job.max_concurrency,
            price_per_chunk=job.price_per_chunk,
            fee_percent=job.fee_percent,
            allow_own_nodes=job.allow_own_nodes,
            required_labels=job.required_labels,
            max_attempts=job.max_attempts,
            priority=job.priority,
            dataset_artifact_id=job.dataset_artifact_id,
            code_artifact_id=job.code_artifact_id,
            runtime=job.runtime,
            metadata=job.metadata,
            counts=figures.counts,
            progress_percent=figures.progress_percent,
            spent=figures.spent,
            reserved=figures.reserved,
            refunded=figures.refunded,
            eta_seconds=eta,
            created_at=job.created_at,
            updated_at=job.updated_at,
            finished_at=job.finished_at,
        )


class JobList(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None


class ChunkOut(BaseModel):
    chunk_index: int
    task_id: str
    status: str
    version: int
    node_id: str | None = Field(description="the node holding it now, or that ran it last")
    attempts: int
    runs: int
    items: int = Field(description="how many items the chunk holds")
    preview: list[Any] = Field(description=f"its first {PREVIEW_ITEMS} items")
    result_size: int | None = Field(description="bytes of its result as JSON; null without one")
    error: Any
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, task: Task) -> ChunkOut:
        items = task.params.get("items") or []
        result_size = None
        if task.result is not None:
            result_size = len(json.dumps(task.result, separators=(",", ":")).encode())
        return cls(
            chunk_index=task.chunk_index or 0,
            task_id=task.id,
            status=task.status.value,
            version=task.version,
            node_id=task.lease_owner,
            attempts=task.attempts,
            runs=task.runs_started,
            items=len(items),
            preview=items[:PREVIEW_ITEMS],
            result_size=result_size,
            error=task.error,
            started_at=task.started_at,
            finished_at=task.finished_at,
        )


class ChunkList(BaseModel):
    chunks: list[ChunkOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")
