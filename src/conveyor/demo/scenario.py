"""The demo's script: start everything, submit a mixed batch, show it live, summarise."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from rich.console import Console
from rich.live import Live
from rich.table import Table

from conveyor.client.async_client import AsyncClient
from conveyor.client.errors import Conflict
from conveyor.client.models import Task

NODES = ("demo-node-1", "demo-node-2")
FINAL = {"completed", "failed", "timeout", "cancelled"}


@dataclass
class DemoOptions:
    data_dir: Path
    port: int
    exit_after_summary: bool
    as_json: bool
    timeout: float = 120.0


@dataclass
class Tracked:
    label: str
    task: Task
    percent: float = 0.0
    message: str = ""
    nodes: set[str] = field(default_factory=set)


def free_port(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])


def admin_credentials(data_dir: Path) -> tuple[str, str]:
    """The demo admin's password is generated once and kept with the demo's data."""
    path = data_dir / "demo-admin.json"
    if path.exists():
        data = json.loads(path.read_text())
        return data["username"], data["password"]
    data_dir.mkdir(parents=True, exist_ok=True)
    creds = {"username": "admin", "password": secrets.token_urlsafe(12)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(creds, handle)
    return creds["username"], creds["password"]


class Demo:
    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.console = Console(stderr=options.as_json)
        self.url = f"http://127.0.0.1:{options.port}"
        self.username, self.password = admin_credentials(options.data_dir)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Any] = []

    def _spawn(
        self, args: list[str], env: dict[str, str], log_name: str
    ) -> subprocess.Popen[bytes]:
        log = (self.options.data_dir / log_name).open("ab")
        self.logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "conveyor.cli.main", *args],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(proc)
        return proc

    async def start_server(self) -> None:
        data_dir = self.options.data_dir.resolve()
        env = {
            "CONVEYOR_DATA_DIR": str(data_dir),
            "CONVEYOR_DATABASE_URL": f"sqlite:///{data_dir / 'conveyor.db'}",
            "CONVEYOR_ADMIN_USERNAME": self.username,
            "CONVEYOR_ADMIN_PASSWORD": self.password,
            "CONVEYOR_SWEEPER_INTERVAL_SECONDS": "1",
            "CONVEYOR_BACKOFF_BASE_SECONDS": "0.5",
        }
        server = self._spawn(["serve", "--port", str(self.options.port)], env, "demo-server.log")
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while True:
                if server.poll() is not None:
                    raise RuntimeError(
                        f"the server exited; see {self.options.data_dir}/demo-server.log"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{self.url}/readyz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not become ready")
                await asyncio.sleep(0.1)

    async def register_nodes(self, admin: AsyncClient) -> dict[str, str]:
        secrets_by_node: dict[str, str] = {}
        for node_id in NODES:
            try:
                node = await admin.create_node(node_id, node_id=node_id, max_concurrency=4)
            except Conflict:
                # Registered by an earlier run: a fresh secret replaces the old one.
                node = await admin.update_node(node_id, rotate_secret=True, status="active")
            assert node.secret is not None
            secrets_by_node[node_id] = node.secret
        return secrets_by_node

    def start_workers(self, node_secrets: dict[str, str]) -> None:
        data_dir = self.options.data_dir.resolve()
        (data_dir / "tmp").mkdir(parents=True, exist_ok=True)
        for node_id, secret in node_secrets.items():
            env = {
                "CONVEYOR_SERVER_URL": self.url,
                "CONVEYOR_NODE_ID": node_id,
                "CONVEYOR_NODE_SECRET": secret,
                "CONVEYOR_CLEANUP_ROOT": str(data_dir / "tmp"),
                "CONVEYOR_POLL_WAIT_SECONDS": "2",
            }
            self._spawn(
                ["worker", "conveyor.demo.handlers", "--builtin", "--concurrency", "4"],
                env,
                f"demo-{node_id}.log",
            )

    async def submit_batch(self, user: AsyncClient) -> list[Tracked]:
        image = io.BytesIO()
        Image.new("RGB", (640, 480), (30, 120, 200)).save(image, "PNG")
        picture = await user.artifacts.upload("demo-input.png", image.getvalue(), "image/png")
        old = self.options.data_dir / "tmp" / "old-scratch.txt"
        old.parent.mkdir(parents=True, exist_ok=True)
        old.write_text("left behind by an earlier job")
        os.utime(old, (time.time() - 7200, time.time() - 7200))
        plan: list[tuple[str, dict[str, Any]]] = [
            (
                "count pinned to node 1",
                {"task_type": "count", "params": {"steps": 10}, "assigned_node_id": NODES[0]},
            ),
            (
                "count pinned to node 2",
                {"task_type": "count", "params": {"steps": 10}, "assigned_node_id": NODES[1]},
            ),
            ("count", {"task_type": "count", "params": {"steps": 15, "delay": 0.15}}),
            ("count", {"task_type": "count", "params": {"steps": 8}}),
            (
                "flaky: fails once, retries",
                {"task_type": "flaky", "params": {"failures": 1}, "max_attempts": 3},
            ),
            (
                "flaky: fails twice, retries",
                {"task_type": "flaky", "params": {"failures": 2}, "max_attempts": 3},
            ),
            (
                "flaky: out of attempts",
                {"task_type": "flaky", "params": {"failures": 5}, "max_attempts": 2},
            ),
            (
                "resize an image",
                {
                    "task_type": "resize_image",
                    "params": {
                        "artifact_id": picture.id,
                        "width": 160,
                        "height": 120,
                        "format": "PNG",
                    },
                },
            ),
            (
                "generate a report",
                {
                    "task_type": "report_generate",
                    "params": {
                        "title": "Demo sales",
                        "columns": ["region", "units"],
                        "rows": [["north", 12], ["south", 7], ["<east>", 3]],
                    },
                },
            ),
            (
                "clean up temp files",
                {"task_type": "cleanup_temp", "params": {"path": ".", "older_than_seconds": 3600}},
            ),
        ]
        created = await user.submit_many([body for _, body in plan])
        return [Tracked(label, task) for (label, _), task in zip(plan, created, strict=True)]

    async def follow(self, user: AsyncClient, tracked: list[Tracked]) -> None:
        async def watch(item: Tracked) -> None:
            with contextlib.suppress(Exception):
                async for event in user.events(item.task.id):
                    data = event.data.get("data") if event.event == "progress" else None
                    if isinstance(data, dict):
                        item.percent = float(data.get("percent", item.percent))
                        item.message = str(data.get("message", ""))

        async def poll() -> None:
            while not all(t.task.status in FINAL for t in tracked):
                for item in tracked:
                    if item.task.status not in FINAL:
                        item.task = await user.get(item.task.id)
                        if item.task.lease_owner:
                            item.nodes.add(item.task.lease_owner)
                await asyncio.sleep(0.25)

        watchers = [asyncio.create_task(watch(t)) for t in tracked]
        try:
            if self.options.as_json:
                await asyncio.wait_for(poll(), self.options.timeout)
            else:
                await self._show_live(asyncio.create_task(poll()), tracked)
        finally:
            for watcher in watchers:
                watcher.cancel()

    async def _show_live(self, poller: asyncio.Task[None], tracked: list[Tracked]) -> None:
        deadline = time.monotonic() + self.options.timeout
        with Live(self.table(tracked), console=self.console, refresh_per_second=8) as live:
            while not poller.done():
                live.update(self.table(tracked))
                if time.monotonic() > deadline:
                    poller.cancel()
                    raise TimeoutError("the demo's tasks did not finish in time")
                await asyncio.sleep(0.125)
            await poller
            live.update(self.table(tracked))

    def table(self, tracked: list[Tracked]) -> Table:
        table = Table(title="Conveyor demo: live")
        for column in (
            "task",
            "type",
            "status",
            "progress",
            "attempts",
            "node(s)",
            "result / error",
        ):
            table.add_column(column, overflow="fold")
        colours = {
            "completed": "green",
            "failed": "red",
            "in_progress": "cyan",
            "pending": "yellow",
        }
        for item in tracked:
            task = item.task
            status = f"[{colours.get(task.status, 'white')}]{task.status}[/]"
            percent = 100.0 if task.status == "completed" else item.percent
            bar = "█" * int(percent / 10) + "·" * (10 - int(percent / 10))
            outcome = task.error if task.error is not None else task.result
            text = json.dumps(outcome)[:60] if outcome is not None else item.message
            nodes = ", ".join(sorted(item.nodes)) or (task.assigned_node_id or "")
            table.add_row(
                item.label,
                task.task_type,
                status,
                f"{bar} {percent:.0f}%",
                f"{task.attempts}/{task.max_attempts}",
                nodes,
                text,
            )
        return table

    def summary(self, tracked: list[Tracked]) -> dict[str, Any]:
        artifacts: list[str] = []
        for item in tracked:
            result = item.task.result if isinstance(item.task.result, dict) else {}
            for key, value in result.items():
                if "artifact" in key and isinstance(value, str):
                    artifacts.append(value)
                elif "artifact" in key and isinstance(value, list | dict):
                    values = value.values() if isinstance(value, dict) else value
                    artifacts.extend(str(v) for v in values if isinstance(v, str))
        counts: dict[str, int] = {}
        for item in tracked:
            counts[item.task.status] = counts.get(item.task.status, 0) + 1
        return {
            "server_url": self.url,
            "dashboard": f"{self.url}/",
            "api_docs": f"{self.url}/docs",
            "admin_username": self.username,
            "admin_password": self.password,
            "artifact_folder": str((self.options.data_dir / "artifacts").resolve()),
            "artifact_urls": [f"{self.url}/api/v1/artifacts/{a}/content" for a in artifacts],
            "counts": counts,
            "tasks": [
                {
                    "label": t.label,
                    "task_id": t.task.id,
                    "task_type": t.task.task_type,
                    "status": t.task.status,
                    "attempts": t.task.attempts,
                    "nodes": sorted(t.nodes),
                    "result": t.task.result,
                    "error": t.task.error,
                }
                for t in tracked
            ],
        }

    def print_summary(self, summary: dict[str, Any]) -> None:
        if self.options.as_json:
            sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
            return
        counts = ", ".join(f"{n} {s}" for s, n in sorted(summary["counts"].items()))
        self.console.print(f"\n[bold]Summary:[/bold] {counts}")
        self.console.print(f"Artifacts are stored under {summary['artifact_folder']}")
        for url in summary["artifact_urls"]:
            self.console.print(f"  {url}")
        self.console.print(
            f"\nDashboard: {summary['dashboard']}   API docs: {summary['api_docs']}\n"
            f"Admin login: {summary['admin_username']} / {summary['admin_password']}\n"
            f"Try: conveyor login --server {self.url} --username {self.username}; conveyor list"
        )

    def stop(self) -> None:
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self.logs:
            log.close()

    async def run(self) -> int:
        self.console.print(f"Starting the server on SQLite ({self.options.data_dir}/conveyor.db)…")
        await self.start_server()
        async with AsyncClient(self.url, username=self.username, password=self.password) as admin:
            node_secrets = await self.register_nodes(admin)
            self.console.print(f"Registered nodes {', '.join(NODES)}; starting two workers…")
            self.start_workers(node_secrets)
            tracked = await self.submit_batch(admin)
            await self.follow(admin, tracked)
        summary = self.summary(tracked)
        self.print_summary(summary)
        return 0

    async def wait_for_interrupt(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        self.console.print("\nThe server keeps running; press Ctrl-C to stop it and the workers.")
        await stop.wait()


def run_demo(options: DemoOptions) -> int:
    demo = Demo(options)

    async def main() -> int:
        code = await demo.run()
        if not options.exit_after_summary:
            await demo.wait_for_interrupt()
        return code

    try:
        return asyncio.run(main())
    finally:
        demo.stop()
