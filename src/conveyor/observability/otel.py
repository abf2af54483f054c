"""Tracing with OpenTelemetry: imported only once tracing is switched on (tracing.py).

Needs ``pip install conveyor[otel]``. The exporter follows ``OTEL_TRACES_EXPORTER``
(``otlp``, the default, over HTTP/protobuf to ``OTEL_EXPORTER_OTLP_ENDPOINT``;
``console``; ``none``), the sampler ``OTEL_TRACES_SAMPLER``, the service name
``OTEL_SERVICE_NAME`` (else ``conveyor-api`` / ``conveyor-worker``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from conveyor.domain.tasks import NewTask, Task
from conveyor.observability.tracing import TaskRun, Tracing

PROPAGATOR = TraceContextTextMapPropagator()
# Probes and scrapes would be most of the spans, and say nothing.
EXCLUDED_URLS = "/healthz,/readyz,/metrics"


def from_environment(service_name: str, *, set_global: bool) -> OtelTracing:
    """``set_global``: also the process's global provider, so that a handler's own
    spans (``opentelemetry.trace.get_tracer``) join the task's trace. Not in the
    server: FastAPI and redis trace on their own once a global provider is set,
    which would double every request span."""
    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    for exporter in _exporters(os.environ.get("OTEL_TRACES_EXPORTER", "otlp")):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if set_global:
        trace.set_tracer_provider(provider)
    return OtelTracing(provider)


def _exporters(names: str) -> Iterator[SpanExporter]:
    for name in (n.strip().lower() for n in names.split(",")):
        if name == "otlp":
            # Imported here: the exporter pulls in protobuf, which "console" does not need.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            yield OTLPSpanExporter()
        elif name == "console":
            yield ConsoleSpanExporter()
        elif name not in ("none", ""):
            raise ValueError(f"OTEL_TRACES_EXPORTER={name!r}: this build knows otlp, console, none")


def traceparent_of(span: Span) -> str | None:
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


def context_of(traceparent: str | None) -> otel_context.Context:
    """The task's trace to continue; an empty context (a new trace) without one."""
    if not traceparent:
        return otel_context.Context()
    return PROPAGATOR.extract({"traceparent": traceparent})


def _task_attributes(task_id: str, task_type: str) -> dict[str, Any]:
    return {"conveyor.task.id": task_id, "conveyor.task.type": task_type}


def _redacted(value: str) -> str:
    base, _, query = value.partition("?")
    return base + "?" + urlencode([(k, "REDACTED") for k, _ in parse_qsl(query)])


def scrub_query(span: Span, *_: Any) -> None:
    """A request hook: query values can be credentials (``?ticket=`` of an event
    stream), so spans keep the keys only."""
    attributes = getattr(span, "attributes", None) or {}
    if not span.is_recording():
        return
    for key in ("http.target", "http.url", "url.full"):
        value = attributes.get(key)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(key, _redacted(value))
    query = attributes.get("url.query")
    if isinstance(query, str) and query:
        span.set_attribute("url.query", _redacted("?" + query)[1:])


