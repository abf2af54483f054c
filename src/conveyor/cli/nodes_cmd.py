"""``conveyor nodes``: the node registry (admins)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from conveyor.cli import output
from conveyor.cli.tasks_cmd import AsJson, Server, with_client
from conveyor.client.async_client import AsyncClient
from conveyor.client.models import Node

app = typer.Typer(help="Register and manage worker nodes (admins).", no_args_is_help=True)


def _show(node: Node, as_json: bool) -> None:
    if as_json:
        output.emit_json(node.raw)
        return
    output.console.print(output.node_table([node]))
    if node.secret:
        output.console.print(
            f"node secret (shown once): [bold]{output.plain(node.secret)}[/bold]\n"
            f"run: conveyor worker <module> --node-id {output.plain(node.id)} --secret <secret>"
        )


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="a name for people")],
    node_id: Annotated[str | None, typer.Option("--id", help="choose the id")] = None,
    task_type: Annotated[
        list[str] | None, typer.Option("--type", help="task types it runs (repeat)")
    ] = None,
    label: Annotated[list[str] | None, typer.Option(help="key=value (repeat)")] = None,
    max_concurrency: Annotated[int, typer.Option()] = 100,
    kind: Annotated[str, typer.Option(help="pull or push")] = "pull",
    url: Annotated[str | None, typer.Option(help="push nodes: base URL")] = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Register a node and print its secret (only this once)."""
    labels: dict[str, str] = {}
    for item in label or []:
        key, sep, value = item.partition("=")
        if not sep:
            output.fail(f"label {item!r} is not key=value", output.USAGE, as_json, "invalid_input")
        labels[key] = value
    spec = {
        "node_id": node_id,
        "task_types": task_type or [],
        "labels": labels,
        "max_concurrency": max_concurrency,
        "kind": kind,
        "url": url,
    }
    body = {k: v for k, v in spec.items() if v is not None}
    _show(with_client(server, as_json, lambda c: c.create_node(name, **body)), as_json)


@app.command("list")
def list_nodes(
    status: Annotated[str | None, typer.Option()] = None,
    health: Annotated[str | None, typer.Option()] = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """List nodes with their health."""
    filters = {k: v for k, v in {"status": status, "health": health}.items() if v}

    async def run(client: AsyncClient) -> list[Node]:
        return await client.list_nodes(**filters)

    nodes = with_client(server, as_json, run)
    if as_json:
        output.emit_json([n.raw for n in nodes])
    else:
        output.console.print(output.node_table(nodes))


def _set_status(node_id: str, status: str, server: str | None, as_json: bool) -> None:
    _show(with_client(server, as_json, lambda c: c.update_node(node_id, status=status)), as_json)


@app.command("disable")
def disable(node_id: str, server: Server = None, as_json: AsJson = False) -> None:
    """Refuse the node's logins and tokens at once."""
    _set_status(node_id, "disabled", server, as_json)


@app.command("enable")
def enable(node_id: str, server: Server = None, as_json: AsJson = False) -> None:
    """Let a disabled or draining node work again."""
    _set_status(node_id, "active", server, as_json)


@app.command("drain")
def drain(node_id: str, server: Server = None, as_json: AsJson = False) -> None:
    """Let the node finish what it holds but claim nothing new."""
    _set_status(node_id, "draining", server, as_json)


@app.command("rotate-secret")
def rotate_secret(node_id: str, server: Server = None, as_json: AsJson = False) -> None:
    """Issue a new secret; the old one and its tokens stop working."""
    _show(
        with_client(server, as_json, lambda c: c.update_node(node_id, rotate_secret=True)), as_json
    )


@app.command("delete")
def delete(node_id: str, server: Server = None, as_json: AsJson = False) -> None:
    """Remove a node; tasks it holds go back to pending."""
    with_client(server, as_json, lambda c: c.delete_node(node_id))
    if as_json:
        output.emit_json({"deleted": node_id})
    else:
        output.console.print(f"deleted {output.plain(node_id)}")


@app.command("cleanup")
def cleanup(
    dead_for: Annotated[int, typer.Option(help="seconds a node has been dead")] = 3600,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Remove nodes that have been dead for longer than --dead-for seconds."""
    deleted = with_client(server, as_json, lambda c: c.cleanup_nodes(dead_for))
    if as_json:
        output.emit_json({"deleted": deleted})
    else:
        removed = output.plain(" ".join(deleted) or "-")
        output.console.print(f"removed {len(deleted)} dead node(s): {removed}")


def _read_fleet(path: Path) -> list[dict[str, Any]]:
    """JSON (a list, or ``{"nodes": [...]}``) or CSV with a ``node_id,node_secret`` header."""
    text = path.read_text()
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        return [
            {
                "node_id": row["node_id"],
                "node_secret": row["node_secret"],
                "is_active": row.get("is_active", "true").strip().lower()
                not in ("false", "f", "0"),
            }
            for row in rows
        ]
    data = json.loads(text)
    nodes = data["nodes"] if isinstance(data, dict) else data
    return [dict(n) for n in nodes]


@app.command("import")
def import_nodes(
    path: Annotated[Path, typer.Argument(help="JSON or CSV: node_id, node_secret, is_active")],
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Create nodes with the secrets they already have (seed 000's nodes table); all or none."""
    try:
        fleet = _read_fleet(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        output.fail(f"cannot read {path}: {exc}", output.USAGE, as_json, "invalid_input")
    created = with_client(server, as_json, lambda c: c.import_nodes(fleet))
    if as_json:
        output.emit_json({"nodes": created})
    else:
        ids = output.plain(" ".join(n["node_id"] for n in created))
        output.console.print(f"imported {len(created)} node(s): {ids}")
