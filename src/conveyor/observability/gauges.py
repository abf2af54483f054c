"""The queue and fleet gauges, read from the database at scrape time.

``services/gauges.py`` takes a ``QueueSnapshot`` (a few grouped queries) at most
every ``GaugeRefresher.max_age`` seconds and hands it here; ``collect`` renders the
latest one. These values are global (every replica reads the same database), except
the pool's, which are this process's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from conveyor.domain.states import NodeHealth, NodeStatus

# Task types seen once keep reporting 0 when drained: an autoscaler then reads
# "no work" instead of "no data". Bounded, in case types are made up per task.
MAX_REMEMBERED_TYPES = 1000


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    taken_at: float  # unix seconds
    backlog: dict[str, int] = field(default_factory=dict)
    oldest_age_seconds: dict[str, float] = field(default_factory=dict)
    backlog_by_labels: dict[str, int] = field(default_factory=dict)
    nodes: dict[tuple[str, str], int] = field(default_factory=dict)  # (health, status)
    pool_size: int = 0
    pool_checked_out: int = 0
    pool_overflow: int = 0


class QueueGauges(Collector):
    def __init__(self) -> None:
        self.snapshot: QueueSnapshot | None = None
        self._types: set[str] = set()

    def update(self, snapshot: QueueSnapshot) -> None:
        if len(self._types) < MAX_REMEMBERED_TYPES:
            self._types.update(list(snapshot.backlog)[: MAX_REMEMBERED_TYPES - len(self._types)])
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        if snap is None:
            return
        types = sorted(self._types | set(snap.backlog))
        backlog = GaugeMetricFamily(
            "conveyor_tasks_backlog",
            "Pending tasks that are due (global: the same on every replica)",
            labels=["task_type"],
        )
        oldest = GaugeMetricFamily(
            "conveyor_oldest_pending_task_age_seconds",
            "How long the longest-waiting due pending task has been due (global)",
            labels=["task_type"],
        )
        for task_type in types:
            backlog.add_metric([task_type], snap.backlog.get(task_type, 0))
            oldest.add_metric([task_type], snap.oldest_age_seconds.get(task_type, 0.0))
        yield backlog
        yield oldest
        yield self._by_labels(snap)
        yield self._nodes(snap)
        yield from self._pool(snap)
        yield GaugeMetricFamily(
            "conveyor_gauges_refreshed_timestamp_seconds",
            "When the global gauges were last read from the database",
            value=snap.taken_at,
        )

    @staticmethod
    def _by_labels(snap: QueueSnapshot) -> Metric:
        family = GaugeMetricFamily(
            "conveyor_tasks_backlog_by_labels",
            "Due pending tasks per required label set, k=v,k=v sorted; empty: none (global)",
            labels=["required_labels"],
        )
        for key, count in sorted(snap.backlog_by_labels.items()):
            family.add_metric([key], count)
        return family

    @staticmethod
    def _nodes(snap: QueueSnapshot) -> Metric:
        family = GaugeMetricFamily(
            "conveyor_nodes",
            "Registered nodes by health and status (global)",
            labels=["health", "status"],
        )
        for health in NodeHealth:
            for status in NodeStatus:
                key = (health.value, status.value)
                family.add_metric(list(key), snap.nodes.get(key, 0))
        return family

    @staticmethod
    def _pool(snap: QueueSnapshot) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "conveyor_db_pool_size",
            "Connections the pool keeps (this replica)",
            value=snap.pool_size,
        )
        yield GaugeMetricFamily(
            "conveyor_db_pool_checked_out",
            "Connections in use right now (this replica)",
            value=snap.pool_checked_out,
        )
        yield GaugeMetricFamily(
            "conveyor_db_pool_overflow",
            "Connections open beyond the pool's size (this replica)",
            value=snap.pool_overflow,
        )
