"""The job calls of ``AsyncClient`` (chunked jobs, DESIGN §4), kept in their own module."""

from __future__ import annotations

import asyncio
import json
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
)
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from conveyor.client.errors import ApiError, ConnectionFailed, error_from_response
from conveyor.client.models import Chunk, Event, Job, JobResults
from conveyor.client.requester import Requester
from conveyor.client.retry import RETRY_STATUSES, RetryPolicy

if TYPE_CHECKING:
    from conveyor.client.async_client import AsyncClient

MISSING_HEADER = "Conveyor-Missing-Chunks"
JOB_ENDED = frozenset({"completed", "partially_failed", "cancelled"})
T = TypeVar("T")


class AsyncJobCalls(Requester):
    """Mixed into ``AsyncClient``, which provides ``request``, ``http`` and ``_sse``."""

    http: httpx.AsyncClient
    retry: RetryPolicy

    def _sse(self, path: str, params: Mapping[str, Any]) -> AsyncIterator[Event]:
        raise NotImplementedError  # AsyncClient's

    async def create_job(
        self,
        task_type: str,
        *,
        items: Iterable[Any] | None = None,
        dataset_artifact_id: str | None = None,
        chunk_size: int,
        max_concurrency: int,
        price_per_chunk: int,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> Job:
        """Split ``items`` (or an uploaded JSON/JSONL dataset) into chunks and reserve
        ``chunks * price_per_chunk`` credits (``PaymentRequired`` when short)."""
        body: dict[str, Any] = {
            "task_type": task_type,
            "chunk_size": chunk_size,
            "max_concurrency": max_concurrency,
            "price_per_chunk": price_per_chunk,
            **{k: v for k, v in options.items() if v is not None},
        }
        if items is not None:
            body["items"] = list(items)
        if dataset_artifact_id is not None:
            body["dataset_artifact_id"] = dataset_artifact_id
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        data = await self.request(
            "POST", "/jobs", json_body=body, headers=headers, idempotent=bool(idempotency_key)
        )
        return Job.from_json(data)

    async def job(self, job_id: str) -> Job:
        return Job.from_json(await self.request("GET", f"/jobs/{job_id}"))

    async def jobs_page(
        self, *, status: str | None = None, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[Job], str | None]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if cursor:
            params["cursor"] = cursor
        data = await self.request("GET", "/jobs", params=params)
        return [Job.from_json(j) for j in data["jobs"]], data.get("next_cursor")

    async def jobs(self, *, status: str | None = None, page_size: int = 50) -> AsyncIterator[Job]:
        """Every job visible to the caller, newest first, across pages."""
        cursor: str | None = None
        while True:
            page, cursor = await self.jobs_page(status=status, cursor=cursor, limit=page_size)
            for job in page:
                yield job
            if not cursor:
                return

    async def chunks(self, job_id: str, *, page_size: int = 200) -> AsyncIterator[Chunk]:
        """The job's chunk grid in chunk order."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if cursor:
                params["cursor"] = cursor
            data = await self.request("GET", f"/jobs/{job_id}/chunks", params=params)
            for chunk in data["chunks"]:
                yield Chunk.from_json(chunk)
            cursor = data.get("next_cursor")
            if not cursor:
                return

    async def stream_results(
        self, job_id: str, write: Callable[[bytes], Awaitable[Any] | Any]
    ) -> tuple[str, int]:
        """Hand the results' JSONL bytes to ``write`` as they arrive; returns the missing
        chunks (``"0-4,7"``) and how many there are."""
        async with self.http.stream("GET", f"/jobs/{job_id}/results") as response:
            if response.status_code >= 400:
                await response.aread()
                raise error_from_response(response)
            async for block in response.aiter_bytes():
                outcome = write(block)
                if isinstance(outcome, Awaitable):
                    await outcome
            missing = response.headers.get(MISSING_HEADER, "")
            count = int(response.headers.get("Conveyor-Missing-Count", "0"))
        return missing, count

    async def results(self, job_id: str) -> JobResults:
        """The results in memory (one decoded JSON value per line)."""
        received = bytearray()
        missing, count = await self.stream_results(job_id, received.extend)
        lines = [json.loads(line) for line in received.decode().splitlines() if line]
        return JobResults(lines, missing, count)

    async def cancel_job(self, job_id: str) -> Job:
        return Job.from_json(await self.request("POST", f"/jobs/{job_id}/cancel"))

    async def job_events(self, job_id: str, *, after: str | None = None) -> AsyncIterator[Event]:
        """``chunk`` and ``progress`` events; ends after the progress of a finished job.

        A dropped connection (or a stream the server ended early, as on a restart)
        is reopened with the last event id seen, and the server replays the chunk
        changes missed meanwhile; ``retry``'s attempts bound the reconnects in a row
        without an event in between. ``after``: an event id to resume from.
        """
        last = after
        sent: dict[str, int] = {}
        failures = 0
        while True:
            params = {"after": last} if last else {}
            try:
                async for event in self._sse(f"/jobs/{job_id}/events", params):
                    failures = 0
                    last = event.id or last
                    if event.event == "chunk" and not _news(sent, event.data):
                        continue
                    yield event
                    if event.event == "progress" and event.data.get("status") in JOB_ENDED:
                        return
                problem: Exception = ConnectionFailed(f"job {job_id}: stream ended early")
            except httpx.TransportError as exc:
                problem = exc
            except ApiError as exc:
                if exc.status_code not in RETRY_STATUSES:
                    raise
                problem = exc
            failures += 1
            if failures >= self.retry.attempts:
                raise ConnectionFailed(f"job {job_id} events: {problem!r}") from problem
            await asyncio.sleep(self.retry.delay(failures))


def _news(sent: dict[str, int], chunk: Mapping[str, Any]) -> bool:
    """Whether a chunk event is newer than any sent for that chunk (the server sends
    none twice; this keeps it so whatever happens on the way)."""
    task_id, version = chunk.get("task_id"), chunk.get("version")
    if not isinstance(task_id, str) or not isinstance(version, int):
        return True
    if sent.get(task_id, 0) >= version:
        return False
    sent[task_id] = version
    return True


class SyncJobCalls:
    """Mixed into ``Client``: the same calls, run on its private event loop."""

    aio: AsyncClient

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        raise NotImplementedError  # Client's

    def _iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        raise NotImplementedError  # Client's

    def create_job(self, task_type: str, **options: Any) -> Job:
        return self._run(self.aio.create_job(task_type, **options))

    def job(self, job_id: str) -> Job:
        return self._run(self.aio.job(job_id))

    def jobs(self, **filters: Any) -> list[Job]:
        return list(self._iterate(self.aio.jobs(**filters)))

    def chunks(self, job_id: str) -> list[Chunk]:
        return list(self._iterate(self.aio.chunks(job_id)))

    def results(self, job_id: str) -> JobResults:
        return self._run(self.aio.results(job_id))

    def stream_results(self, job_id: str, write: Callable[[bytes], Any]) -> tuple[str, int]:
        return self._run(self.aio.stream_results(job_id, write))

    def cancel_job(self, job_id: str) -> Job:
        return self._run(self.aio.cancel_job(job_id))

    def job_events(self, job_id: str, *, after: str | None = None) -> Iterator[Event]:
        return self._iterate(self.aio.job_events(job_id, after=after))
