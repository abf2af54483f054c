"""Push dispatch throughput to 4 kit push nodes, and what killing one costs.

    .venv/bin/python bench/push.py --tasks 2000 [--database-url postgresql://...]

Everything runs in this one process and event loop (server, dispatcher and the
four push nodes), so the figures are a floor, not a ceiling. Half-way through,
one node's server is stopped: its in-flight sends fail, those tasks go back to
pending (an attempt charged) and the other three take over. Tasks lost must be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from conveyor.api.app import create_app
from conveyor.client.pushkit import push_app
from conveyor.settings import Settings

ADMIN = ("bench-admin", "bench-admin-password")
SERVING: list[asyncio.Task[None]] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def serve(app: Any, port: int) -> uvicorn.Server:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    SERVING.append(asyncio.create_task(server.serve()))
    while not server.started:
        await asyncio.sleep(0.01)
    return server


async def count(http: httpx.AsyncClient, h: dict[str, str]) -> dict[str, int]:
    stats = (await http.get("/admin/stats", headers=h)).json()
    return dict(stats.get("tasks", stats))


async def main(n_tasks: int, database_url: str | None, data: Path) -> None:
    settings = Settings(
        database_url=database_url or f"sqlite:///{data / 'bench.db'}",
        data_dir=data,
        jwt_secret="bench-secret-" + "x" * 40,
        admin_username=ADMIN[0],
        admin_password=ADMIN[1],
        rate_limits_enabled=False,
        sweeper_interval_seconds=0.5,
        backoff_base_seconds=0,
        push_request_timeout_seconds=2,
        push_probe_healthy_seconds=1,
        push_probe_failing_seconds=0.3,
        dispatch_concurrency=64,
    )
    port = free_port()
    api = await serve(create_app(settings), port)
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=60)
    r = await http.post("/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]})
    h = {"Authorization": f"Bearer {r.json()['access_token']}"}
    nodes = []
    for i in range(4):
        node_port = free_port()
        spec = {
            "node_id": f"push-{i}",
            "name": f"push-{i}",
            "kind": "push",
            "url": f"http://127.0.0.1:{node_port}",
            "max_concurrency": 16,
        }
        secret = (await http.post("/nodes", json=spec, headers=h)).json()["node_secret"]
        nodes.append(await serve(push_app({"noop": lambda p, c: None}, secret), node_port))
    await asyncio.sleep(1.5)  # first probes make the nodes healthy
    batch = [{"task_type": "noop", "max_attempts": 10} for _ in range(n_tasks)]
    start = time.perf_counter()
    for i in range(0, n_tasks, 500):
        r = await http.post("/tasks", json={"tasks": batch[i : i + 500]}, headers=h)
        assert r.status_code == 201, r.text
    killed_at = done_at_kill = None
    while True:
        done = sum(n["finished"] for n in (await http.get("/nodes", headers=h)).json()["nodes"])
        elapsed = time.perf_counter() - start
        if killed_at is None and done >= n_tasks // 2:
            killed_at, done_at_kill = elapsed, done
            nodes[0].should_exit = True  # kill one node mid-run
        if done >= n_tasks or elapsed > 300:
            break
        await asyncio.sleep(0.05)
    total = time.perf_counter() - start
    r = await http.get("/tasks", params={"status": "completed", "limit": 1}, headers=h)
    listed = (await http.get("/nodes", headers=h)).json()["nodes"]
    print(f"tasks={n_tasks} nodes=4 db={'postgres' if database_url else 'sqlite'}")
    assert killed_at is not None and done_at_kill is not None
    print(
        f"before kill: {done_at_kill / killed_at:.0f} tasks/s ({done_at_kill} in {killed_at:.2f}s)"
    )
    after = done - done_at_kill
    print(
        f"after kill:  {after / (total - killed_at):.0f} tasks/s "
        f"({after} in {total - killed_at:.2f}s)"
    )
    print(f"completed={done} lost={n_tasks - done}")
    for n in listed:
        print(f"  {n['node_id']}: finished={n['finished']} health={n['health']}")
    await http.aclose()
    for node in nodes[1:]:
        node.should_exit = True
    api.should_exit = True
    await asyncio.sleep(1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(args.tasks, args.database_url, Path(tmp)))
