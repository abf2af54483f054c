"""Fan-out across replicas with PostgreSQL ``LISTEN/NOTIFY``.

One listening connection per replica receives every payload on one PostgreSQL
channel and hands it to local subscribers; publishes go through one connection of
their own (the bus sends one batch at a time, and a pool's reset on every release
cost a round trip per batch: 5 % of a submit's server time). Our
own notifications come back to us too, so a publish is never delivered locally
twice. Payloads are batched (many events per NOTIFY) and kept under PostgreSQL's
8000-byte limit; an event too large is sent without its large fields and marked
``truncated`` for the reader to fetch from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

from conveyor.observability.logging import get_logger
from conveyor.realtime.bus import (
    MAX_PAYLOAD_BYTES,
    EventBus,
    Message,
    decode_envelope,
    encode_envelopes,
)

log = get_logger(__name__)
PG_CHANNEL = "conveyor_events"
RECONNECT_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 5.0


def asyncpg_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class PostgresBus(EventBus):
    def __init__(self, database_url: str, channel: str = PG_CHANNEL) -> None:
        super().__init__()
        self.dsn = asyncpg_dsn(database_url)
        self.channel = channel
        self._publisher: asyncpg.Connection | None = None
        self._listener: asyncpg.Connection | None = None
        self._watch: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        self._publisher = await asyncpg.connect(self.dsn, timeout=CONNECT_TIMEOUT_SECONDS)
        await self._listen()
        self._watch = asyncio.create_task(self._keep_listening(), name="conveyor-pg-listen")

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        await conn.add_listener(self.channel, self._on_notify)
        self._listener = conn

    async def _keep_listening(self) -> None:
        """Reconnect the listener if PostgreSQL restarts or the connection drops."""
        while not self._closing:
            await asyncio.sleep(RECONNECT_SECONDS)
            if self._listener is not None and not self._listener.is_closed():
                continue
            try:
                await self._listen()
                log.info("event listener reconnected")
            except Exception as exc:
                # Any failure (refused, "starting up", a closed socket mid-handshake)
                # is retried; this watcher must outlive the outage it is there for.
                log.warning("event listener reconnect failed", error=str(exc))

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            envelopes = decode_envelope(payload)
        except (ValueError, TypeError):
            log.warning("ignoring a malformed notification")
            return
        self._deliver(envelopes)

    async def publish_many(self, messages: list[tuple[list[str], Message]]) -> None:
        if not messages:
            return
        payloads = encode_envelopes(messages, MAX_PAYLOAD_BYTES)
        conn = await self._publishing_connection()
        try:
            if len(payloads) == 1:
                await conn.execute("SELECT pg_notify($1, $2)", self.channel, payloads[0])
            else:
                # One round trip, and one transaction so the order is kept.
                await conn.execute(
                    "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, i)"
                    " ORDER BY i",
                    self.channel,
                    payloads,
                )
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError):
            # The next batch reconnects; this one is lost like any failed publish.
            await self._drop_publisher()
            raise

    async def _publishing_connection(self) -> asyncpg.Connection:
        if self._publisher is None or self._publisher.is_closed():
            self._publisher = await asyncpg.connect(self.dsn, timeout=CONNECT_TIMEOUT_SECONDS)
        return self._publisher

    async def _drop_publisher(self) -> None:
        conn, self._publisher = self._publisher, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def close(self) -> None:
        await super().close()
        self._closing = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()
        if self._publisher is not None and not self._publisher.is_closed():
            await self._publisher.close()
