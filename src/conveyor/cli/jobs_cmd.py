"""``conveyor jobs create | list | status | watch | results | cancel``."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from conveyor.cli import output
from conveyor.cli.tasks_cmd import AsJson, Server, with_client
from conveyor.client.async_client import AsyncClient
from conveyor.client.models import Job

app = typer.Typer(help="Chunked data jobs: create, follow, download, cancel.", no_args_is_help=True)

JSONL_SUFFIXES = (".jsonl", ".ndjson")


def _labels(values: list[str], as_json: bool) -> dict[str, str]:
    labels: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            output.fail(f"label {value!r} is not key=value", output.USAGE, as_json, "invalid_input")
        labels[key] = val
    return labels


def _items(value: str, as_json: bool) -> list[Any]:
    try:
        items = json.loads(value)
    except ValueError as exc:
        output.fail(f"--items is not valid JSON: {exc}", output.USAGE, as_json, "invalid_input")
    if not isinstance(items, list):
        output.fail("--items must be a JSON array", output.USAGE, as_json, "invalid_input")
    return items


def job_table(jobs: list[Job]) -> Table:
    table = Table()
    for column in ("id", "type", "status", "chunks", "done", "%", "spent", "reserved", "refunded"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        table.add_row(
            output.plain(job.id),
            output.plain(job.task_type),
            output.status_text(job.status),
            str(job.chunk_count),
            str(job.chunks_done),
            f"{job.progress_percent:.1f}",
            str(job.spent),
            str(job.reserved),
            str(job.refunded),
        )
    return table


def _show(job: Job, as_json: bool) -> None:
    if as_json:
        output.emit_json(job.raw)
    else:
        output.console.print(job_table([job]))


@app.command("create")
def create(
    task_type: Annotated[str, typer.Argument(help="the handler each chunk runs")],
    chunk_size: Annotated[int, typer.Option(help="items per chunk")],
    price: Annotated[int, typer.Option(help="credits per completed chunk")],
    max_concurrency: Annotated[int, typer.Option(help="bucket slots")] = 5,
    items: Annotated[str | None, typer.Option(help="the items as a JSON array")] = None,
    dataset: Annotated[
        Path | None, typer.Option(help="a JSON array or JSONL file to upload", exists=True)
    ] = None,
    label: Annotated[list[str], typer.Option(help="required node label key=value")] = [],  # noqa: B006
    max_attempts: Annotated[int | None, typer.Option()] = None,
    allow_own_nodes: Annotated[bool, typer.Option(help="let your own nodes run it")] = False,
    idempotency_key: Annotated[str | None, typer.Option()] = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Create a job from --items or --dataset, reserving chunks x price credits."""
    if (items is None) == (dataset is None):
        output.fail("give exactly one of --items or --dataset", output.USAGE, as_json, "usage")
    inline = _items(items, as_json) if items is not None else None
    labels = _labels(label, as_json)

    async def run(client: AsyncClient) -> Job:
        dataset_id = None
        if dataset is not None:
            jsonl = dataset.suffix in JSONL_SUFFIXES
            kind = "application/x-ndjson" if jsonl else "application/json"
            ref = await client.artifacts.upload(dataset.name, dataset.read_bytes(), kind)
            dataset_id = ref.id
        return await client.create_job(
            task_type,
            items=inline,
            dataset_artifact_id=dataset_id,
            chunk_size=chunk_size,
            max_concurrency=max_concurrency,
            price_per_chunk=price,
            required_labels=labels or None,
            max_attempts=max_attempts,
            allow_own_nodes=allow_own_nodes or None,
            idempotency_key=idempotency_key,
        )

    _show(with_client(server, as_json, run), as_json)


@app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option(help="running, completed, ...")] = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Your jobs (admins: everyone's), newest first."""

    async def run(client: AsyncClient) -> list[Job]:
        return [job async for job in client.jobs(status=status)]

    found = with_client(server, as_json, run)
    if as_json:
        output.emit_json([job.raw for job in found])
    else:
        output.console.print(job_table(found))


@app.command("status")
def status(job_id: str, server: Server = None, as_json: AsJson = False) -> None:
    """A job's counts, progress, credits and ETA."""
    job = with_client(server, as_json, lambda client: client.job(job_id))
    _show(job, as_json)
    if not as_json:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(job.counts.items()))
        eta = "-" if job.eta_seconds is None else f"{job.eta_seconds:.0f}s"
        output.console.print(f"chunks: {output.plain(counts)}   eta: {eta}")


class _Rate:
    """Chunks per second since the watch began."""

    def __init__(self, done: int) -> None:
        self.start = time.monotonic()
        self.first = done

    def text(self, done: int) -> str:
        elapsed = time.monotonic() - self.start
        return f"{(done - self.first) / elapsed:.1f}/s" if elapsed > 0 else "-"


@app.command("watch")
def watch(
    job_id: str,
    timeout: Annotated[float | None, typer.Option(help="give up after this many seconds")] = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Follow a job live: a bar of chunks done with rate and ETA, from its event stream."""

    async def follow(client: AsyncClient) -> Job:
        if as_json:
            async for event in client.job_events(job_id):
                output.emit_json_line({"event": event.event, "data": event.data})
            return await client.job(job_id)
        bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("eta {task.fields[eta]}"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
        )
        row = bar.add_task(output.plain(job_id[:12]), total=None, rate="-", eta="-", status="")
        rate: _Rate | None = None
        with Live(bar, console=output.console, refresh_per_second=10):
            async for event in client.job_events(job_id):
                if event.event != "progress":
                    continue
                data = event.data
                done = sum(
                    n for s, n in data["counts"].items() if s not in ("pending", "in_progress")
                )
                rate = rate or _Rate(done)
                eta = data.get("eta_seconds")
                bar.update(
                    row,
                    total=data["chunks"],
                    completed=done,
                    rate=rate.text(done),
                    eta="-" if eta is None else f"{eta:.0f}s",
                    status=output.plain(data["status"]),
                )
        return await client.job(job_id)

    async def run(client: AsyncClient) -> Job:
        try:
            return await asyncio.wait_for(follow(client), timeout)
        except TimeoutError:
            output.fail(f"job {job_id} still running", output.TIMED_OUT, as_json, "timeout")

    job = with_client(server, as_json, run)
    if not as_json:
        output.console.print(job_table([job]))
    if job.status != "completed":
        raise typer.Exit(output.TASK_FAILED)


@app.command("results")
def results(
    job_id: str,
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="a file (default: stdout)")
    ] = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Download the results as JSONL, streamed; says which chunks are missing."""

    async def run(client: AsyncClient) -> tuple[str, int]:
        sink: BinaryIO = out.open("wb") if out is not None else sys.stdout.buffer
        try:
            return await client.stream_results(job_id, sink.write)
        finally:
            if out is not None:
                sink.close()
            else:
                sink.flush()

    missing, count = with_client(server, as_json, run)
    if count:
        output.errors.print(f"{count} chunk(s) missing: {output.plain(missing)}")


@app.command("cancel")
def cancel(job_id: str, server: Server = None, as_json: AsJson = False) -> None:
    """Cancel a job: open chunks stop, the unspent reservation is released."""
    _show(with_client(server, as_json, lambda client: client.cancel_job(job_id)), as_json)
