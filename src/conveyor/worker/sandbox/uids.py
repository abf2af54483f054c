"""A pool of unprivileged uids, one per sandbox running at once.

Limits such as ``RLIMIT_NPROC`` count every process of a uid, so sandboxes sharing
one uid would share one budget (and could signal each other outside namespaces).
Uids are handed out in rotation, the longest-free first: processes a chunk left
behind are killed, but their zombies count against the uid's process limit until
the machine's init reaps them, which some inits do lazily.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class UidPool:
    def __init__(self, base: int, count: int) -> None:
        self._free = deque(range(base, base + count))
        self._available = asyncio.Condition()

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[int]:
        async with self._available:
            await self._available.wait_for(lambda: bool(self._free))
            uid = self._free.popleft()
        try:
            yield uid
        finally:
            async with self._available:
                self._free.append(uid)
                self._available.notify()
