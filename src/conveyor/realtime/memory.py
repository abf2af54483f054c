"""The in-process bus: the single-replica set-up (embedded SQLite) needs nothing more."""

from __future__ import annotations

from conveyor.realtime.bus import EventBus, Message


class InProcessBus(EventBus):
    def post(self, messages: list[tuple[list[str], Message]]) -> None:
        # Delivery is a function call here: nothing to wait for, so no sender task.
        self._deliver(messages)

    async def publish_many(self, messages: list[tuple[list[str], Message]]) -> None:
        self._deliver(messages)
