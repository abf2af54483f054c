"""The rate limiter interface: a fixed budget per key per window (GCRA semantics)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Preset:
    """``limit`` requests per ``period_seconds``, allowing bursts up to ``burst``."""

    limit: int
    period_seconds: float
    burst: int

    @property
    def interval(self) -> float:
        return self.period_seconds / self.limit


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0


class RateLimiter(ABC):
    @abstractmethod
    async def hit(self, key: str, preset: Preset) -> Decision: ...

    async def close(self) -> None:
        return None


def gcra(tat: float, now: float, preset: Preset) -> tuple[Decision, float]:
    """Generic cell rate algorithm: one timestamp per key, exact and O(1).

    ``tat`` is the theoretical arrival time of the next request; a request is allowed
    when it would not push ``tat`` further ahead of now than the burst allows.
    """
    interval = preset.interval
    tat = max(tat, now)
    new_tat = tat + interval
    allow_at = new_tat - interval * preset.burst
    if allow_at > now:
        return Decision(False, retry_after=allow_at - now), tat
    return Decision(True), new_tat
