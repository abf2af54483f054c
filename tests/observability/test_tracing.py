"""One trace per task, across the API server and a worker, on SQLite and PostgreSQL.

The server runs in this process with an in-memory exporter; the worker runs in this
process too (its spans in the same exporter) or as a real ``conveyor worker``
subprocess exporting OTLP to a receiver here.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from conveyor.client.async_client import AsyncClient
from conveyor.observability import tracing
from conveyor.observability.otel import OtelTracing
from conveyor.worker import TaskContext, Worker
from conveyor.worker.config import WorkerConfig
from conveyor.worker.runner import WorkerRunner
from tests.observability.otlp_receiver import OtlpReceiver
from tests.server import Api, serve_api, serve_asgi, wait_until
from tests.server import test_settings as settings_for
from tests.worker.procs import REPO, start_worker


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(OtelTracing(provider))
    try:
        yield exporter
    finally:
        tracing.reset()


@pytest.fixture
async def traced_api(
    spans: InMemorySpanExporter, database_url: str, tmp_path: Path
) -> AsyncIterator[Api]:
    """The real app on a real port, built while tracing is on."""
    async with serve_api(settings_for(database_url, tmp_path)) as api:
        yield api


def _in_trace(exporter: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]


def _named(found: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in found if s.name == name]


def _submit_span(exporter: InMemorySpanExporter, task_id: str) -> ReadableSpan:
    (span,) = [
        s
        for s in exporter.get_finished_spans()
        if s.name == "conveyor.task.submit" and s.attributes.get("conveyor.task.id") == task_id
    ]
    return span


def _descends(span: ReadableSpan, ancestor: ReadableSpan, found: list[ReadableSpan]) -> bool:
    by_id = {s.context.span_id: s for s in found}
    while span.parent is not None:
        if span.parent.span_id == ancestor.context.span_id:
            return True
        parent = by_id.get(span.parent.span_id)
        if parent is None:
            return False
        span = parent
    return False


def _handlers(api: Api) -> Worker:
    worker = Worker()

    @worker.task("traced")
    async def traced(params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        await ctx.progress({"step": 1})
        async with httpx.AsyncClient() as http:  # the handler's own outbound call
            await http.get(api.base_url + "/healthz")
        await ctx.progress({"step": 2})
        return {"ok": True}

    @worker.task("traced_sync")
    def traced_sync(params: dict[str, Any], ctx: Any) -> dict[str, Any]:
        ctx.report_progress({"step": 1})  # from a handler thread
        return {"ok": True}

    return worker


async def _run_worker_until_done(api: Api, worker: Worker, task_ids: list[str]) -> None:
    admin = await api.admin_headers()
    node_id, secret = await api.create_node(admin, node_id="tracer", task_types=worker.task_types)
    config = WorkerConfig(server_url=api.base_url, poll_wait_seconds=0.5, heartbeat_seconds=5)
    async with AsyncClient(api.base_url, node_id=node_id, secret=secret) as client:
        runner = WorkerRunner(worker, client, config)
        running = asyncio.create_task(runner.run())

        async def all_done() -> bool:
            states = [(await api.http.get(f"/tasks/{t}", headers=admin)).json() for t in task_ids]
            return all(s["status"] == "completed" for s in states)

        try:
            await wait_until(all_done, 20.0, "the traced tasks to complete")
        finally:
            runner.stop()
            await running


async def test_one_trace_per_task_from_submit_to_finish(
    traced_api: Api, spans: InMemorySpanExporter
) -> None:
    api = traced_api
    user = await api.user_headers("tracy")
    task = await api.submit(user, task_type="traced")
    assert task["traceparent"] and task["traceparent"].startswith("00-")
    await _run_worker_until_done(api, _handlers(api), [task["task_id"]])

    submit = _submit_span(spans, task["task_id"])
    trace = _in_trace(spans, submit.context.trace_id)
    # The submit continues the request that made it.
    (request,) = [s for s in trace if s.name == "POST /api/v1/tasks" and s.kind is SpanKind.SERVER]
    assert submit.parent is not None and submit.parent.span_id == request.context.span_id
    assert task["traceparent"].split("-")[1] == f"{submit.context.trace_id:032x}"

    (claim,) = _named(trace, "conveyor.task.claim")
    (run,) = _named(trace, "conveyor.task.run")
    (finish,) = _named(trace, "conveyor.task.finish")
    for span in (claim, run, finish):
        assert span.parent is not None and span.parent.span_id == submit.context.span_id
    assert claim.attributes["conveyor.node.id"] == "tracer"
    # The claim and finish points link to the (batched) requests that made them.
    assert claim.links and finish.links
    assert run.attributes["conveyor.task.outcome"] == "completed"
    assert finish.attributes["conveyor.task.status"] == "completed"

    # Progress calls: the worker's client spans, the server's spans under them, and
    # the database statements under those.
    progress = [
        s
        for s in trace
        if s.kind is SpanKind.SERVER and s.name == "POST /api/v1/tasks/{task_id}/progress"
    ]
    assert len(progress) == 2
    assert all(_descends(p, run, trace) for p in progress)
    statements = [s for s in trace if s.kind is SpanKind.CLIENT and _is_sql(s)]
    assert any(_descends(s, progress[0], trace) for s in statements), [s.name for s in trace]
    # The handler's own outbound HTTP is in the run too.
    outbound = [s for s in trace if s.kind is SpanKind.CLIENT and str(_url(s)).endswith("/healthz")]
    assert len(outbound) == 1 and _descends(outbound[0], run, trace)
    # The duties swept every 0.2 s meanwhile: their statements start no traces.
    bare = [s.name for s in spans.get_finished_spans() if _is_sql(s) and s.parent is None]
    assert not bare, bare


def _is_sql(span: ReadableSpan) -> bool:
    attrs = span.attributes or {}
    return "db.system" in attrs or "db.system.name" in attrs


def _url(span: ReadableSpan) -> object:
    attrs = span.attributes or {}
    return attrs.get("url.full") or attrs.get("http.url")


async def test_a_thread_handler_reports_progress_in_its_trace(
    traced_api: Api, spans: InMemorySpanExporter
) -> None:
    api = traced_api
    user = await api.user_headers("tracy")
    task = await api.submit(user, task_type="traced_sync")
    await _run_worker_until_done(api, _handlers(api), [task["task_id"]])
    trace = _in_trace(spans, _submit_span(spans, task["task_id"]).context.trace_id)
    (run,) = _named(trace, "conveyor.task.run")
    (progress,) = [
        s
        for s in trace
        if s.kind is SpanKind.SERVER and s.name == "POST /api/v1/tasks/{task_id}/progress"
    ]
    assert _descends(progress, run, trace)


async def test_each_task_of_a_batch_has_its_own_trace(
    traced_api: Api, spans: InMemorySpanExporter
) -> None:
    api = traced_api
    user = await api.user_headers("tracy")
    r = await api.http.post(
        "/tasks", json={"tasks": [{"task_type": "noop"}, {"task_type": "noop"}]}, headers=user
    )
    assert r.status_code == 201, r.text
    ids = [t["task_id"] for t in r.json()["tasks"]]
    submits = [_submit_span(spans, task_id) for task_id in ids]
    assert len({s.context.trace_id for s in submits}) == 2
    (request,) = [s for s in spans.get_finished_spans() if s.name == "POST /api/v1/tasks"]
    for span in submits:
        assert span.parent is None
        assert [link.context.span_id for link in span.links] == [request.context.span_id]


async def test_stream_tickets_in_query_strings_are_not_recorded(
    traced_api: Api, spans: InMemorySpanExporter
) -> None:
    r = await traced_api.http.get("/tasks", params={"ticket": "secret-ticket-value"})
    assert r.status_code == 401
    dumped = json.dumps([json.loads(s.to_json()) for s in spans.get_finished_spans()])
    assert "secret-ticket-value" not in dumped
    assert "ticket=REDACTED" in dumped


async def test_a_worker_process_continues_the_trace_over_otlp(
    traced_api: Api, spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    api = traced_api
    receiver = OtlpReceiver()
    admin = await api.admin_headers()
    user = await api.user_headers("tracy")
    node_id, secret = await api.create_node(admin, node_id="remote", task_types=["slow"])
    task = await api.submit(user, task_type="slow", params={"seconds": 0.05})
    submit = _submit_span(spans, task["task_id"])
    async with serve_asgi(receiver) as otlp_url:
        env = {
            "CONVEYOR_OTEL_ENABLED": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_url,
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        }
        worker = start_worker(api.base_url, node_id, secret, tmp_path, env=env)
        try:

            def run_received() -> list[Any]:
                return [s for s in receiver.spans if s.name == "conveyor.task.run"]

            (run,) = await wait_until(run_received, 30.0, "the worker's run span over OTLP")
        finally:
            worker.proc.send_signal(signal.SIGTERM)
            await worker.wait_exit(30.0)
    assert run.service == "conveyor-worker"
    assert run.trace_id == submit.context.trace_id
    assert run.parent_span_id == submit.context.span_id
    assert run.attributes["conveyor.task.outcome"] == "completed"
    # Its progress call reached the server inside the same trace, under its client span.
    (progress,) = [
        s
        for s in _in_trace(spans, run.trace_id)
        if s.kind is SpanKind.SERVER and s.name == "POST /api/v1/tasks/{task_id}/progress"
    ]
    worker_spans = {s.span_id: s for s in receiver.spans}
    assert progress.parent is not None
    client = worker_spans[progress.parent.span_id]
    assert client.parent_span_id == run.span_id


@pytest.mark.parametrize(
    "switches",
    [{}, {"CONVEYOR_OTEL_ENABLED": "true", "OTEL_SDK_DISABLED": "true"}],
    ids=["not-enabled", "sdk-disabled-wins"],
)
def test_tracing_off_imports_no_opentelemetry(tmp_path: Path, switches: dict[str, str]) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from conveyor.api.app import create_app\n"
        "from conveyor.observability import tracing\n"
        "from conveyor.worker import runner\n"
        "from tests.server import test_settings\n"
        f"create_app(test_settings('sqlite+aiosqlite:///{tmp_path}/off.db', Path('{tmp_path}')))\n"
        "tracing.setup('conveyor-worker').instrument_http()\n"
        # FastAPI and redis import the OpenTelemetry API themselves when it is
        # installed (and stay inert with no provider set); the SDK's tracing, the
        # instrumentations and the exporters are ours to load, and are not.
        "ours = ('opentelemetry.sdk.trace', 'opentelemetry.instrumentation',\n"
        "        'opentelemetry.exporter', 'conveyor.observability.otel')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(ours))\n"
        "assert not loaded, loaded\n"
        "assert not tracing.current().enabled\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "OTEL_"))}
    env.update(switches)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()


async def test_a_submit_continues_the_callers_trace(
    traced_api: Api, spans: InMemorySpanExporter
) -> None:
    """An app that traces and submits a task: the task's trace is the app's."""
    current = tracing.current()
    assert isinstance(current, OtelTracing)
    user = await traced_api.user_headers("tracy")
    with current.provider.get_tracer("caller").start_as_current_span("checkout") as caller:
        task = await traced_api.submit(user, task_type="noop")
    submit = _submit_span(spans, task["task_id"])
    assert submit.context.trace_id == caller.get_span_context().trace_id
    assert task["traceparent"].split("-")[1] == f"{caller.get_span_context().trace_id:032x}"
