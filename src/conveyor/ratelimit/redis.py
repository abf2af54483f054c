"""GCRA in Redis, atomic in one Lua script, so every replica shares one budget.

Two kinds of Redis trouble, handled differently:

- Unreachable at start-up: the API starts anyway, with this replica's own limits
  in memory (``mode = "degraded"``, logged, shown by ``/readyz``), and switches to
  the shared budget once Redis answers a probe.
- Failing at run time: ``hit`` raises ``LimiterUnavailable`` (``mode = "failing"``
  until it answers again), and the API decides: refuse logins, allow the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from conveyor.observability.logging import get_logger
from conveyor.ratelimit.base import Decision, LimiterUnavailable, Preset, RateLimiter
from conveyor.ratelimit.memory import MemoryRateLimiter

log = get_logger(__name__)
# A request waits at most this long for Redis before the limiter gives up on it.
REDIS_TIMEOUT_SECONDS = 0.5
PROBE_SECONDS = 5.0

# KEYS[1] = key; ARGV = interval, burst; time from the Redis server so replicas'
# clocks do not matter. Returns allowed, retry after, remaining, reset after.
GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if allow_at - now > 1e-9 then
  return {0, tostring(allow_at - now), 0, tostring(tat - now)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
local left = math.floor((burst * interval - (new_tat - now)) / interval + 1e-9)
if left < 0 then left = 0 end
return {1, '0', left, tostring(new_tat - now)}
"""


class RedisRateLimiter(RateLimiter):
    def __init__(
        self, url: str, prefix: str = "conveyor:rl:", probe_seconds: float = PROBE_SECONDS
    ) -> None:
        self._redis: Redis = Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        self._prefix = prefix
        self._script: Any = self._redis.register_script(GCRA_SCRIPT)
        self._local = MemoryRateLimiter()
        self._probe_seconds = probe_seconds
        self._prober: asyncio.Task[None] | None = None
        self.mode = "shared"

    async def start(self) -> None:
        if await self._ping():
            return
        self.mode = "degraded"
        log.warning("redis unreachable at start-up: rate limits are per replica until it answers")
        self._prober = asyncio.create_task(self._probe(), name="conveyor-ratelimit-probe")

    async def _ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def _probe(self) -> None:
        while True:
            await asyncio.sleep(self._probe_seconds)
            if await self._ping():
                break
        self.mode = "shared"
        log.info("redis answers again: rate limits are shared by every replica")

    async def hit(self, key: str, preset: Preset) -> Decision:
        if self.mode == "degraded":
            return await self._local.hit(key, preset)
        try:
            allowed, retry, left, reset = await self._script(
                keys=[self._prefix + key], args=[preset.interval, preset.burst]
            )
        except (RedisError, OSError) as exc:
            self.mode = "failing"
            raise LimiterUnavailable(str(exc)) from exc
        self.mode = "shared"
        return Decision(bool(int(allowed)), float(retry), int(left), float(reset))

    async def close(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
        await self._redis.aclose()
