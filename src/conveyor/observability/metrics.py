"""Prometheus metrics, one registry per app so several apps in one process don't clash."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tasks_created_total = Counter(
            "conveyor_tasks_created_total",
            "Tasks created",
            ["task_type"],
            registry=self.registry,
        )
        self.tasks_finished_total = Counter(
            "conveyor_tasks_finished_total",
            "Tasks finished by a worker, by outcome",
            ["task_type", "status"],
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

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
