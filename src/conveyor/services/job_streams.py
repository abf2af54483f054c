"""A job's SSE stream: its chunks' status changes, live, and its progress.

Like a task stream it subscribes first and reads the database second, so nothing
that commits after the stream opens is missed. Chunk events are the bus's fast
path; ``progress`` (counts, percent, credits, ETA) is always re-read from the
database, after chunk events (at most every ``PROGRESS_EVERY`` seconds while they
pour in), after a lost or truncated message and whenever the stream sits idle, so
the figures a watcher ends with are the database's. The stream ends after the
progress event that shows the job finished, once the chunk events still on their
way from the bus have arrived (the channel quiet for 0.2 s, at most 1 s).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import Any

from conveyor.domain.access import Principal
from conveyor.realtime.bus import Subscription
from conveyor.services.events import job_channel
from conveyor.services.jobs import JobService, JobView
from conveyor.services.runtime import Runtime
from conveyor.services.streams import StreamEvent

PROGRESS_EVERY = 0.5
# How long a finished job's stream waits for its last chunks' events (see _trailing).
TRAILING_QUIET, TRAILING_MAX = 0.2, 1.0
CHUNK, PROGRESS = "chunk", "progress"
CHUNK_FIELDS = ("task_id", "chunk_index", "status", "version", "node_id", "timestamp")


def progress_data(view: JobView) -> dict[str, Any]:
    figures = view.figures
    return {
        "job_id": view.job.id,
        "status": view.job.status.value,
        "chunks": view.job.chunk_count,
        "counts": figures.counts,
        "progress_percent": figures.progress_percent,
        "spent": figures.spent,
        "reserved": figures.reserved,
        "refunded": figures.refunded,
        "eta_seconds": view.eta_seconds,
    }


class JobStreamService:
    def __init__(self, rt: Runtime, jobs: JobService) -> None:
        self.rt = rt
        self.jobs = jobs

    async def job_stream(self, who: Principal, job_id: str) -> AsyncGenerator[StreamEvent, None]:
        """Check access now (a refusal is a plain 404), then return the stream."""
        await self.jobs.get(who, job_id)
        return self._run(job_id)

    async def _run(self, job_id: str) -> AsyncGenerator[StreamEvent, None]:
        idle = self.rt.settings.sse_keepalive_seconds
        async with self.rt.bus.subscribe(job_channel(job_id)) as sub:
            with self.rt.metrics.sse_subscribers.track_inprogress():
                view = await self.jobs.view(job_id)
                yield StreamEvent(PROGRESS, progress_data(view))
                last_sent = time.monotonic()
                due = False
                while not view.job.status.is_terminal:
                    since = time.monotonic() - last_sent
                    got = await sub.get(max(0.0, PROGRESS_EVERY - since) if due else idle)
                    if got is not None:
                        event = _chunk_event(got[1])
                        if event is not None:
                            yield event
                        # Anything on the job's channel (a truncated message too)
                        # means the figures moved: re-read them, but not too often.
                        due = True
                        if time.monotonic() - last_sent < PROGRESS_EVERY:
                            continue
                    view = await self.jobs.view(job_id)
                    if view.job.status.is_terminal:
                        # The last chunks' events were published after their commits
                        # and may still be on their way from the bus: pass them on
                        # before the final progress ends the stream.
                        async for event in _trailing(sub):
                            yield event
                    yield StreamEvent(PROGRESS, progress_data(view))
                    last_sent = time.monotonic()
                    due = False


async def _trailing(sub: Subscription) -> AsyncGenerator[StreamEvent, None]:
    """Chunk events still arriving: until the channel is quiet for ``TRAILING_QUIET``
    seconds, at most ``TRAILING_MAX``."""
    deadline = time.monotonic() + TRAILING_MAX
    while (left := deadline - time.monotonic()) > 0:
        got = await sub.get(min(TRAILING_QUIET, left))
        if got is None:
            return
        event = _chunk_event(got[1])
        if event is not None:
            yield event


def _chunk_event(message: dict[str, Any]) -> StreamEvent | None:
    if message.get("event") != "status_change" or "chunk_index" not in message:
        return None
    return StreamEvent(CHUNK, {k: message[k] for k in CHUNK_FIELDS if k in message})
