"""Reading the queue and fleet gauges for ``/metrics``, at most once per interval.

A scrape refreshes them when the last reading is older than ``max_age``; scrapes
in between (several Prometheus servers, a dashboard) reuse it. Concurrent scrapes
share one refresh. A database that cannot be reached (or a query that fails) leaves
the last reading in place (its timestamp, ``conveyor_gauges_refreshed_timestamp_seconds``,
then ages) and the scrape still answers.
"""

from __future__ import annotations

import asyncio
import time

from conveyor.errors import Unavailable
from conveyor.observability.gauges import QueueSnapshot
from conveyor.observability.logging import get_logger
from conveyor.services.runtime import Runtime
from conveyor.store import gauges as gauge_store

log = get_logger(__name__)
# Label sets reported at most (the largest); the rest are in conveyor_tasks_backlog.
MAX_LABEL_SETS = 50
# A scrape waits this long for the gauges at most (a database that hangs on connect
# would otherwise hold it past Prometheus' scrape timeout), then answers without.
READ_TIMEOUT_SECONDS = 3.0


class GaugeRefresher:
    def __init__(self, rt: Runtime, max_age: float = 2.0) -> None:
        self.rt = rt
        self.max_age = max_age
        self._lock = asyncio.Lock()
        self._taken = -float("inf")  # monotonic

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._taken < self.max_age:
                return
            try:
                snapshot = await asyncio.wait_for(self._read(), READ_TIMEOUT_SECONDS)
            except Unavailable:
                log.warning("metrics gauges not refreshed: the database is unreachable")
                return
            except TimeoutError:
                log.warning("metrics gauges not refreshed: the database did not answer in time")
                return
            except Exception as exc:
                # /metrics must answer whatever the gauges' queries do: the process
                # metrics and counters matter most when something is wrong.
                log.warning("metrics gauges not refreshed", error=f"{type(exc).__name__}: {exc}")
                return
            self._taken = time.monotonic()
            self.rt.metrics.gauges.update(snapshot)

    async def _read(self) -> QueueSnapshot:
        now = self.rt.clock.now()
        async with self.rt.db.read() as conn:
            by_type = await gauge_store.backlog_by_type(conn, now)
            by_labels = await gauge_store.backlog_by_labels(conn, now, MAX_LABEL_SETS)
            nodes = await gauge_store.node_counts(conn)
        pool = gauge_store.pool_usage(self.rt.db)
        return QueueSnapshot(
            taken_at=time.time(),
            backlog={b.task_type: b.due for b in by_type},
            oldest_age_seconds={
                b.task_type: max((now - b.oldest_due_at).total_seconds(), 0.0)
                for b in by_type
                if b.oldest_due_at is not None
            },
            backlog_by_labels=dict(by_labels),
            nodes=nodes,
            pool_size=pool.size,
            pool_checked_out=pool.checked_out,
            pool_overflow=pool.overflow,
        )
