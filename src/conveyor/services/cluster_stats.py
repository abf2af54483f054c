"""``GET /admin/stats``: what the operations view charts, read in one go.

Counts by status, the pending queue by type and node health come from the
database, so they are the whole cluster's. Claims and their latency come from this
server process's metrics (the same numbers ``/metrics`` exposes): with several
replicas, each reports the claims it served.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from conveyor.domain.nodes import Node
from conveyor.domain.states import TaskStatus
from conveyor.observability.metrics import Metrics
from conveyor.store.queue_stats import QueueDepth


def _age(since: datetime | None, now: datetime) -> float | None:
    return None if since is None else max(0.0, (now - since).total_seconds())


def queue_section(depths: list[QueueDepth], now: datetime) -> dict[str, Any]:
    oldest = min((d.oldest_ready_at for d in depths if d.oldest_ready_at), default=None)
    return {
        "pending": sum(d.pending for d in depths),
        "ready": sum(d.ready for d in depths),
        "oldest_pending_age_seconds": _age(oldest, now),
        "by_type": [
            {
                "task_type": d.task_type,
                "pending": d.pending,
                "ready": d.ready,
                "oldest_pending_age_seconds": _age(d.oldest_ready_at, now),
            }
            for d in depths
        ],
    }


def _sample(collector: Any, suffix: str) -> float:
    """One unlabelled sample of a metric (``_total``, ``_count``, ``_sum``), read the
    way the Prometheus exporter reads it."""
    for metric in collector.collect():
        for sample in metric.samples:
            if sample.name.endswith(suffix):
                return float(sample.value)
    return 0.0


def claims_section(metrics: Metrics) -> dict[str, float]:
    """Totals since the process started; a reader takes differences between two reads
    for rates and for the mean latency over that interval."""
    latency = metrics.claim_latency_seconds
    return {
        "total": _sample(metrics.task_claims_total, "_total"),
        "latency_count": _sample(latency, "_count"),
        "latency_seconds_sum": _sample(latency, "_sum"),
    }


def stats_document(
    counts: dict[str, int],
    nodes: list[Node],
    depths: list[QueueDepth],
    metrics: Metrics,
    now: datetime,
) -> dict[str, Any]:
    by_status = {status.value: counts.get(status.value, 0) for status in TaskStatus}
    health: dict[str, int] = {}
    for node in nodes:
        health[node.health.value] = health.get(node.health.value, 0) + 1
    return {
        "sampled_at": now.isoformat(),
        "tasks": {"total": sum(by_status.values()), "by_status": by_status},
        "nodes": {"total": len(nodes), "by_health": health},
        "queue": queue_section(depths, now),
        "claims": claims_section(metrics),
    }
