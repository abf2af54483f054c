"""Finished tasks' results waiting for a request to carry them to the server."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

# Results sent in one request at most; the rest wait for the next.
BATCH = 1000
# And their encoded size at most (one result larger than this still goes, alone): a
# claim carrying forty 100 KB chunk results made the server hold some 50 MB of
# decoded JSON per request, and its RSS never came back down.
BATCH_BYTES = 1024 * 1024


class ResultBuffer:
    """Oldest first. A result may wait ``hold_seconds`` for a claim to carry it with
    its neighbours' before one is due just for it (``hold_left``)."""

    def __init__(self, hold_seconds: float) -> None:
        self.hold_seconds = hold_seconds
        self.ready = asyncio.Event()  # set whenever a result arrives
        self._items: list[dict[str, Any]] = []
        self._sizes: list[int] = []  # each item's encoded size, for BATCH_BYTES
        self._since: float | None = None  # when the oldest held result arrived

    def __len__(self) -> int:
        return len(self._items)

    def push(self, payload: dict[str, Any]) -> None:
        if not self._items:
            self._since = time.monotonic()
        self._items.append(payload)
        self._sizes.append(len(json.dumps(payload, default=str)))
        self.ready.set()

    def take(self) -> list[dict[str, Any]]:
        count, total = 0, 0
        for size in self._sizes[:BATCH]:
            if count and total + size > BATCH_BYTES:
                break
            count, total = count + 1, total + size
        taken, self._items = self._items[:count], self._items[count:]
        self._sizes = self._sizes[count:]
        if not self._items:
            self._since = None
        return taken

    def requeue(self, finishes: list[dict[str, Any]]) -> None:
        """Put back what a failed request carried, ahead of anything newer."""
        if finishes and self._since is None:
            self._since = time.monotonic()
        self._items[:0] = finishes
        self._sizes[:0] = [len(json.dumps(f, default=str)) for f in finishes]

    def hold_left(self) -> float | None:
        """Seconds the held results may still wait for a claim (None: none held)."""
        if self._since is None:
            return None
        return max(0.0, self._since + self.hold_seconds - time.monotonic())
