"""Fan-out across replicas with Redis pub/sub, when ``CONVEYOR_REDIS_URL`` is set."""

from __future__ import annotations

import asyncio
import contextlib

from redis.asyncio import Redis
from redis.exceptions import RedisError

from conveyor.observability.logging import get_logger
from conveyor.realtime.bus import EventBus, Message, decode_envelope, encode_envelopes

log = get_logger(__name__)
REDIS_CHANNEL = "conveyor:events"
# Redis has no small payload limit; this only bounds one message's size.
MAX_REDIS_PAYLOAD = 512 * 1024
RECONNECT_SECONDS = 1.0
START_WAIT_SECONDS = 3.0


class RedisBus(EventBus):
    def __init__(self, url: str, channel: str = REDIS_CHANNEL) -> None:
        super().__init__()
        # Timeouts, so a Redis that hangs fails a publish instead of stalling the sender.
        self._redis: Redis = Redis.from_url(url, socket_connect_timeout=1.0)
        self.channel = channel
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read(), name="conveyor-redis-listen")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout=START_WAIT_SECONDS)
        except TimeoutError:
            # Redis down must not keep the API from starting: the reader keeps
            # trying, and until then events reach this replica's subscribers only.
            log.warning(
                "redis unreachable at start-up: events stay on this replica until it answers"
            )

    async def _read(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._ready.set()
                    while True:
                        item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
                        if item is None:
                            continue
                        data = item["data"]
                        text = data.decode() if isinstance(data, bytes) else str(data)
                        self._deliver(decode_envelope(text))
            except (RedisError, OSError) as exc:
                log.warning("redis subscriber lost, reconnecting", error=str(exc))
                await asyncio.sleep(RECONNECT_SECONDS)

    async def publish_many(self, messages: list[tuple[list[str], Message]]) -> None:
        if not messages:
            return
        payloads = encode_envelopes(messages, MAX_REDIS_PAYLOAD)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for payload in payloads:
                    pipe.publish(self.channel, payload)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            # Degrade to this replica's fan-out rather than to none at all.
            log.warning("redis publish failed, delivering locally", error=str(exc))
            self._deliver(messages)

    async def close(self) -> None:
        await super().close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._redis.aclose()
