"""Typed views of the API's JSON answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TERMINAL = frozenset({"completed", "failed", "timeout", "cancelled"})


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One ended run of a task: who ran it, when, how it ended and its error."""

    attempt: int
    node_id: str | None
    started_at: datetime | None
    finished_at: datetime | None
    outcome: str
    error: Any

    @property
    def error_type(self) -> str | None:
        return self.error.get("type") if isinstance(self.error, dict) else None

    @property
    def traceback(self) -> str | None:
        return self.error.get("traceback") if isinstance(self.error, dict) else None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attempt:
        return cls(
            attempt=data["attempt"],
            node_id=data.get("node_id"),
            started_at=_time(data.get("started_at")),
            finished_at=_time(data.get("finished_at")),
            outcome=data["outcome"],
            error=data.get("error"),
        )


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    task_type: str
    status: str
    version: int
    params: dict[str, Any]
    metadata: dict[str, Any]
    # Charged attempts (failures, lapsed leases): what ``max_attempts`` bounds.
    attempts: int
    max_attempts: int
    result: Any
    error: Any
    owner_id: str | None
    assigned_node_id: str | None
    lease_owner: str | None
    original_task_id: str | None
    progress_seq: int
    created_at: datetime | None
    finished_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    # How many times it has run, the current run included.
    runs: int = 0
    # Every ended run, oldest first; only ``get()`` fills it in (None elsewhere).
    attempt_history: list[Attempt] | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        return cls(
            id=data["task_id"],
            task_type=data["task_type"],
            status=data["status"],
            version=data["version"],
            params=data.get("params") or {},
            metadata=data.get("metadata") or {},
            attempts=data.get("attempts", 0),
            max_attempts=data.get("max_attempts", 1),
            result=data.get("result"),
            error=data.get("error"),
            owner_id=data.get("owner_id"),
            assigned_node_id=data.get("assigned_node_id"),
            lease_owner=data.get("lease_owner"),
            original_task_id=data.get("original_task_id"),
            progress_seq=data.get("progress_seq", 0),
            created_at=_time(data.get("created_at")),
            finished_at=_time(data.get("finished_at")),
            raw=data,
            runs=data.get("runs", 0),
            attempt_history=_attempts(data.get("attempt_history")),
        )


def _attempts(value: Any) -> list[Attempt] | None:
    return [Attempt.from_json(a) for a in value] if isinstance(value, list) else None


@dataclass(frozen=True, slots=True)
class Progress:
    task_id: str
    seq: int
    data: dict[str, Any]
    timestamp: datetime | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Progress:
        return cls(
            data["task_id"], data["seq"], data.get("data") or {}, _time(data.get("timestamp"))
        )


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event: ``progress`` or ``status_change``."""

    event: str
    id: str | None
    data: dict[str, Any]

    @property
    def final(self) -> bool:
        return self.event == "status_change" and self.data.get("status") in TERMINAL


@dataclass(frozen=True, slots=True)
class FinishResult:
    task_id: str
    ok: bool
    status: str | None
    version: int | None
    error: dict[str, Any] | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FinishResult:
        return cls(
            data["task_id"], data["ok"], data.get("status"), data.get("version"), data.get("error")
        )


@dataclass(frozen=True, slots=True)
class ClaimResult:
    tasks: list[Task]
    finished: list[FinishResult]


@dataclass(frozen=True, slots=True)
class Heartbeat:
    extended: list[str]
    cancelled: list[str]
    lost: list[str]


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    name: str
    kind: str
    status: str
    health: str
    task_types: list[str]
    labels: dict[str, str]
    max_concurrency: int
    url: str | None
    last_seen: datetime | None
    secret: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Node:
        return cls(
            id=data["node_id"],
            name=data["name"],
            kind=data["kind"],
            status=data["status"],
            health=data["health"],
            task_types=data.get("task_types") or [],
            labels=data.get("labels") or {},
            max_concurrency=data.get("max_concurrency", 1),
            url=data.get("url"),
            last_seen=_time(data.get("last_seen")),
            secret=data.get("node_secret"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    role: str
    disabled: bool
    created_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> User:
        return cls(
            id=data["user_id"],
            username=data["username"],
            role=data["role"],
            disabled=bool(data.get("disabled")),
            created_at=_time(data.get("created_at")),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Wallet:
    """Whole credits: spendable, held for running jobs, and earned by one's nodes."""

    user_id: str
    available: int
    reserved: int
    earned: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Wallet:
        return cls(data["user_id"], data["available"], data["reserved"], data["earned"])


