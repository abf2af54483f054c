"""Chunked jobs (DESIGN §4): the job record, its status and its figures, as pure rules.

A job's chunks are tasks; everything here is derived from how many of them sit in
each task status and from the job's price, so the figures shown and the ledger's
movements follow one rule:

- each completed chunk has been paid (``spent``), from the job's reservation;
- each chunk that ended otherwise (failed, timed out, cancelled) has had its price
  released (``refunded``);
- what remains reserved is the price of every chunk still pending or in progress.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from conveyor.domain.states import TaskStatus
from conveyor.domain.validation import INT64_MAX

# The runtimes customer code can ask for, and the node label a chunk of such a job
# then requires: a worker with the sandbox advertises ``runtime:python = true`` for
# each runtime it can run (worker/sandbox/handler.py reads these names from here).
RUNTIMES = ("python", "node")
RUNTIME_LABEL_VALUE = "true"
# The task type of every chunk of a job that carries customer code.
SANDBOX_TASK_TYPE = "conveyor.sandbox"


def runtime_label(runtime: str) -> str:
    return f"runtime:{runtime}"


# Chunks are inserted in batches while the dataset streams in: at most this many
# chunks, or this many items, whichever comes first, so that big chunks of a big
# dataset never pile up in memory.
INSERT_BATCH = 200
INSERT_ITEMS = 10_000
# The grid shows this many of a chunk's first items.
PREVIEW_ITEMS = 3
# Why the system cancelled a chunk: its job was cancelled (the job's cancel then
# releases the reservation of every such chunk at once, under the job's ref).
JOB_CANCELLED = "job_cancelled"


class JobStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIALLY_FAILED = "partially_failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self is not JobStatus.RUNNING


OPEN_CHUNK = frozenset({TaskStatus.PENDING, TaskStatus.IN_PROGRESS})


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    owner_id: str
    status: JobStatus
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
    last_claimed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def reserved_total(self) -> int:
        return self.chunk_count * self.price_per_chunk


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a customer asks for; the items come separately (inline or streamed)."""

    task_type: str
    chunk_size: int
    max_concurrency: int
    price_per_chunk: int
    max_attempts: int | None = None
    required_labels: dict[str, str] = field(default_factory=dict)
    allow_own_nodes: bool = False
    priority: int = 0
    dataset_artifact_id: str | None = None
    code_artifact_id: str | None = None
    runtime: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def chunk_labels(self) -> dict[str, str]:
        """The labels every chunk requires: the job's, plus the runtime its code needs."""
        labels = dict(self.required_labels)
        if self.code_artifact_id is not None and self.runtime is not None:
            labels[runtime_label(self.runtime)] = RUNTIME_LABEL_VALUE
        return labels


def spec_problems(spec: JobSpec, items_given: bool) -> list[dict[str, str]]:
    """Field problems the schema cannot see (the combination of fields)."""
    problems: list[dict[str, str]] = []
    if items_given == (spec.dataset_artifact_id is not None):
        problems.append(
            {"field": "items", "message": "give exactly one of items or dataset_artifact_id"}
        )
    if spec.code_artifact_id is not None and spec.task_type != SANDBOX_TASK_TYPE:
        problems.append(
            {"field": "task_type", "message": f"a job with code runs {SANDBOX_TASK_TYPE}"}
        )
    if spec.code_artifact_id is None and not spec.task_type:
        problems.append({"field": "task_type", "message": "required without code_artifact_id"})
    if (spec.code_artifact_id is None) != (spec.runtime is None):
        problems.append({"field": "runtime", "message": "code_artifact_id and runtime go together"})
    if spec.runtime is not None and spec.runtime not in RUNTIMES:
        problems.append({"field": "runtime", "message": f"one of: {', '.join(RUNTIMES)}"})
    return problems


def budget(chunk_count: int, price_per_chunk: int) -> int | None:
    """What creating the job reserves; None when it would not fit a 64-bit amount."""
    total = chunk_count * price_per_chunk
    return total if total <= INT64_MAX else None


def chunk_params(items: list[Any], spec: JobSpec) -> dict[str, Any]:
    params: dict[str, Any] = {"items": items}
    if spec.code_artifact_id is not None:
        params["code_artifact_id"] = spec.code_artifact_id
        params["runtime"] = spec.runtime
    return params


@dataclass(frozen=True, slots=True)
class JobFigures:
    """A job's chunk counts and what they mean in progress and credits."""

    counts: dict[str, int]
    chunk_count: int
    price_per_chunk: int

    def count(self, *statuses: TaskStatus) -> int:
        return sum(self.counts.get(s.value, 0) for s in statuses)

    @property
    def completed(self) -> int:
        return self.count(TaskStatus.COMPLETED)

    @property
    def ended_unpaid(self) -> int:
        return self.count(TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.CANCELLED)

    @property
    def open(self) -> int:
        return self.count(*OPEN_CHUNK)

    @property
    def progress_percent(self) -> float:
        if self.chunk_count == 0:
            return 100.0
        return round(100.0 * (self.completed + self.ended_unpaid) / self.chunk_count, 2)

    @property
    def spent(self) -> int:
        return self.completed * self.price_per_chunk

    @property
    def refunded(self) -> int:
        return self.ended_unpaid * self.price_per_chunk

    @property
    def reserved(self) -> int:
        return self.open * self.price_per_chunk


def final_status(counts: Mapping[str, int]) -> JobStatus | None:
    """The status a running job ends in once no chunk is open; None while one still is.
    (A cancelled job was ended by its cancel.)"""
    if any(counts.get(s.value, 0) for s in OPEN_CHUNK):
        return None
    done = counts.get(TaskStatus.COMPLETED.value, 0)
    return JobStatus.COMPLETED if done == sum(counts.values()) else JobStatus.PARTIALLY_FAILED


def eta_seconds(
    finished_chunks: int, open_chunks: int, started: datetime, now: datetime
) -> float | None:
    """Time left at the rate chunks have finished so far; None before the first one."""
    if open_chunks == 0:
        return 0.0
    elapsed = (now - started).total_seconds()
    if finished_chunks == 0 or elapsed <= 0:
        return None
    return round(open_chunks * elapsed / finished_chunks, 1)


def is_job_cancel(error: Any) -> bool:
    return isinstance(error, dict) and error.get("code") == JOB_CANCELLED


def result_lines(result: Any) -> list[Any]:
    """A completed chunk's lines in the job's results: one per element of its
    ``results`` list (the per-item convention built-in handlers follow), else the
    whole result as one line."""
    if isinstance(result, dict) and isinstance(result.get("results"), list):
        return list(result["results"])
    return [result]


# The missing-chunks header stays under what HTTP clients accept for a header
# (h11 refuses past 16 KiB for all of them together).
MAX_RANGES_HEADER = 4000


def index_ranges(indexes: list[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2,5,7-8"``; cut with ``,...`` past the header limit."""
    parts: list[str] = []
    start = prev = None
    for index in indexes:
        if prev is not None and index == prev + 1:
            prev = index
            continue
        if start is not None:
            parts.append(f"{start}-{prev}" if start != prev else str(start))
        start = prev = index
    if start is not None:
        parts.append(f"{start}-{prev}" if start != prev else str(start))
    text = ",".join(parts)
    if len(text) > MAX_RANGES_HEADER:
        text = text[:MAX_RANGES_HEADER].rsplit(",", 1)[0] + ",..."
    return text
