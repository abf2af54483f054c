"""A job's SSE stream: its chunks' status changes, live, and its progress.

Like a task stream it subscribes first and reads the database second, so nothing
that commits after the stream opens is missed. Chunk events are the bus's fast
path; ``progress`` (counts, percent, credits, ETA) is always re-read from the
database, after chunk events (at most every ``PROGRESS_EVERY`` seconds while they
pour in), after a lost or truncated message and whenever the stream sits idle, so
the figures a watcher ends with are the database's. The stream ends after the
progress event that shows the job finished, once the chunk events still on their
way from the bus have arrived (the channel quiet for 0.2 s, at most 1 s) and a last
read of the database has sent any the bus had not delivered by then.

Every event carries an SSE ``id``: the position ``<microseconds>.<task id>`` of the
latest chunk change (the chunk row's ``(updated_at, id)``) the stream has sent. A
stream opened with one (``Last-Event-ID`` or ``?after=``) first replays, from the
database and in that order, every chunk changed after it, in its current state,
then goes live; a chunk is never sent at a version older than or equal to one it
was already sent at, so nothing replayed comes twice. Queued bus messages are sent
in key order, and the position never moves back, so a client that stops at any
event and resumes from its id misses nothing it had not seen. What no key order
can tell: a change that commits *after* another with a later ``updated_at`` was
already sent (two commits racing, replicas' clocks apart) while the client was
away is not replayed; the progress figures and ``GET /jobs/{id}/chunks`` always
are exact (docs/jobs.md).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from conveyor.domain.access import Principal
from conveyor.errors import InvalidInput
from conveyor.realtime.bus import Message, Subscription
from conveyor.services.events import job_channel
from conveyor.services.jobs import JobService, JobView
from conveyor.services.runtime import Runtime
from conveyor.services.streams import StreamEvent
from conveyor.store import job_events as change_store
from conveyor.store.job_events import ChunkChange

PROGRESS_EVERY = 0.5
# How long a finished job's stream waits for its last chunks' events (see _trailing).
TRAILING_QUIET, TRAILING_MAX = 0.2, 1.0
# Chunks replayed per database read: a 100,000-chunk job is never held in memory.
REPLAY_PAGE = 500
# Bus messages taken at once and sent in key order (one commit's chunks come together).
BATCH_MAX = 1000
CHUNK, PROGRESS = "chunk", "progress"
CHUNK_FIELDS = ("task_id", "chunk_index", "status", "version", "node_id", "timestamp")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# (microseconds since 1970 UTC, task id). Chunk ids are lowercase UUIDs of one
# shape, so Python's string order is the database's (any collation) for ties.
Key = tuple[int, str]


def micros(when: datetime) -> int:
    return (when - _EPOCH) // _MICROSECOND


def encode_event_id(key: Key) -> str:
    return f"{key[0]}.{key[1]}"


def decode_event_id(value: str) -> Key:
    """An id the route's pattern admitted (``api.cursors.CURSOR_PATTERN``)."""
    stamp, _, task_id = value.partition(".")
    if not (stamp.isdigit() and task_id and len(stamp) <= 17):
        raise InvalidInput("invalid Last-Event-ID", details=[{"field": "Last-Event-ID"}])
    return int(stamp), task_id


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

    async def job_stream(
        self, who: Principal, job_id: str, resume_from: Iterable[str] = ()
    ) -> AsyncGenerator[StreamEvent, None]:
        """Check access now (a refusal is a plain 404), then return the stream; it
        resumes after the latest of ``resume_from``, ids this job's stream sent
        ("" for none)."""
        resume = max((decode_event_id(value) for value in resume_from if value), default=None)
        await self.jobs.get(who, job_id)
        return _JobCursor(self.rt, self.jobs, job_id, resume).run()


