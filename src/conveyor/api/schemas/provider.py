"""Provider view models: earnings over time and what one's nodes are doing."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from conveyor.domain.earnings import EarningBucket
from conveyor.services.provider import PaidChunk, ProviderWork
from conveyor.store.provider_work import RunningRow


class EarningBucketOut(BaseModel):
    start: datetime = Field(description="the bucket's first instant, UTC")
    earned: int = Field(description="credits paid to this user's nodes in the bucket")
    chunks: int = Field(description="chunks paid in the bucket")

    @classmethod
    def of(cls, b: EarningBucket) -> EarningBucketOut:
        return cls(start=b.start, earned=b.earned, chunks=b.chunks)


class EarningsOut(BaseModel):
    user_id: str
    bucket: Literal["hour", "day"]
    total: int = Field(description="the sum of the buckets")
    buckets: list[EarningBucketOut] = Field(description="oldest first; the current one last")


class RunningOut(BaseModel):
    task_id: str
    task_type: str
    job_id: str | None
    chunk_index: int | None
    node_id: str
    attempts: int
    max_attempts: int
    started_at: datetime | None
    lease_expires_at: datetime | None
    progress: dict[str, Any] | None = Field(description="the latest report its node sent")
    progress_percent: float | None = Field(description="progress.percent when it is a number")

    @classmethod
    def of(cls, row: RunningRow) -> RunningOut:
        raw = (row.progress or {}).get("percent")
        percent = None
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            percent = max(0.0, min(100.0, float(raw)))
        return cls(
            task_id=row.task_id,
            task_type=row.task_type,
            job_id=row.job_id,
            chunk_index=row.chunk_index,
            node_id=row.node_id,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            started_at=row.started_at,
            lease_expires_at=row.lease_expires_at,
            progress=row.progress,
            progress_percent=percent,
        )


class PaidOut(BaseModel):
    task_id: str
    earned: int = Field(description="credits this chunk paid the user, after the fee")
    paid_at: datetime
    task_type: str | None
    job_id: str | None
    chunk_index: int | None
    node_id: str | None
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, paid: PaidChunk) -> PaidOut:
        f = paid.facts
        return cls(
            task_id=paid.task_id,
            earned=paid.earned,
            paid_at=paid.paid_at,
            task_type=f.task_type if f else None,
            job_id=f.job_id if f else None,
            chunk_index=f.chunk_index if f else None,
            node_id=f.node_id if f else None,
            started_at=f.started_at if f else None,
            finished_at=f.finished_at if f else None,
        )


class ProviderWorkOut(BaseModel):
    running: list[RunningOut] = Field(description="tasks the caller's nodes hold now")
    paid: list[PaidOut] = Field(description="the latest chunks the caller was paid for")

    @classmethod
    def of(cls, work: ProviderWork) -> ProviderWorkOut:
        return cls(
            running=[RunningOut.of(r) for r in work.running],
            paid=[PaidOut.of(p) for p in work.paid],
        )
