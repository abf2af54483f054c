"""Reading the child's pipes without trusting it: bounded answer, bounded log, progress lines.

stderr is read line by line. A line ``CONVEYOR_PROGRESS {json object}`` is progress
(docs/sandbox.md); anything else is log, of which only the end is kept, for the
error of a failed chunk. Progress is relayed at most once per interval, the latest
report winning, so a chatty loop cannot flood the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Coroutine
from typing import Any

PROGRESS_PREFIX = b"CONVEYOR_PROGRESS "
READ_BYTES = 64 * 1024
# A progress line longer than this is log, not progress.
MAX_PROGRESS_LINE = 16 * 1024

ProgressSink = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]


class LogTail:
    """The last ``limit`` bytes written, decoded leniently."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._data = bytearray()
        self.dropped = 0

    def add(self, data: bytes) -> None:
        self._data += data
        excess = len(self._data) - self.limit
        if excess > 0:
            del self._data[:excess]
            self.dropped += excess

    def text(self) -> str:
        text = self._data.decode("utf-8", errors="replace")
        return f"…({self.dropped} bytes before)\n{text}" if self.dropped else text


class ProgressRelay:
    def __init__(self, sink: ProgressSink | None, interval: float) -> None:
        self._sink = sink
        self._interval = interval
        self._latest: dict[str, Any] | None = None
        self._ready = asyncio.Event()
        self._closing = asyncio.Event()
        self._task = asyncio.create_task(self._relay()) if sink is not None else None
        self.reports = 0
        self.refused = 0
        self.last_refusal = ""

    def offer(self, data: dict[str, Any]) -> None:
        self.reports += 1
        self._latest = data
        self._ready.set()

    async def _relay(self) -> None:
        while not self._closing.is_set():
            await self._ready.wait()
            await self._send_latest()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self._interval)
        # Whatever arrived while the last report was in flight.
        await self._send_latest()

    async def _send_latest(self) -> None:
        self._ready.clear()
        data, self._latest = self._latest, None
        if data is None or self._sink is None:
            return
        try:
            await self._sink(data)
        except Exception as exc:
            # Progress is advisory: one the server refuses (too deep, a NUL) is dropped,
            # never the chunk.
            self.refused += 1
            self.last_refusal = str(exc)

    async def close(self) -> None:
        """Stop relaying once the report in flight and the latest one are sent."""
        if self._task is None:
            return
        self._closing.set()
        self._ready.set()
        try:
            await self._task
        except asyncio.CancelledError:
            self._task.cancel()
            raise


def parse_progress(line: bytes) -> dict[str, Any] | None:
    if not line.startswith(PROGRESS_PREFIX) or len(line) > MAX_PROGRESS_LINE:
        return None
    try:
        data = json.loads(line[len(PROGRESS_PREFIX) :])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def read_stderr(stream: asyncio.StreamReader, log: LogTail, relay: ProgressRelay) -> None:
    pending = b""
    while chunk := await stream.read(READ_BYTES):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        if len(pending) > MAX_PROGRESS_LINE:
            log.add(pending)
            pending = b""
        for line in lines:
            _take_line(line, log, relay)
    if pending:
        _take_line(pending, log, relay)


def _take_line(line: bytes, log: LogTail, relay: ProgressRelay) -> None:
    progress = parse_progress(line)
    if progress is None:
        log.add(line + b"\n")
    else:
        relay.offer(progress)


async def read_bounded(
    stream: asyncio.StreamReader, limit: int, on_overflow: Callable[[], None]
) -> bytes | None:
    """Everything up to ``limit`` bytes; ``None`` (after ``on_overflow()``) past it."""
    data = bytearray()
    while chunk := await stream.read(READ_BYTES):
        data += chunk
        if len(data) > limit:
            on_overflow()
            return None
    return bytes(data)


async def feed(stream: asyncio.StreamWriter, payload: bytes) -> None:
    # A child that exits without reading its input is not an error of ours.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stream.write(payload)
        await stream.drain()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stream.close()
        await stream.wait_closed()
