"""In-process GCRA limiter for the single-replica (SQLite) set-up."""

from __future__ import annotations

import time
from collections import OrderedDict

from conveyor.ratelimit.base import Decision, Preset, RateLimiter, gcra

MAX_KEYS = 100_000


class MemoryRateLimiter(RateLimiter):
    def __init__(self) -> None:
        self._tats: OrderedDict[str, float] = OrderedDict()

    async def hit(self, key: str, preset: Preset) -> Decision:
        now = time.monotonic()
        decision, tat = gcra(self._tats.get(key, now), now, preset)
        self._tats[key] = tat
        self._tats.move_to_end(key)
        # Bounded memory: the least recently seen keys are long idle and would be
        # allowed anyway, so forgetting them changes nothing.
        while len(self._tats) > MAX_KEYS:
            self._tats.popitem(last=False)
        return decision
