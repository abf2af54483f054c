"""The event bus: channels of small JSON messages, fanned out to local subscribers.

Subclasses decide how a published message reaches every replica (directly in one
process, PostgreSQL NOTIFY, Redis pub/sub); delivery to the subscribers of this
process is shared here. A subscriber that falls too far behind loses its oldest
messages and is told so (``overflowed``), so one slow browser cannot grow the
server's memory without bound; SSE streams then re-read history from the database.

Services hand events over with ``post`` and do not wait: one background sender per
process publishes them in order, and under load one publish carries the events of
many commits (one NOTIFY instead of one per request).
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from conveyor.observability.logging import get_logger

log = get_logger(__name__)
Message = dict[str, Any]
Handler = Callable[[str, Message], None]
QUEUE_LIMIT = 10_000
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; stay well under.
MAX_PAYLOAD_BYTES = 7500
# Fields that may be large: dropped from an oversized message, which is then
# marked ``truncated`` so a reader fetches the full record from the database.
LARGE_FIELDS = ("result", "data", "error", "params")


class Subscription:
    def __init__(self, channels: frozenset[str]) -> None:
        self.channels = channels
        self._queue: asyncio.Queue[tuple[str, Message]] = asyncio.Queue()
        self.overflowed = False

    def _put(self, channel: str, message: Message) -> None:
        if self._queue.qsize() >= QUEUE_LIMIT:
            self._queue.get_nowait()
            self.overflowed = True
        self._queue.put_nowait((channel, message))

    async def get(self, timeout: float | None = None) -> tuple[str, Message] | None:
        """The next message, or None when ``timeout`` passes first."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    def get_nowait(self) -> tuple[str, Message] | None:
        """The next message if one is queued already, else None."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def pending(self) -> int:
        return self._queue.qsize()


class EventBus(ABC):
    def __init__(self) -> None:
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._handlers: dict[str, list[Handler]] = {}
        self._backlog: list[tuple[list[str], Message]] = []
        self._sender: asyncio.Task[None] | None = None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await self.drain()

    @abstractmethod
    async def publish_many(self, messages: list[tuple[list[str], Message]]) -> None:
        """Send each message to all its channels on every replica, in order."""

    def post(self, messages: list[tuple[list[str], Message]]) -> None:
        """Publish in the background, after everything posted before, without waiting.

        A publish that fails is logged and dropped rather than failing a request whose
        transaction already committed: the database holds the truth, streams re-read
        it and long-polls re-check it on their own.
        """
        if not messages:
            return
        self._backlog.extend(messages)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_backlog(), name="conveyor-bus-sender")

    async def drain(self) -> None:
        """Wait until everything posted so far has been published (or given up on)."""
        while self._sender is not None and not self._sender.done():
            await asyncio.shield(self._sender)

    async def _send_backlog(self) -> None:
        while self._backlog:
            batch, self._backlog = self._backlog, []
            try:
                await self.publish_many(batch)
            except Exception as exc:
                # Any failure of the transport (asyncpg, redis, OS); the sender must
                # outlive it or every later event would be lost too.
                log.warning("publishing events failed", events=len(batch), error=repr(exc))

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[Subscription]:
        subscription = Subscription(frozenset(channels))
        for channel in channels:
            self._subscriptions.setdefault(channel, set()).add(subscription)
        try:
            yield subscription
        finally:
            for channel in channels:
                subs = self._subscriptions.get(channel)
                if subs is not None:
                    subs.discard(subscription)
                    if not subs:
                        del self._subscriptions[channel]

    def add_handler(self, channel: str, handler: Handler) -> None:
        """A synchronous callback for every message on ``channel`` (used by the waker)."""
        self._handlers.setdefault(channel, []).append(handler)

    def subscriber_count(self) -> int:
        return len({id(s) for subs in self._subscriptions.values() for s in subs})

    def _deliver(self, messages: Iterable[tuple[list[str], Message]]) -> None:
        """Hand messages that reached this replica to its handlers and subscribers."""
        for channels, message in messages:
            seen: set[int] = set()
            for channel in channels:
                for handler in self._handlers.get(channel, ()):
                    handler(channel, message)
                for sub in self._subscriptions.get(channel, ()):
                    # A subscriber on two of the message's channels gets it once.
                    if id(sub) not in seen:
                        seen.add(id(sub))
                        sub._put(channel, message)


def encode_envelopes(messages: list[tuple[list[str], Message]], limit: int) -> list[str]:
    """Pack messages into as few JSON payloads under ``limit`` bytes as possible.

    Each payload is a list of ``[channels, message]`` pairs, in publish order.
    """
    payloads: list[str] = []
    batch: list[str] = []
    size = 2
    for channels, message in messages:
        item = json.dumps([channels, message], separators=(",", ":"), default=str)
        if len(item.encode()) + 2 > limit:
            item = json.dumps([channels, shrink(message)], separators=(",", ":"), default=str)
        item_size = len(item.encode()) + 1
        if batch and size + item_size > limit:
            payloads.append("[" + ",".join(batch) + "]")
            batch, size = [], 2
        batch.append(item)
        size += item_size
    if batch:
        payloads.append("[" + ",".join(batch) + "]")
    return payloads


def decode_envelope(payload: str) -> list[tuple[list[str], Message]]:
    return [(list(channels), message) for channels, message in json.loads(payload)]


def shrink(message: Message) -> Message:
    small = {k: v for k, v in message.items() if k not in LARGE_FIELDS}
    small["truncated"] = True
    return small
