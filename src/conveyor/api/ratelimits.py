"""Rate limits at the HTTP edge: who is limited under which budget, and the
``RateLimit-Policy`` / ``RateLimit`` headers (IETF httpapi-ratelimit-headers draft)
on every response of a limited route, refusals included.

When the shared limiter's Redis stops answering, ``/auth/*`` fails closed (``429``:
an unlimited login endpoint is a password-guessing and argon2 CPU hole) and every
other route fails open (an outage of the limiter must not become an outage of the
API); both are logged, at most once per ``LOG_EVERY_SECONDS``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from fastapi import Request

from conveyor.errors import RateLimited
from conveyor.observability.logging import get_logger
from conveyor.ratelimit.base import Decision, LimiterUnavailable, Preset, RateLimiter
from conveyor.ratelimit.client_ip import Network, client_address

log = get_logger(__name__)
FAIL_CLOSED = frozenset({"auth", "login"})
LOG_EVERY_SECONDS = 10.0
STATE_KEY = "conveyor_ratelimits"


@dataclass(frozen=True, slots=True)
class Applied:
    name: str
    preset: Preset
    decision: Decision


@dataclass
class Limits:
    limiter: RateLimiter | None
    presets: dict[str, Preset]
    trusted_proxies: tuple[Network, ...] = ()
    _last_logged: float = float("-inf")

    async def enforce(self, request: Request, key: str, name: str) -> None:
        if self.limiter is None:
            return
        preset = self.presets[name]
        try:
            decision = await self.limiter.hit(f"{name}:{key}", preset)
        except LimiterUnavailable as exc:
            self._unavailable(name, str(exc))
            if name in FAIL_CLOSED:
                raise RateLimited(
                    "rate limiting is unavailable; try again shortly", retry_after=1.0
                ) from exc
            return
        request.scope.setdefault("state", {}).setdefault(STATE_KEY, []).append(
            Applied(name, preset, decision)
        )
        if not decision.allowed:
            raise RateLimited("too many requests; slow down", retry_after=decision.retry_after)

    def client(self, request: Request) -> str:
        peer = request.client.host if request.client else None
        return client_address(
            peer, request.headers.getlist("x-forwarded-for"), self.trusted_proxies
        )

    def _unavailable(self, name: str, error: str) -> None:
        now = time.monotonic()
        if now - self._last_logged < LOG_EVERY_SECONDS:
            return
        self._last_logged = now
        log.warning(
            "rate limiter unavailable: /auth refused, other routes allowed unlimited",
            budget=name,
            error=error,
        )


def header_values(applied: list[Applied]) -> list[tuple[bytes, bytes]]:
    policies, states = [], []
    for item in applied:
        policies.append(f'"{item.name}";q={item.preset.burst};w={item.preset.window_seconds}')
        decision = item.decision
        wait = decision.reset_after if decision.allowed else decision.retry_after
        states.append(f'"{item.name}";r={decision.remaining};t={max(0, math.ceil(wait))}')
    return [
        (b"ratelimit-policy", ", ".join(policies).encode()),
        (b"ratelimit", ", ".join(states).encode()),
    ]
