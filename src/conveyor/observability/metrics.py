"""Prometheus metrics, one registry per app so several apps in one process don't clash.

Counters and histograms here are this replica's own (sum them across replicas); the
queue and fleet gauges of ``gauges.QueueGauges`` read the shared database, so every
replica reports the same global value (take ``max``, never ``sum``). The names and
their meaning are documented in docs/observability.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from conveyor.domain.states import TaskStatus
from conveyor.domain.tasks import Task
from conveyor.observability.gauges import QueueGauges

# From a few milliseconds (a claim parked for work) to hours (a backlog piling up).
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
RUN_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # process_cpu_seconds_total, process_resident_memory_bytes, open fds…; and
        # python_gc_* and python_info, as the default registry would have them.
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.gauges = QueueGauges()
        self.registry.register(self.gauges)
        self.tasks_created_total = Counter(
            "conveyor_tasks_created_total",
            "Tasks created",
            ["task_type"],
            registry=self.registry,
        )
        self.tasks_finished_total = Counter(
            "conveyor_tasks_finished_total",
            "Tasks that reached a final status (completed, failed, timeout, cancelled);"
            " a retry or a release is not a finish",
            ["task_type", "status"],
            registry=self.registry,
        )
        self.task_outcomes_total = Counter(
            "conveyor_task_outcomes_total",
            "Runs that ended, by how: completed, failed (final), retried (failed, runs"
            " again), released, expired (lease ran out, runs again), timeout (final)",
            ["task_type", "outcome"],
            registry=self.registry,
        )
        self.task_wait_seconds = Histogram(
            "conveyor_task_wait_seconds",
            "From a task becoming due (created, or the end of its delay) to its first start",
            ["task_type"],
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.task_run_seconds = Histogram(
            "conveyor_task_run_seconds",
            "From a run's start to the worker's finish (completed, failed or released)",
            ["task_type"],
            buckets=RUN_BUCKETS,
            registry=self.registry,
        )
        self.task_claims_total = Counter(
            "conveyor_task_claims_total", "Tasks handed to workers", registry=self.registry
        )
        self.claim_batch_size = Histogram(
            "conveyor_claim_batch_size",
            "Tasks per claim",
            buckets=(0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
            registry=self.registry,
        )
        # From the moment a task is due (its run_at) to a node claiming it: how long
        # runnable work waits for a worker.
        self.claim_latency_seconds = Histogram(
            "conveyor_claim_latency_seconds",
            "Seconds from a task's run_at to its claim",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
            registry=self.registry,
        )
        self.leases_expired_total = Counter(
            "conveyor_leases_expired_total", "Leases that ran out", registry=self.registry
        )
        self.duty_tick_failures_total = Counter(
            "conveyor_duty_tick_failures_total",
            "Periodic duty runs that failed (and are retried with backoff), by duty;"
            " leader_lock: taking the leader lock failed",
            ["duty"],
            registry=self.registry,
        )
        self.push_dispatch_total = Counter(
            "conveyor_push_dispatch_total",
            "Push dispatch attempts, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.sse_subscribers = Gauge(
            "conveyor_sse_subscribers", "Open event streams", registry=self.registry
        )
        self.claims_waiting = Gauge(
            "conveyor_claims_waiting",
            "Long-poll claims parked until work arrives",
            registry=self.registry,
        )
        self.http_requests_total = Counter(
            "conveyor_http_requests_total",
            "HTTP requests, by route template and status class",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_request_seconds = Histogram(
            "conveyor_http_request_seconds",
            "Time until the response starts, by route template (for a stream: until it opens)",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )

    # --- hooks: one call from each place a task moves ---------------------------

    def claimed(self, tasks: list[Task]) -> None:
        """A claim's tasks: counted, each one's claim latency (due to leased, every
        run) and each first start's wait (due to started, by type) observed."""
        self.task_claims_total.inc(len(tasks))
        self.claim_batch_size.observe(len(tasks))
        for task in tasks:
            if task.leased_at is not None:
                latency = (task.leased_at - task.run_at).total_seconds()
                self.claim_latency_seconds.observe(max(latency, 0.0))
            if task.runs == 0 and task.started_at is not None:
                waited = (task.started_at - task.run_at).total_seconds()
                self.task_wait_seconds.labels(task.task_type).observe(max(waited, 0.0))

    def run_ended(self, before: Task, after: Task, now: datetime) -> None:
        """A worker's finish applied: ``before`` is the task as it was running."""
        if after.status.is_terminal:
            outcome = after.status.value
            self.tasks_finished_total.labels(after.task_type, outcome).inc()
        else:
            # Back to pending: a charged failure is a retry, an uncharged one a release.
            outcome = "retried" if after.attempts > before.attempts else "released"
        self.task_outcomes_total.labels(after.task_type, outcome).inc()
        if before.leased_at is not None:
            ran = (now - before.leased_at).total_seconds()
            self.task_run_seconds.labels(after.task_type).observe(max(ran, 0.0))

    def leases_expired(self, moved: Iterable[Task]) -> None:
        count = 0
        for task in moved:
            count += 1
            final = task.status is TaskStatus.TIMEOUT
            self.task_outcomes_total.labels(task.task_type, "timeout" if final else "expired").inc()
            if final:
                self.tasks_finished_total.labels(task.task_type, task.status.value).inc()
        self.leases_expired_total.inc(count)

    def ended(self, task: Task) -> None:
        """A task an owner or admin moved (cancel, manual timeout): counted if final."""
        if task.status.is_terminal:
            self.tasks_finished_total.labels(task.task_type, task.status.value).inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
