"""Waking long-polling claimers the moment work for them appears, on any replica.

A replica that creates or releases tasks publishes the task types on the bus's
wake channel; every replica's waker sets the events of its local listeners for
those types. A listener re-checks the database after each wake-up, so a spurious
or lost wake-up costs at most one poll interval, never a lost task.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from conveyor.realtime.bus import EventBus, Message

WAKE_CHANNEL = "wake"


class Listener:
    def __init__(self, types: frozenset[str]) -> None:
        self.types = types
        self._event = asyncio.Event()

    def _wake(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """True when woken, False on timeout; either way the caller re-checks."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        finally:
            self._event.clear()
        return True


class Waker:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._listeners: set[Listener] = set()
        bus.add_handler(WAKE_CHANNEL, self._on_wake)

    def notify(self, types: Iterable[str]) -> None:
        """Wake listeners for ``types`` on every replica (through the bus's sender)."""
        names = sorted(set(types))
        if names:
            self.bus.post([([WAKE_CHANNEL], {"types": names})])

    def _on_wake(self, _channel: str, message: Message) -> None:
        types = set(message.get("types") or ())
        for listener in self._listeners:
            # No types: the listener takes every type (a node registered without
            # types, the push dispatcher).
            if not listener.types or listener.types & types:
                listener._wake()

    @asynccontextmanager
    async def listen(self, types: Iterable[str]) -> AsyncIterator[Listener]:
        listener = Listener(frozenset(types))
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)

    def listener_count(self) -> int:
        return len(self._listeners)
