"""Events across replicas: the bus (in-process, PostgreSQL, Redis) and claim wake-ups."""

from __future__ import annotations

from conveyor.realtime.bus import EventBus
from conveyor.realtime.memory import InProcessBus


def create_event_bus(database_url: str, redis_url: str | None) -> EventBus:
    """Redis when configured; else NOTIFY on PostgreSQL; else in-process (SQLite)."""
    if redis_url:
        from conveyor.realtime.redis import RedisBus

        return RedisBus(redis_url)
    if database_url.startswith("postgresql"):
        from conveyor.realtime.postgres import PostgresBus

        return PostgresBus(database_url)
    return InProcessBus()
