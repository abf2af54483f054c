"""The aggregate reads behind the queue and fleet gauges of ``/metrics``.

Each is one grouped query, run at scrape time on a bounded interval
(services/gauges.py), never on the claim/finish/create paths.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, select

from conveyor.domain.states import TaskStatus
from conveyor.store.database import Connection, Database
from conveyor.store.schema import nodes, tasks


@dataclass(frozen=True, slots=True)
class TypeBacklog:
    task_type: str
    due: int
    oldest_due_at: datetime | None


@dataclass(frozen=True, slots=True)
class PoolUsage:
    size: int
    checked_out: int
    overflow: int


def _due_pending(now: datetime) -> Any:
    return (tasks.c.status == TaskStatus.PENDING.value) & (tasks.c.run_at <= now)


async def backlog_by_type(conn: Connection, now: datetime) -> list[TypeBacklog]:
    """Pending tasks that are due (not waiting out a delay or a backoff), per type,
    with the time the longest-waiting of them became due."""
    stmt = (
        select(tasks.c.task_type, func.count(), func.min(tasks.c.run_at))
        .where(_due_pending(now))
        .group_by(tasks.c.task_type)
    )
    rows = (await conn.execute(stmt)).all()
    return [TypeBacklog(task_type, count, oldest) for task_type, count, oldest in rows]


async def backlog_by_labels(conn: Connection, now: datetime, limit: int) -> Counter[str]:
    """Due pending tasks per required label set, as ``k=v,k=v`` (sorted; empty: none).

    Grouped on the stored JSON text, then merged here: two spellings of one set
    (key order) count together. At most ``limit`` sets, the largest, are kept."""
    labels = cast(tasks.c.required_labels, String)
    stmt = (
        select(labels, func.count())
        .where(_due_pending(now))
        .group_by(labels)
        .order_by(func.count().desc())
        .limit(limit)
    )
    counts: Counter[str] = Counter()
    for raw, count in (await conn.execute(stmt)).all():
        counts[label_key(json.loads(raw) if raw else {})] += count
    return counts


def label_key(labels: dict[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


async def node_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """Registered nodes per (health, status)."""
    stmt = select(nodes.c.health, nodes.c.status, func.count()).group_by(
        nodes.c.health, nodes.c.status
    )
    return {(health, status): n for health, status, n in (await conn.execute(stmt)).all()}


def pool_usage(db: Database) -> PoolUsage:
    """This process's connection pool; no query (the pool keeps its own counts)."""
    pool: Any = db.engine.sync_engine.pool
    size = pool.size() if hasattr(pool, "size") else 0
    checked_out = pool.checkedout() if hasattr(pool, "checkedout") else 0
    overflow = max(pool.overflow(), 0) if hasattr(pool, "overflow") else 0
    return PoolUsage(size, checked_out, overflow)
