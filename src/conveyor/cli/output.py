"""Output for humans (Rich) or scripts (``--json``), and exit codes scripts can rely on."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from conveyor.client.errors import (
    ApiError,
    AuthenticationError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    NotFound,
    PaymentRequired,
    PermissionDenied,
)
from conveyor.client.models import Node, Task
from conveyor.observability.logging import get_logger

T = TypeVar("T")

# Exit codes (documented in docs/cli.md).
OK = 0
ERROR = 1
USAGE = 2
NOT_FOUND = 3
AUTH = 4
CONFLICT = 5
UNREACHABLE = 6
TASK_FAILED = 7
TIMED_OUT = 8
INSUFFICIENT_CREDITS = 9

console = Console()
errors = Console(stderr=True)
worker_log = get_logger("conveyor.worker")


def plain(value: object) -> str:
    """Text from the server or the user, shown as written: Rich would read ``[bold]``,
    ``[/]`` or ``items[0]`` in it as markup (and raise on a closing tag it cannot match)."""
    return escape(str(value))


def notice(as_log: bool, text: str, event: str, level: str = "info", **fields: Any) -> None:
    """A worker's line for its operator: as written, or as a log event when its logs are
    JSON lines (CONVEYOR_LOG_JSON), so that every line it prints parses."""
    if as_log:
        getattr(worker_log, level)(event, **fields)
    else:
        typer.echo(text, err=True)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str, indent=2) + "\n")


def emit_json_line(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()


def fail(
    message: str, code: int, as_json: bool, error_code: str = "error", details: Any = None
) -> NoReturn:
    """Print an error and exit; ``details`` are the server's per-field problems."""
    if as_json:
        error: dict[str, Any] = {"code": error_code, "message": message}
        if details:
            error["details"] = details
        emit_json({"error": error})
    else:
        # The message and the fields quote the server and what the user sent.
        errors.print(f"[red]error:[/red] {plain(message)}")
        for line in _detail_lines(details):
            errors.print(f"  {plain(line)}")
    raise typer.Exit(code)


def _detail_lines(details: Any) -> list[str]:
    """``field: message`` per problem of an error's ``details`` (a list of objects)."""
    if not isinstance(details, list):
        return []
    lines = []
    for detail in details:
        if isinstance(detail, dict):
            field, why = detail.get("field"), detail.get("message")
            lines.append(f"{field}: {why}" if field and why else str(field or why or detail))
    return lines


def exit_code_for(exc: Exception) -> int:
    if isinstance(exc, NotFound):
        return NOT_FOUND
    if isinstance(exc, AuthenticationError | PermissionDenied):
        return AUTH
    if isinstance(exc, Conflict):
        return CONFLICT
    if isinstance(exc, BadRequest):
        return USAGE
    if isinstance(exc, PaymentRequired):
        return INSUFFICIENT_CREDITS
    if isinstance(exc, ConnectionFailed):
        return UNREACHABLE
    return ERROR


async def guarded(action: Callable[[], Awaitable[T]], as_json: bool) -> T:
    """Run a command's body; turn SDK errors into a message and an exit code."""
    try:
        return await action()
    except ApiError as exc:
        fail(exc.message, exit_code_for(exc), as_json, exc.code, exc.details)
    except ConnectionFailed as exc:
        fail(f"cannot reach the server: {exc}", UNREACHABLE, as_json, "unreachable")


STATUS_STYLE = {
    "pending": "yellow",
    "in_progress": "cyan",
    "completed": "green",
    "failed": "red",
    "timeout": "magenta",
    "cancelled": "dim",
}


def status_text(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{plain(status)}[/]"


def task_table(tasks: Sequence[Task], title: str | None = None) -> Table:
    table = Table(title=title)
    for column in ("id", "type", "status", "runs", "failed", "node", "result / error"):
        table.add_column(column, overflow="fold")
    for task in tasks:
        outcome = task.error if task.error is not None else task.result
        table.add_row(
            plain(task.id),
            plain(task.task_type),
            status_text(task.status),
            str(task.runs),
            f"{task.attempts}/{task.max_attempts}",
            plain(task.lease_owner or task.assigned_node_id or ""),
            plain(_short(outcome)),
        )
    return table


def node_table(nodes: Sequence[Node]) -> Table:
    table = Table()
    for column in ("id", "name", "kind", "status", "health", "types", "last seen"):
        table.add_column(column, overflow="fold")
    for node in nodes:
        table.add_row(
            plain(node.id),
            plain(node.name),
            plain(node.kind),
            plain(node.status),
            plain(node.health),
            plain(",".join(node.task_types) or "*"),
            node.last_seen.isoformat(timespec="seconds") if node.last_seen else "never",
        )
    return table


def _short(value: Any, limit: int = 80) -> str:
    if value is None:
        return ""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
