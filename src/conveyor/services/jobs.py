"""Chunked jobs for customers: create (reserving the budget), read, list, cancel.

A job is created in one transaction: its row, its chunks (cut while the items
stream in, written in batches) and the reservation of ``chunks * price`` from the
customer's available credits. A short balance (``402``), a bad item or an empty
dataset (``400``) roll all of it back: no job, no chunk, no ledger row.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from conveyor.domain.access import Principal
from conveyor.domain.jobs import (
    INSERT_BATCH,
    INSERT_ITEMS,
    JOB_CANCELLED,
    Job,
    JobFigures,
    JobSpec,
    JobStatus,
    budget,
    chunk_params,
    eta_seconds,
    spec_problems,
)
from conveyor.domain.ledger import TransactionKind
from conveyor.domain.states import Role
from conveyor.domain.tasks import NewTask, Task
from conveyor.domain.transitions import Command, Event, decide
from conveyor.errors import Conflict, Forbidden, InvalidInput, NotFound
from conveyor.services.artifacts import ArtifactService
from conveyor.services.datasets import dataset_items, inline_items
from conveyor.services.idempotency import IdempotencyRequest, remember, replay
from conveyor.services.runtime import Runtime
from conveyor.services.unit import Unit, unit_of_work
from conveyor.store import job_rows, ledger
from conveyor.store import jobs as job_store
from conveyor.store import tasks as task_store
from conveyor.store.idempotency import StoredResponse
from conveyor.store.jobs import ChunkResult, JobFilter

# A cancel re-reads open chunks until none is left: a claim or a release may move
# one between the read and the write.
CANCEL_ROUNDS = 10
# Chunks read per results page (each in its own short read transaction); few, so
# that a page of big chunks stays small in memory (10 held ~50 MB of Python objects
# for chunks of 1,000 items; bench/jobs.py).
RESULTS_PAGE = 4


@dataclass(frozen=True, slots=True)
class JobView:
    job: Job
    figures: JobFigures
    eta_seconds: float | None


def can_view_job(who: Principal, job: Job) -> bool:
    return who.is_admin or (who.role is Role.USER and job.owner_id == who.id)


class JobService:
    def __init__(self, rt: Runtime, artifacts: ArtifactService | None = None) -> None:
        self.rt = rt
        self.artifacts = artifacts or ArtifactService(rt)

    async def create(
        self,
        who: Principal,
        spec: JobSpec,
        items: list[Any] | None,
        idem: IdempotencyRequest[JobView] | None = None,
    ) -> StoredResponse | JobView:
        if who.is_node:
            raise Forbidden("nodes cannot create jobs")
        problems = spec_problems(spec, items is not None)
        if problems:
            raise InvalidInput("invalid job", details=problems)
        if spec.code_artifact_id is not None:
            await self.artifacts.get(who, spec.code_artifact_id)
        source = inline_items(items) if items is not None else await self._dataset(who, spec)
        now = self.rt.clock.now()
        job = self._new_job(who, spec, now)
        async with unit_of_work(self.rt) as unit:
            earlier = await replay(unit, who, idem)
            if earlier is not None:
                return earlier
            await job_store.insert_job(unit.conn, job)
            chunks, item_count = await self._write_chunks(unit, job, spec, source, now)
            if chunks == 0:
                raise InvalidInput(
                    "a job needs at least one item",
                    details=[{"field": "items", "message": "no items"}],
                )
            total = budget(chunks, spec.price_per_chunk)
            if total is None:
                raise InvalidInput(
                    "chunks * price_per_chunk exceeds the largest amount",
                    details=[{"field": "price_per_chunk", "message": "budget past 64 bits"}],
                )
            await job_store.set_counts(unit.conn, job.id, chunks, item_count)
            if total > 0:
                await ledger.reserve(unit.conn, user_id=who.id, amount=total, ref=f"job:{job.id}")
            job = replace(job, chunk_count=chunks, item_count=item_count)
            view = JobView(job, JobFigures({"pending": chunks}, chunks, job.price_per_chunk), None)
            stored = await remember(unit, who, idem, view, now)
            unit.outbox.wake_types.add(job.task_type)
        self.rt.jobs_running.noted()
        return stored if stored is not None else view

    async def _dataset(self, who: Principal, spec: JobSpec) -> AsyncIterator[Any]:
        assert spec.dataset_artifact_id is not None
        artifact, data = await self.artifacts.content(who, spec.dataset_artifact_id)
        return dataset_items(artifact, data)

    def _new_job(self, who: Principal, spec: JobSpec, now: datetime) -> Job:
        return Job(
            id=str(uuid.uuid4()),
            owner_id=who.id,
            status=JobStatus.RUNNING,
            task_type=spec.task_type,
            chunk_size=spec.chunk_size,
            chunk_count=0,
            item_count=0,
            max_concurrency=spec.max_concurrency,
            price_per_chunk=spec.price_per_chunk,
            fee_percent=self.rt.settings.platform_fee_percent,
            allow_own_nodes=spec.allow_own_nodes,
            required_labels=spec.chunk_labels(),
            max_attempts=spec.max_attempts or self.rt.settings.default_max_attempts,
            priority=spec.priority,
            dataset_artifact_id=spec.dataset_artifact_id,
            code_artifact_id=spec.code_artifact_id,
            runtime=spec.runtime,
            metadata=spec.metadata,
            last_claimed_at=None,
            created_at=now,
            updated_at=now,
            finished_at=None,
        )

    async def _write_chunks(
        self, unit: Unit, job: Job, spec: JobSpec, source: AsyncIterator[Any], now: datetime
    ) -> tuple[int, int]:
        """Cut chunks while the items stream in; returns (chunks, items)."""
        batch: list[NewTask] = []
        current: list[Any] = []
        chunks = items = 0

        def cut() -> None:
            nonlocal chunks, current
            batch.append(self._chunk(job, spec, chunks, current, now))
            chunks += 1
            current = []

        held = 0  # items in the batch not yet written
        async for item in source:
            current.append(item)
            items += 1
            held += 1
            if len(current) == spec.chunk_size:
                cut()
                if len(batch) >= INSERT_BATCH or held >= INSERT_ITEMS:
                    await job_store.insert_chunks(unit.conn, batch, now)
                    batch = []
                    held = 0
        if current:
            cut()
        await job_store.insert_chunks(unit.conn, batch, now)
        return chunks, items

    @staticmethod
    def _chunk(job: Job, spec: JobSpec, index: int, items: list[Any], now: datetime) -> NewTask:
        return NewTask(
            id=str(uuid.uuid4()),
            task_type=job.task_type,
            params=chunk_params(items, spec),
            metadata={"job_id": job.id, "chunk_index": index},
            owner_id=job.owner_id,
            assigned_node_id=None,
            priority=job.priority,
            max_attempts=job.max_attempts,
            run_at=now,
            timeout_seconds=None,
            required_labels=job.required_labels,
            job_id=job.id,
            chunk_index=index,
        )

    # --- reading -------------------------------------------------------------------

    async def _visible(self, who: Principal, job_id: str) -> Job:
        async with self.rt.db.read() as conn:
            job = await job_rows.get_job(conn, job_id)
        if job is None or not can_view_job(who, job):
            raise NotFound(f"job {job_id} not found")
        return job

    async def get(self, who: Principal, job_id: str) -> JobView:
        await self._visible(who, job_id)
        return await self.view(job_id)

    async def view(self, job_id: str) -> JobView:
        """The job and its figures, read in one snapshot."""
        async with self.rt.db.read() as conn:
            job = await job_rows.get_job(conn, job_id)
            if job is None:
                raise NotFound(f"job {job_id} not found")
            counts = await job_rows.chunk_counts(conn, job_id)
        return self._view(job, counts)

    async def list_views(
        self, who: Principal, flt: JobFilter, cursor: str | None, limit: int
    ) -> tuple[list[JobView], str | None]:
        if who.is_node:
            raise Forbidden("nodes have no jobs")
        if not who.is_admin:
            flt = replace(flt, owner_id=who.id)
        async with self.rt.db.read() as conn:
            page, next_cursor = await job_store.list_jobs(conn, flt, cursor, limit)
            counts = await job_store.chunk_counts_many(conn, [job.id for job in page])
        return [self._view(job, counts[job.id]) for job in page], next_cursor

    def _view(self, job: Job, counts: dict[str, int]) -> JobView:
        figures = JobFigures(counts, job.chunk_count, job.price_per_chunk)
        finished = figures.completed + figures.ended_unpaid
        eta = eta_seconds(finished, figures.open, job.created_at, self.rt.clock.now())
        return JobView(job, figures, eta)

    async def chunks(self, who: Principal, job_id: str, after_index: int, limit: int) -> list[Task]:
        await self._visible(who, job_id)
        async with self.rt.db.read() as conn:
            return await job_store.chunk_page(conn, job_id, after_index, limit)

    async def results(
        self, who: Principal, job_id: str
    ) -> tuple[list[int], AsyncIterator[ChunkResult]]:
        """The chunks missing now, and a stream of every other chunk's result in order.

        The stream yields exactly the chunks that were complete when the missing list
        was read, so the header and the body always agree.
        """
        await self._visible(who, job_id)
        async with self.rt.db.read() as conn:
            missing = await job_store.unfinished_indexes(conn, job_id)
        return missing, self._results(job_id, set(missing))

    async def _results(self, job_id: str, missing: set[int]) -> AsyncIterator[ChunkResult]:
        after = -1
        page = RESULTS_PAGE
        while True:
            # A short read transaction per page: a slow download never holds one open.
            async with self.rt.db.read() as conn:
                rows = await job_store.result_page(conn, job_id, after, page)
            for row in rows:
                after = row.chunk_index
                if row.chunk_index not in missing:
                    yield row
            if len(rows) < page:
                return

    # --- cancel --------------------------------------------------------------------

    async def cancel(self, who: Principal, job_id: str) -> JobView:
        """Stop a job: no new claims, open chunks cancelled (running ones lose their
        lease), and what was reserved for them released in one ledger transaction."""
        job = await self._visible(who, job_id)
        if who.is_node:
            raise Forbidden("nodes cannot cancel jobs")
        now = self.rt.clock.now()
        # First on its own: once committed, no claim on any replica takes a chunk of
        # this job (the claim chooses running jobs, under the job's lock).
        async with unit_of_work(self.rt) as unit:
            stopped = await job_store.mark_cancelled(unit.conn, job_id, now)
            if stopped is None and job.status is not JobStatus.CANCELLED:
                current = await job_rows.get_job(unit.conn, job_id)
                if current is None or current.status is not JobStatus.CANCELLED:
                    status = current.status.value if current else "gone"
                    raise Conflict(
                        f"a job that is {status} cannot be cancelled",
                        details={"job_id": job_id, "status": status},
                    )
            if stopped is not None:
                unit.outbox.job_changed(job_id, JobStatus.CANCELLED.value)
        async with unit_of_work(self.rt) as unit:
            cancelled = await self._cancel_open(unit, job_id)
            if cancelled and job.price_per_chunk > 0:
                ref = f"cancel:{job_id}"
                if await ledger.was_used(unit.conn, TransactionKind.RELEASE, ref):
                    ref = f"cancel:{job_id}:{now.isoformat()}"
                amount = cancelled * job.price_per_chunk
                await ledger.release(unit.conn, user_id=job.owner_id, amount=amount, ref=ref)
        return await self.view(job_id)

    async def _cancel_open(self, unit: Unit, job_id: str) -> int:
        cmd = Command(
            Event.CANCEL, error={"code": JOB_CANCELLED, "message": "the job was cancelled"}
        )
        now = self.rt.clock.now()
        cancelled = 0
        for _ in range(CANCEL_ROUNDS):
            open_chunks = await job_store.open_chunks(unit.conn, job_id)
            if not open_chunks:
                break
            planned = [decide(t, cmd, now, self.rt.retry_policy, self.rt.rng) for t in open_chunks]
            done = await task_store.apply_transitions(unit.conn, planned)
            unit.outbox.status_changed(done.values())
            cancelled += len(done)
        return cancelled