class _JobCursor:
    """One job stream's position (the latest chunk change sent) and the version of
    each chunk it sent, which drops whatever the replay or the bus repeats."""

    def __init__(self, rt: Runtime, jobs: JobService, job_id: str, resume: Key | None) -> None:
        self.rt = rt
        self.jobs = jobs
        self.job_id = job_id
        self.position = resume
        self.versions: dict[str, int] = {}

    async def run(self) -> AsyncGenerator[StreamEvent, None]:
        idle = self.rt.settings.sse_keepalive_seconds
        async with self.rt.bus.subscribe(job_channel(self.job_id)) as sub:
            with self.rt.metrics.sse_subscribers.track_inprogress():
                # A new watcher starts from the latest change (its first id already
                # resumes); a returning one from where it was.
                async for event in self._replay():
                    yield event
                view = await self.jobs.view(self.job_id)
                yield self._progress(view)
                last_sent = time.monotonic()
                due = False
                while not view.job.status.is_terminal:
                    since = time.monotonic() - last_sent
                    got = await sub.get(max(0.0, PROGRESS_EVERY - since) if due else idle)
                    if got is not None:
                        async for event in self._received(sub, got[1]):
                            yield event
                        # Anything on the job's channel (a truncated message too)
                        # means the figures moved: re-read them, but not too often.
                        due = True
                        if time.monotonic() - last_sent < PROGRESS_EVERY:
                            continue
                    elif not due:
                        # Idle for a keep-alive interval: pick up anything the bus lost.
                        async for event in self._replay():
                            yield event
                    view = await self.jobs.view(self.job_id)
                    if view.job.status.is_terminal:
                        # The last chunks' events were published after their commits
                        # and may still be on their way from the bus: pass them on
                        # before the final progress ends the stream.
                        async for event in self._trailing(sub):
                            yield event
                        # And what the bus has not brought by then (a loaded replica
                        # delivers late): every chunk ended before the job did, so the
                        # database has them all.
                        async for event in self._replay():
                            yield event
                    yield self._progress(view)
                    last_sent = time.monotonic()
                    due = False

    async def _received(self, sub: Subscription, message: Message) -> AsyncIterator[StreamEvent]:
        for event in self._live(_batch(sub, message)):
            yield event
        if sub.overflowed:
            # Messages were dropped for a slow reader: the database has them.
            sub.overflowed = False
            async for event in self._replay():
                yield event

    def _id(self) -> str | None:
        return encode_event_id(self.position) if self.position is not None else None

    def _progress(self, view: JobView) -> StreamEvent:
        return StreamEvent(PROGRESS, progress_data(view), self._id())

    def _chunk(self, key: Key, version: int, data: dict[str, Any]) -> StreamEvent | None:
        """The event for one chunk change, unless that version was sent already."""
        if self.versions.get(key[1], 0) >= version:
            return None
        self.versions[key[1]] = version
        if self.position is None or key > self.position:
            self.position = key
        return StreamEvent(CHUNK, data, self._id())

    async def _start_from_latest(self) -> None:
        async with self.rt.db.read() as conn:
            latest = await change_store.latest_change(conn, self.job_id)
        if latest is not None:
            self.position = (micros(latest[0]), latest[1])

    async def _replay(self) -> AsyncIterator[StreamEvent]:
        """Chunks changed after the position, from the database, in key order; in
        pages, each in its own short transaction, so a slow client holds no
        connection while it drains them."""
        if self.position is None:
            await self._start_from_latest()
            return
        while True:
            stamp, task_id = self.position
            after = (_EPOCH + stamp * _MICROSECOND, task_id)
            async with self.rt.db.read() as conn:
                rows = await change_store.changes_after(conn, self.job_id, after, REPLAY_PAGE)
            for row in rows:
                key = (micros(row.updated_at), row.task_id)
                event = self._chunk(key, row.version, _change_data(row))
                # Past this row even when it was sent already: the next page starts here.
                if key > self.position:
                    self.position = key
                if event is not None:
                    yield event
            if len(rows) < REPLAY_PAGE:
                return

    def _live(self, messages: list[Message]) -> list[StreamEvent]:
        """The chunk changes among queued bus messages, in key order."""
        changes = sorted(
            ((key, message) for message in messages if (key := _message_key(message))),
            key=lambda change: change[0],
        )
        events = []
        for key, message in changes:
            data = {k: message[k] for k in CHUNK_FIELDS if k in message}
            event = self._chunk(key, int(message["version"]), data)
            if event is not None:
                events.append(event)
        return events

    async def _trailing(self, sub: Subscription) -> AsyncIterator[StreamEvent]:
        """Chunk events still arriving: until the channel is quiet for
        ``TRAILING_QUIET`` seconds, at most ``TRAILING_MAX``."""
        deadline = time.monotonic() + TRAILING_MAX
        while (left := deadline - time.monotonic()) > 0:
            got = await sub.get(min(TRAILING_QUIET, left))
            if got is None:
                return
            async for event in self._received(sub, got[1]):
                yield event


def _batch(sub: Subscription, first: Message) -> list[Message]:
    """``first`` and whatever else is queued already (at most ``BATCH_MAX``)."""
    messages = [first]
    while len(messages) < BATCH_MAX and (more := sub.get_nowait()) is not None:
        messages.append(more[1])
    return messages


def _message_key(message: Message) -> Key | None:
    """A chunk's status change's key, or None for any other message."""
    if message.get("event") != "status_change" or "chunk_index" not in message:
        return None
    if not isinstance(message.get("version"), int):
        return None
    try:
        return micros(datetime.fromisoformat(str(message["timestamp"]))), str(message["task_id"])
    except (KeyError, ValueError):
        return None


def _change_data(row: ChunkChange) -> dict[str, Any]:
    return {
        "task_id": row.task_id,
        "chunk_index": row.chunk_index,
        "status": row.status.value,
        "version": row.version,
        "node_id": row.node_id,
        "timestamp": row.updated_at.isoformat(),
    }