class ChildSpansOnly(trace.Tracer):
    """SQL statements inside a request or a task's span; none of their own. The
    duties' sweeps (every couple of seconds) and the metrics gauges would otherwise
    each start a trace of bare statements."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer

    def start_span(self, name: str, context: Any = None, *args: Any, **kwargs: Any) -> Span:
        if not trace.get_current_span(context).get_span_context().is_valid:
            return trace.INVALID_SPAN
        return self.tracer.start_span(name, context, *args, **kwargs)

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self, name: str, context: Any = None, *args: Any, **kwargs: Any
    ) -> Iterator[Span]:
        span = self.start_span(name, context, *args, **kwargs)
        with trace.use_span(span, end_on_exit=True):
            yield span


async def _async_scrub(span: Span, *_: Any) -> None:
    scrub_query(span)


class OtelTracing(Tracing):
    enabled = True

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("conveyor")
        self._http = False

    def instrument_app(self, app: Any, sync_engine: Any) -> None:
        # Imported here: they import FastAPI and SQLAlchemy, which a worker-only
        # install need not have.
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            excluded_urls=EXCLUDED_URLS,
            exclude_spans=["receive", "send"],
            server_request_hook=scrub_query,
        )
        # Per engine, not the instrumentor's patch of create_engine: our engines are
        # made by a name imported before any patch could apply.
        usage = metrics.get_meter("conveyor").create_up_down_counter("db.client.connections.usage")
        EngineTracer(ChildSpansOnly(self.tracer), sync_engine, usage)  # type: ignore[no-untyped-call]
        self.instrument_http()

    def instrument_http(self) -> None:
        if not self._http:
            HTTPXClientInstrumentor().instrument(
                tracer_provider=self.provider,
                request_hook=scrub_query,
                async_request_hook=_async_scrub,
            )
            self._http = True

    def stamp(self, new: list[NewTask]) -> list[NewTask]:
        """One trace per task. A single submit continues the request's trace; each
        task of a batch starts its own, linked to the request's."""
        if len(new) <= 1:
            parent, links = None, []
        else:
            here = trace.get_current_span().get_span_context()
            parent, links = otel_context.Context(), [Link(here)] if here.is_valid else []
        stamped = []
        for task in new:
            span = self.tracer.start_span(
                "conveyor.task.submit",
                context=parent,
                kind=SpanKind.PRODUCER,
                links=links,
                attributes=_task_attributes(task.id, task.task_type),
            )
            span.end()
            stamped.append(replace(task, traceparent=traceparent_of(span)))
        return stamped

    def claimed(self, tasks: Sequence[Task], node_id: str) -> None:
        for task in tasks:
            self._mark(task, "conveyor.task.claim", {"conveyor.node.id": node_id})

    def finished(self, task: Task) -> None:
        self._mark(task, "conveyor.task.finish", {"conveyor.task.status": task.status.value})

    def _mark(self, task: Task, name: str, extra: dict[str, Any]) -> None:
        """A point in the task's trace, linked to the request that made it."""
        if not task.traceparent:
            return
        here = trace.get_current_span().get_span_context()
        span = self.tracer.start_span(
            name,
            context=context_of(task.traceparent),
            links=[Link(here)] if here.is_valid else [],
            attributes={
                **_task_attributes(task.id, task.task_type),
                "conveyor.task.runs": task.runs_started,
                **extra,
            },
        )
        span.end()

    def run(self, traceparent: str | None, task_id: str, task_type: str) -> TaskRun:
        return OtelTaskRun(self.tracer, traceparent, _task_attributes(task_id, task_type))

    def shutdown(self) -> None:
        if self._http:
            HTTPXClientInstrumentor().uninstrument()
            self._http = False
        self.provider.shutdown()


class OtelTaskRun(TaskRun):
    def __init__(
        self, tracer: trace.Tracer, traceparent: str | None, attributes: dict[str, Any]
    ) -> None:
        self.tracer = tracer
        self.traceparent = traceparent
        self.attributes = attributes
        self.span: Span | None = None

    def start(self) -> None:
        self.span = self.tracer.start_span(
            "conveyor.task.run",
            context=context_of(self.traceparent),
            kind=SpanKind.CONSUMER,
            attributes=self.attributes,
        )

    @contextmanager
    def active(self) -> Iterator[None]:
        if self.span is None:
            yield
            return
        with trace.use_span(self.span, end_on_exit=False, record_exception=False):
            yield

    def end(self, outcome: str, error: BaseException | None = None) -> None:
        if self.span is None:
            return
        self.span.set_attribute("conveyor.task.outcome", outcome)
        if error is not None:
            self.span.record_exception(error)
            self.span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        self.span.end()
        self.span = None
