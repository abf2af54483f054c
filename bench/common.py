"""Shared pieces of the benchmarks: a server on a fresh database, percentiles."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx

ADMIN = ("bench-admin", "bench-admin-password")
PG_ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


@asynccontextmanager
async def fresh_database(kind: str) -> AsyncIterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        return
    name = f"conveyor_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield (
            PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            + f"/{name}"
        )
    finally:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def server_env(database_url: str, data_dir: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env.update(
        {
            "CONVEYOR_DATABASE_URL": database_url,
            "CONVEYOR_DATA_DIR": data_dir,
            "CONVEYOR_JWT_SECRET": secrets.token_urlsafe(48),
            "CONVEYOR_ADMIN_USERNAME": ADMIN[0],
            "CONVEYOR_ADMIN_PASSWORD": ADMIN[1],
            "CONVEYOR_RATE_LIMITS_ENABLED": "false",
            "CONVEYOR_LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


@asynccontextmanager
async def running_servers(env: dict[str, str], count: int = 1) -> AsyncIterator[list[str]]:
    """``count`` ``conveyor serve`` processes sharing one database; yields their URLs."""
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    for _ in range(count):
        port = free_port()
        cmd = [sys.executable, "-m", "conveyor.cli.main", "serve", "--port", str(port)]
        procs.append(subprocess.Popen(cmd, env=env))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url in urls:
            await wait_ready(url)
        yield urls
    finally:
        stop_processes(procs)


def stop_processes(procs: list[subprocess.Popen[bytes]], grace: float = 15) -> None:
    """SIGTERM all at once (they shut down in parallel), then SIGKILL what outlives grace."""
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} did not become ready")


async def bearer(client: httpx.AsyncClient, path: str, body: dict[str, str]) -> dict[str, str]:
    r = await client.post(path, json=body)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
