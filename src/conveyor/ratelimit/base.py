"""The rate limiter interface: a fixed budget per key per window (GCRA semantics)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

# What /readyz reports: limits shared by every replica (Redis), this process's own
# (no Redis configured), this process's own because Redis was unreachable at
# start-up, or shared but Redis stopped answering (logins refused, the rest allowed).
EPSILON = 1e-9
LimiterMode = Literal["shared", "local", "degraded", "failing"]


@dataclass(frozen=True, slots=True)
class Preset:
    """``limit`` requests per ``period_seconds``, allowing bursts up to ``burst``."""

    limit: int
    period_seconds: float
    burst: int

    @classmethod
    def bucket(cls, capacity: int, refill_per_second: float) -> Preset:
        """A token bucket (seed 003's terms): ``capacity`` tokens, refilled at a rate."""
        return cls(limit=1, period_seconds=1 / refill_per_second, burst=capacity)

    @property
    def interval(self) -> float:
        return self.period_seconds / self.limit

    @property
    def window_seconds(self) -> int:
        """How long an emptied budget takes to refill completely."""
        return max(1, math.ceil(self.interval * self.burst))


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0
    # Requests left in the burst after this one, and seconds until it is full again.
    remaining: int = 0
    reset_after: float = 0.0


class LimiterUnavailable(Exception):
    """The shared store did not answer; the caller decides to refuse or to allow."""


class RateLimiter(ABC):
    mode: LimiterMode = "local"

    @abstractmethod
    async def hit(self, key: str, preset: Preset) -> Decision: ...

    async def start(self) -> None:
        return None

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
    # A tolerance, or float error refuses the last request of a full burst.
    if allow_at - now > EPSILON:
        return Decision(False, allow_at - now, 0, tat - now), tat
    return Decision(True, 0.0, remaining(new_tat, now, preset), new_tat - now), new_tat


def remaining(tat: float, now: float, preset: Preset) -> int:
    """Requests still allowed right now, given the theoretical arrival time."""
    # The epsilon absorbs float error (2 x 1/3 - 1/3 is a hair under 1/3).
    left = (preset.burst * preset.interval - (tat - now)) / preset.interval
    return max(0, math.floor(left + EPSILON))
