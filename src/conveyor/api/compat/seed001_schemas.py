"""Seed 001's request and answer bodies (camelCase, as its Express server and React UI
speak; the snake_case spellings are accepted on input too)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, StrictBool, StrictInt

from conveyor.api.compat.base import SeedModel
from conveyor.api.schemas.common import Identifier, Integral, JsonValue, Labels, TaskType, Text
from conveyor.api.schemas.jobs import MAX_INLINE_ITEMS, ArtifactId
from conveyor.api.schemas.wallet import Amount
from conveyor.domain.jobs import SANDBOX_TASK_TYPE, JobSpec
from conveyor.domain.ledger import MAX_API_AMOUNT, Balances, Movement
from conveyor.domain.tasks import Task
from conveyor.services.jobs import JobView
from conveyor.services.wallet import PaymentOutcome


def _alias(*names: str) -> Any:
    return AliasChoices(*names)


def _capability_list(value: Any) -> Any:
    # The UI's "required capabilities" may be a list of names: each must be "true".
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {name: "true" for name in value}
    return value


Count = Annotated[StrictInt, Field(ge=1, le=100_000), Integral]


class TaskIn(SeedModel):
    """A seed 001 task: a dataset, the code (or a built-in handler), the budget."""

    name: Annotated[Text, Field(max_length=200)] | None = None
    task_type: TaskType | None = Field(None, validation_alias=_alias("taskType", "task_type"))
    items: Annotated[list[JsonValue], Field(max_length=MAX_INLINE_ITEMS)] | None = Field(
        None, validation_alias=_alias("items", "data")
    )
    dataset_artifact_id: ArtifactId | None = Field(
        None, validation_alias=_alias("datasetArtifactId", "dataset_artifact_id", "dataArtifactId")
    )
    code_artifact_id: ArtifactId | None = Field(
        None, validation_alias=_alias("codeArtifactId", "code_artifact_id")
    )
    runtime: Literal["python", "node"] | None = None
    chunk_size: Count = Field(validation_alias=_alias("chunkSize", "chunk_size", "bucketSize"))
    max_concurrency: Count = Field(
        1,
        validation_alias=_alias("maxConcurrency", "max_concurrency", "bucketSlots", "concurrency"),
    )
    price_per_chunk: Annotated[StrictInt, Field(ge=0, le=MAX_API_AMOUNT), Integral] = Field(
        0, validation_alias=_alias("pricePerChunk", "price_per_chunk", "costPerChunk")
    )
    capabilities: Annotated[Labels, BeforeValidator(_capability_list)] = Field(
        default_factory=dict,
        validation_alias=_alias("requiredCapabilities", "capabilities", "required_labels"),
    )
    allow_own_nodes: StrictBool = Field(
        False, validation_alias=_alias("allowOwnWorkers", "allow_own_nodes")
    )

    def to_spec(self) -> JobSpec:
        code = self.code_artifact_id
        return JobSpec(
            task_type=self.task_type or (SANDBOX_TASK_TYPE if code else ""),
            chunk_size=self.chunk_size,
            max_concurrency=self.max_concurrency,
            price_per_chunk=self.price_per_chunk,
            required_labels=dict(self.capabilities),
            allow_own_nodes=self.allow_own_nodes,
            dataset_artifact_id=self.dataset_artifact_id,
            code_artifact_id=code,
            # Seed 001's code is a main.js: Node.js unless the customer says otherwise.
            runtime=(self.runtime or "node") if code else self.runtime,
            metadata={"seed_001_name": self.name} if self.name else {},
        )


class TaskOut(SeedModel):
    id: str
    taskId: str
    name: str | None
    status: str
    taskType: str
    runtime: str | None
    codeArtifactId: str | None
    datasetArtifactId: str | None
    chunkSize: int
    totalChunks: int
    itemCount: int
    pendingChunks: int
    inProgressChunks: int
    completedChunks: int
    failedChunks: int
    progress: float = Field(description="percent of chunks ended")
    maxConcurrency: int = Field(description="bucket slots")
    pricePerChunk: int
    budget: int
    spent: int
    reserved: int
    refunded: int
    platformFeePercent: int
    requiredCapabilities: dict[str, str]
    createdAt: datetime
    updatedAt: datetime
    finishedAt: datetime | None

    @classmethod
    def of(cls, view: JobView) -> TaskOut:
        job, figures = view.job, view.figures
        counts = figures.counts
        name = job.metadata.get("seed_001_name")
        return cls(
            id=job.id,
            taskId=job.id,
            name=name if isinstance(name, str) else None,
            status=job.status.value,
            taskType=job.task_type,
            runtime=job.runtime,
            codeArtifactId=job.code_artifact_id,
            datasetArtifactId=job.dataset_artifact_id,
            chunkSize=job.chunk_size,
            totalChunks=job.chunk_count,
            itemCount=job.item_count,
            pendingChunks=counts.get("pending", 0),
            inProgressChunks=counts.get("in_progress", 0),
            completedChunks=counts.get("completed", 0),
            failedChunks=sum(counts.get(s, 0) for s in ("failed", "timeout", "cancelled")),
            progress=figures.progress_percent,
            maxConcurrency=job.max_concurrency,
            pricePerChunk=job.price_per_chunk,
            budget=job.reserved_total,
            spent=figures.spent,
            reserved=figures.reserved,
            refunded=figures.refunded,
            platformFeePercent=job.fee_percent,
            requiredCapabilities=job.required_labels,
            createdAt=job.created_at,
            updatedAt=job.updated_at,
            finishedAt=job.finished_at,
        )


class TaskList(SeedModel):
    tasks: list[TaskOut]


WorkerId = Annotated[Identifier, Field(description="must name the calling node if given")]


class NextChunkIn(SeedModel):
    worker_id: WorkerId | None = Field(None, validation_alias=_alias("workerId", "worker_id"))
    task_id: Identifier | None = Field(None, validation_alias=_alias("taskId", "task_id"))
    wait_seconds: Annotated[float, Field(ge=0, le=30)] = Field(
        0, validation_alias=_alias("waitSeconds", "wait_seconds")
    )


class ChunkOut(SeedModel):
    chunkId: str
    taskId: str | None
    chunkIndex: int | None
    version: int
    items: list[Any] | None
    itemsArtifactId: str | None
    codeArtifactId: str | None
    runtime: str | None
    entry: str | None
    taskType: str
    leaseExpiresAt: datetime | None

    @classmethod
    def of(cls, task: Task) -> ChunkOut:
        p = task.params
        items = p.get("items")
        return cls(
            chunkId=task.id,
            taskId=task.job_id,
            chunkIndex=task.chunk_index,
            version=task.version,
            items=items if isinstance(items, list) else None,
            itemsArtifactId=p.get("items_artifact_id"),
            codeArtifactId=p.get("code_artifact_id"),
            runtime=p.get("runtime"),
            entry=p.get("entry"),
            taskType=task.task_type,
            leaseExpiresAt=task.lease_expires_at,
        )


class NextChunkOut(SeedModel):
    chunk: ChunkOut | None


class RecordIn(SeedModel):
    chunk_id: Identifier = Field(validation_alias=_alias("chunkId", "chunk_id", "id"))
    worker_id: WorkerId | None = Field(None, validation_alias=_alias("workerId", "worker_id"))
    version: Annotated[StrictInt, Field(ge=0), Integral] | None = None
    status: Literal["completed", "failed", "in_progress", "progress"] | None = None
    results: list[JsonValue] | None = None
    result: JsonValue = None
    error: JsonValue = None
    retryable: StrictBool = True
    progress: Annotated[float, Field(ge=0, le=100)] | dict[str, JsonValue] | None = None
    message: Annotated[Text, Field(max_length=2000)] | None = None


class RecordOut(SeedModel):
    ok: bool = True
    chunkId: str
    status: str
    version: int
    progressSeq: int | None = None
    task: TaskOut | None = None


class HeartbeatIn(SeedModel):
    worker_id: WorkerId | None = Field(None, validation_alias=_alias("workerId", "worker_id"))
    chunk_ids: Annotated[list[Identifier], Field(max_length=1000)] | None = Field(
        None, validation_alias=_alias("chunkIds", "chunk_ids")
    )


class HeartbeatOut(SeedModel):
    workerId: str
    extended: list[str]
    cancelled: list[str]
    lost: list[str]


class AmountIn(SeedModel):
    amount: Amount


class WalletOut(SeedModel):
    userId: str
    balance: int = Field(description="available: what new tasks reserve from")
    available: int
    reserved: int
    earned: int

    @classmethod
    def of(cls, user_id: str, b: Balances) -> WalletOut:
        return cls(
            userId=user_id,
            balance=b.available,
            available=b.available,
            reserved=b.reserved,
            earned=b.earned,
        )


class PaymentOut(SeedModel):
    id: str
    type: str
    status: str
    amount: int
    provider: str
    checkoutUrl: str | None
    createdAt: datetime
    wallet: WalletOut

    @classmethod
    def of(cls, outcome: PaymentOutcome) -> PaymentOut:
        p = outcome.payment
        return cls(
            id=p.id,
            type=p.direction.value,
            status=p.status.value,
            amount=p.amount,
            provider=p.provider,
            checkoutUrl=outcome.checkout_url,
            createdAt=p.created_at,
            wallet=WalletOut.of(p.user_id, outcome.balances),
        )


class TransactionOut(SeedModel):
    id: int
    type: str
    ref: str
    available: int
    reserved: int
    earned: int
    createdAt: datetime

    @classmethod
    def of(cls, m: Movement) -> TransactionOut:
        return cls(
            id=m.id,
            type=m.kind,
            ref=m.ref,
            available=m.available,
            reserved=m.reserved,
            earned=m.earned,
            createdAt=m.created_at,
        )


class TransactionList(SeedModel):
    transactions: list[TransactionOut]
    nextCursor: str | None
