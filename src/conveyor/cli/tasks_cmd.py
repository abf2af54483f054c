"""``conveyor login / submit / status / list / watch / cancel / retry``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from conveyor.cli import output
from conveyor.cli.session import Session
from conveyor.client.async_client import AsyncClient
from conveyor.client.models import Event, Task

T = TypeVar("T")

Server = Annotated[str | None, typer.Option("--server", help="server URL (saved by login)")]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def with_client(
    server: str | None, as_json: bool, body: Callable[[AsyncClient], Awaitable[T]]
) -> T:
    session = Session.load(server)

    async def run() -> T:
        async with session.client() as client:
            try:
                return await output.guarded(lambda: body(client), as_json)
            finally:
                session.remember(client)

    return asyncio.run(run())


def login(
    username: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Log in and keep the session for later commands (tokens in a 0600 file)."""
    session = Session.load(server)
    session.access_token = session.refresh_token = None

    async def run() -> None:
        async with session.client(username, password) as client:
            await output.guarded(client.login, as_json)
            session.username = username
            session.remember(client)
            session.save()

    asyncio.run(run())
    if as_json:
        output.emit_json({"server_url": session.server_url, "username": username})
    else:
        where, who = output.plain(session.server_url), output.plain(username)
        output.console.print(f"logged in to {where} as [bold]{who}[/bold]")


def _parse_json(value: str | None, name: str, as_json: bool) -> dict[str, Any]:
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        output.fail(f"{name} is not valid JSON: {exc}", output.USAGE, as_json, "invalid_input")
    if not isinstance(parsed, dict):
        output.fail(f"{name} must be a JSON object", output.USAGE, as_json, "invalid_input")
    return parsed


def submit(
    task_type: Annotated[str, typer.Argument(help="the task type")],
    params: Annotated[str | None, typer.Option(help="params as a JSON object")] = None,
    metadata: Annotated[str | None, typer.Option(help="metadata as a JSON object")] = None,
    node: Annotated[str | None, typer.Option(help="pin the task to this node")] = None,
    priority: Annotated[int, typer.Option()] = 0,
    max_attempts: Annotated[int | None, typer.Option()] = None,
    delay: Annotated[float, typer.Option(help="seconds before it may run")] = 0,
    wait: Annotated[bool, typer.Option("--wait", help="wait for the task to end")] = False,
    timeout: Annotated[float | None, typer.Option(help="with --wait: give up after")] = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Submit a task; prints its id (and with --wait, its outcome)."""
    body = _parse_json(params, "--params", as_json)
    meta = _parse_json(metadata, "--metadata", as_json)

    async def run(client: AsyncClient) -> Task:
        task = await client.submit(
            task_type,
            body,
            metadata=meta or None,
            assigned_node_id=node,
            priority=priority or None,
            max_attempts=max_attempts,
            delay_seconds=delay or None,
        )
        if not wait:
            return task
        try:
            return await client.wait(task.id, timeout)
        except TimeoutError:
            output.fail(f"task {task.id} still running", output.TIMED_OUT, as_json, "timeout")

    task = with_client(server, as_json, run)
    _show_task(task, as_json)
    if wait and task.status != "completed":
        raise typer.Exit(output.TASK_FAILED)


def _show_task(task: Task, as_json: bool) -> None:
    if as_json:
        output.emit_json(task.raw)
        return
    output.console.print(output.task_table([task]))


def status(task_id: str, server: Server = None, as_json: AsJson = False) -> None:
    """Show one task."""
    _show_task(with_client(server, as_json, lambda c: c.get(task_id)), as_json)


def list_tasks(
    status: Annotated[str | None, typer.Option(help="comma-separated statuses")] = None,
    task_type: Annotated[str | None, typer.Option("--type", help="task type")] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 50,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """List tasks, newest first."""

    async def run(client: AsyncClient) -> list[Task]:
        found: list[Task] = []
        async for task in client.list_tasks(
            status=status, task_type=task_type, page_size=min(limit, 500)
        ):
            found.append(task)
            if len(found) >= limit:
                break
        return found

    tasks = with_client(server, as_json, run)
    if as_json:
        output.emit_json([t.raw for t in tasks])
    else:
        output.console.print(output.task_table(tasks, title=f"{len(tasks)} tasks"))


def cancel(task_id: str, server: Server = None, as_json: AsJson = False) -> None:
    """Cancel a task that has not ended."""
    _show_task(with_client(server, as_json, lambda c: c.cancel(task_id)), as_json)


def retry(task_id: str, server: Server = None, as_json: AsJson = False) -> None:
    """Run a failed, timed-out or cancelled task again, as a new linked task."""
    _show_task(with_client(server, as_json, lambda c: c.retry_task(task_id)), as_json)


def _show_event(bar: Progress, row: TaskID, event: Event) -> None:
    if event.event == "status_change":
        status = str(event.data.get("status"))
        bar.update(row, status=output.status_text(status))
        if status == "completed":
            bar.update(row, completed=100)
        return
    data = event.data.get("data")
    if event.event != "progress" or not isinstance(data, dict):
        return
    percent, message = data.get("percent"), data.get("message")
    if isinstance(percent, int | float):
        bar.update(row, completed=float(percent))
    if isinstance(message, str):
        # A handler's own words: its brackets are text, not Rich markup.
        bar.update(row, status=output.plain(message[:40]))


def watch(
    task_id: str,
    timeout: Annotated[float | None, typer.Option(help="give up after this many seconds")] = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Follow a task live (progress bar fed by its event stream) until it ends."""

    async def follow(client: AsyncClient) -> Task:
        if as_json:
            # One JSON object per line (JSON Lines), nothing else on stdout.
            async for event in client.events(task_id):
                output.emit_json_line({"event": event.event, "id": event.id, "data": event.data})
            return await client.get(task_id)
        bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
        )
        row = bar.add_task(output.plain(task_id[:12]), total=100, status="")
        with Live(bar, console=output.console, refresh_per_second=10):
            async for event in client.events(task_id):
                _show_event(bar, row, event)
        return await client.get(task_id)

    async def run(client: AsyncClient) -> Task:
        try:
            return await asyncio.wait_for(follow(client), timeout)
        except TimeoutError:
            output.fail(f"task {task_id} still running", output.TIMED_OUT, as_json, "timeout")

    task = with_client(server, as_json, run)
    if not as_json:
        output.console.print(output.task_table([task]))
    if task.status != "completed":
        raise typer.Exit(output.TASK_FAILED)
