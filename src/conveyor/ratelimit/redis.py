"""GCRA in Redis, atomic in one Lua script, so every replica shares one budget."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from conveyor.observability.logging import get_logger
from conveyor.ratelimit.base import Decision, Preset, RateLimiter

log = get_logger(__name__)

# KEYS[1] = key; ARGV = interval, burst; time from the Redis server so replicas'
# clocks do not matter.
GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if allow_at > now then
  return {0, tostring(allow_at - now)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return {1, '0'}
"""


class RedisRateLimiter(RateLimiter):
    def __init__(self, url: str, prefix: str = "conveyor:rl:") -> None:
        self._redis: Redis = Redis.from_url(url)
        self._prefix = prefix
        self._script: Any = self._redis.register_script(GCRA_SCRIPT)

    async def hit(self, key: str, preset: Preset) -> Decision:
        try:
            allowed, retry = await self._script(
                keys=[self._prefix + key], args=[preset.interval, preset.burst]
            )
        except RedisError as exc:
            # Failing open: an unreachable Redis must not take the API down with it.
            log.warning("rate limiter unavailable, allowing", error=str(exc))
            return Decision(True)
        return Decision(bool(int(allowed)), retry_after=float(retry))

    async def close(self) -> None:
        await self._redis.aclose()