@dataclass(frozen=True, slots=True)
class Payment:
    """A deposit or withdrawal; a pending Stripe deposit carries its ``checkout_url``."""

    id: str
    provider: str
    direction: str
    status: str
    amount: int
    checkout_url: str | None
    created_at: datetime | None
    wallet: Wallet

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Payment:
        return cls(
            id=data["payment_id"],
            provider=data["provider"],
            direction=data["direction"],
            status=data["status"],
            amount=data["amount"],
            checkout_url=data.get("checkout_url"),
            created_at=_time(data.get("created_at")),
            wallet=Wallet.from_json(data["wallet"]),
        )


@dataclass(frozen=True, slots=True)
class WalletTransaction:
    """One ledger transaction as this wallet saw it: the change to each balance."""

    id: int
    kind: str
    ref: str
    created_at: datetime | None
    available: int
    reserved: int
    earned: int
    details: dict[str, Any] | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WalletTransaction:
        return cls(
            id=data["transaction_id"],
            kind=data["kind"],
            ref=data["ref"],
            created_at=_time(data.get("created_at")),
            available=data["available"],
            reserved=data["reserved"],
            earned=data["earned"],
            details=data.get("details"),
        )


JOB_TERMINAL = frozenset({"completed", "partially_failed", "cancelled"})


@dataclass(frozen=True, slots=True)
class Job:
    """A chunked job with its figures (counts by chunk status, credits, ETA)."""

    id: str
    status: str
    task_type: str
    chunk_count: int
    item_count: int
    max_concurrency: int
    price_per_chunk: int
    counts: dict[str, int]
    progress_percent: float
    spent: int
    reserved: int
    refunded: int
    eta_seconds: float | None
    created_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def finished(self) -> bool:
        return self.status in JOB_TERMINAL

    @property
    def chunks_done(self) -> int:
        """Chunks that ended, whichever way."""
        return sum(n for status, n in self.counts.items() if status in TERMINAL)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        return cls(
            id=data["job_id"],
            status=data["status"],
            task_type=data["task_type"],
            chunk_count=data["chunk_count"],
            item_count=data["item_count"],
            max_concurrency=data["max_concurrency"],
            price_per_chunk=data["price_per_chunk"],
            counts=dict(data.get("counts") or {}),
            progress_percent=float(data.get("progress_percent", 0.0)),
            spent=data.get("spent", 0),
            reserved=data.get("reserved", 0),
            refunded=data.get("refunded", 0),
            eta_seconds=data.get("eta_seconds"),
            created_at=_time(data.get("created_at")),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Chunk:
    """One cell of a job's chunk grid."""

    index: int
    task_id: str
    status: str
    node_id: str | None
    attempts: int
    items: int
    preview: list[Any]
    result_size: int | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Chunk:
        return cls(
            index=data["chunk_index"],
            task_id=data["task_id"],
            status=data["status"],
            node_id=data.get("node_id"),
            attempts=data.get("attempts", 0),
            items=data.get("items", 0),
            preview=list(data.get("preview") or []),
            result_size=data.get("result_size"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class JobResults:
    """A job's results as downloaded: the lines, and the chunks not among them."""

    lines: list[Any]
    missing: str  # chunk indexes and ranges, "0-4,7"; empty when none is missing
    missing_count: int
