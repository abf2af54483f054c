"""Which failures are worth another try, and how long to wait before it.

Only failures where the request surely did not take effect are retried for every
call: the connection never opened, the server said 503/502/504 or 429. A dropped
connection after sending is retried only for calls that are safe to repeat (reads,
submissions carrying an idempotency key, finishes guarded by a version).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

RETRY_STATUSES = frozenset({429, 502, 503, 504})
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
MAYBE_SENT = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadTimeout)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    base_seconds: float = 0.2
    max_seconds: float = 10.0

    def delay(self, attempt: int, retry_after: float = 0.0) -> float:
        """Full-jitter exponential backoff, never shorter than the server's Retry-After."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1))
        return max(retry_after, random.uniform(0, ceiling))


NO_RETRY = RetryPolicy(attempts=1)


def retryable_exception(exc: Exception, idempotent: bool) -> bool:
    if isinstance(exc, NEVER_SENT):
        return True
    return idempotent and isinstance(exc, MAYBE_SENT)
