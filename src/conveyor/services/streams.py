"""What an SSE stream says: a task's progress and status, or the admin firehose.

The task stream is assembled so that a watcher misses nothing and sees nothing
twice, on any replica:

1. subscribe to the task's channel *first*, so whatever commits from now on is
   queued for us;
2. read the task and its progress history from the database;
3. go live, dropping queued progress with ``seq <=`` the last one sent and status
   changes with ``version <=`` the last one known.

The database is the truth and the bus only a fast path: whenever the bus may have
lost something (a subscriber queue overflowed, a message arrived ``truncated``
because NOTIFY payloads are small, a progress ``seq`` skipped ahead, or the stream
sat idle for a keep-alive interval) the stream re-reads from the database where
it left off. Routes only frame what this yields.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from conveyor.domain.access import Principal, can_view_task
from conveyor.domain.states import TaskStatus
from conveyor.domain.tasks import Progress, Task
from conveyor.errors import Forbidden, NotFound
from conveyor.services.events import FIREHOSE, status_payload, task_channel
from conveyor.services.runtime import Runtime
from conveyor.store import progress as progress_store
from conveyor.store import tasks as task_store

HISTORY_PAGE = 500
STATUS_FIELDS = ("status", "result", "error", "version", "timestamp")
PROGRESS, STATUS = "progress", "status_change"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    event: str
    data: dict[str, Any]
    id: str | None = None


def progress_event(seq: int, data: Any, timestamp: str) -> StreamEvent:
    return StreamEvent(PROGRESS, {"seq": seq, "data": data, "timestamp": timestamp}, str(seq))


def from_progress(row: Progress) -> StreamEvent:
    return progress_event(row.seq, row.data, row.created_at.isoformat())


def status_event(message: dict[str, Any]) -> StreamEvent:
    return StreamEvent(STATUS, {k: message[k] for k in STATUS_FIELDS if k in message})


@dataclass(frozen=True, slots=True)
class FirehoseFilter:
    task_types: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()

    def admits(self, message: dict[str, Any]) -> bool:
        if self.task_types and message.get("task_type") not in self.task_types:
            return False
        return not self.statuses or message.get("status") in self.statuses


class StreamService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    @property
    def idle_seconds(self) -> float:
        return self.rt.settings.sse_keepalive_seconds

    async def task_stream(
        self, who: Principal, task_id: str, after_seq: int, ignore_history: bool
    ) -> AsyncGenerator[StreamEvent, None]:
        """Check access now (so a refusal is a plain 404), then return the stream."""
        async with self.rt.db.read() as conn:
            task = await task_store.get_task(conn, task_id)
        if task is None or not can_view_task(who, task):
            raise NotFound(f"task {task_id} not found")
        cursor = _Cursor(self.rt, task_id, after_seq)
        return cursor.run(ignore_history, self.idle_seconds)

    async def firehose(
        self, who: Principal, flt: FirehoseFilter
    ) -> AsyncGenerator[StreamEvent, None]:
        if not who.is_admin:
            raise Forbidden("admins only")
        return self._firehose(flt)

    async def _firehose(self, flt: FirehoseFilter) -> AsyncGenerator[StreamEvent, None]:
        async with self.rt.bus.subscribe(FIREHOSE) as sub:
            with self.rt.metrics.sse_subscribers.track_inprogress():
                while True:
                    got = await sub.get(self.idle_seconds)
                    if got is None or not flt.admits(got[1]):
                        continue
                    data = {k: v for k, v in got[1].items() if k != "event"}
                    yield StreamEvent(STATUS, data)


class _Cursor:
    """One task stream's position: the last progress seq sent, the last status version."""

    def __init__(self, rt: Runtime, task_id: str, after_seq: int) -> None:
        self.rt = rt
        self.task_id = task_id
        self.last_seq = after_seq
        self.last_version = 0
        self.done = False

    async def run(self, ignore_history: bool, idle: float) -> AsyncGenerator[StreamEvent, None]:
        async with self.rt.bus.subscribe(task_channel(self.task_id)) as sub:
            # Counted once subscribed: a watcher waiting on the gauge knows that
            # whatever commits from then on reaches this stream.
            with self.rt.metrics.sse_subscribers.track_inprogress():
                async for event in self._catch_up(skip_progress=ignore_history, initial=True):
                    yield event
                while not self.done:
                    got = await sub.get(idle)
                    if got is None or sub.overflowed or got[1].get("truncated"):
                        sub.overflowed = False
                        stream = self._catch_up()
                    else:
                        stream = self._live(got[1])
                    async for event in stream:
                        yield event

    async def _live(self, message: dict[str, Any]) -> AsyncIterator[StreamEvent]:
        if message.get("event") == PROGRESS:
            seq = int(message["seq"])
            if seq <= self.last_seq:
                return  # already sent from history
            if seq > self.last_seq + 1:
                # A gap: something was lost on the way; the database has it.
                async for event in self._catch_up():
                    yield event
                return
            self.last_seq = seq
            yield progress_event(seq, message.get("data"), str(message.get("timestamp")))
        elif message.get("event") == STATUS:
            if int(message.get("version", 0)) <= self.last_version:
                return
            if TaskStatus(message["status"]).is_terminal:
                # The final word: read it (and any progress not yet seen) from the
                # database so the stream ends complete and in order.
                async for event in self._catch_up():
                    yield event
                return
            self.last_version = int(message["version"])
            yield status_event(message)

    async def _catch_up(
        self, *, skip_progress: bool = False, initial: bool = False
    ) -> AsyncIterator[StreamEvent]:
        """Progress after ``last_seq`` and the status if it moved, from the database."""
        task = await self._read_task()
        if skip_progress:
            self.last_seq = max(self.last_seq, task.progress_seq)
        async for row in self._history():
            yield from_progress(row)
        if initial:
            # The status the watcher starts from is the current one, not news,
            # unless the task is already finished.
            self.last_version = task.version if not task.status.is_terminal else 0
        if task.version > self.last_version:
            self.last_version = task.version
            yield status_event(status_payload(task))
        self.done = task.status.is_terminal

    async def _read_task(self) -> Task:
        async with self.rt.db.read() as conn:
            task = await task_store.get_task(conn, self.task_id)
        if task is None:
            raise NotFound(f"task {self.task_id} not found")
        return task

    async def _history(self) -> AsyncIterator[Progress]:
        # Read in pages, each in its own short transaction, so a long history never
        # holds a connection while a slow client drains it.
        while True:
            async with self.rt.db.read() as conn:
                rows = await progress_store.history(conn, self.task_id, self.last_seq, HISTORY_PAGE)
            for row in rows:
                self.last_seq = row.seq
                yield row
            if len(rows) < HISTORY_PAGE:
                return
