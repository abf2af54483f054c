"""Real HTTP servers for tests: uvicorn on a free loopback port, in-process or as a
subprocess, and a small client that knows the API's common moves."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from conveyor.api.app import build_runtime, create_app
from conveyor.clock import Clock
from conveyor.services.runtime import Runtime
from conveyor.settings import Settings, normalise_database_url

ADMIN = ("admin", "admin-password-1")
TEST_SECRET = "test-secret-" + "x" * 40


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "jwt_secret": TEST_SECRET,
        "admin_username": ADMIN[0],
        "admin_password": ADMIN[1],
        "sweeper_interval_seconds": 0.2,
        "backoff_base_seconds": 0.0,
        "rate_limits_enabled": False,
        # Deposits credited at once, so tests can fund wallets through the API.
        "wallet_sandbox": True,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def serve_asgi(
    app: Any, port: int | None = None, *, lifespan: str = "off"
) -> AsyncIterator[str]:
    """Any ASGI app under uvicorn on a loopback port, in this event loop; yields its URL."""
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan=lifespan,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def serve_app(
    settings: Settings, clock: Clock | None = None, run_duties: bool = True
) -> AsyncIterator[str]:
    """The Conveyor app on a free port in this event loop; yields its base URL."""
    app = create_app(settings, clock=clock, run_duties=run_duties)
    async with serve_asgi(app, lifespan="on") as url:
        yield url


def process_settings(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The ``CONVEYOR_*`` variables a ``conveyor serve`` subprocess of the tests runs with."""
    return {
        "CONVEYOR_DATABASE_URL": database_url,
        "CONVEYOR_DATA_DIR": str(data_dir),
        "CONVEYOR_JWT_SECRET": TEST_SECRET,
        "CONVEYOR_ADMIN_USERNAME": ADMIN[0],
        "CONVEYOR_ADMIN_PASSWORD": ADMIN[1],
        "CONVEYOR_RATE_LIMITS_ENABLED": "false",
        "CONVEYOR_WALLET_SANDBOX": "true",
        "CONVEYOR_LOG_LEVEL": "WARNING",
        **extra,
    }


def server_env(settings_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env.update(settings_env)
    return env


@dataclass
class ServerProcess:
    """``conveyor serve`` as a real subprocess."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 30.0) -> None:
        cmd = [sys.executable, "-m", "conveyor.cli.main", "serve", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            cmd, env=server_env(self.env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = asyncio.get_running_loop().time() + timeout
        async with httpx.AsyncClient() as client:
            while True:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise RuntimeError(f"server exited early: {err[-2000:]}")
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError("server did not become ready")
                await asyncio.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Api:
    """An httpx client plus the moves most tests make."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url + "/api/v1", timeout=30.0)

    async def close(self) -> None:
        await self.http.aclose()

    async def login(self, username: str, password: str) -> dict[str, Any]:
        r = await self.http.post("/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def admin_headers(self) -> dict[str, str]:
        body = await self.login(*ADMIN)
        return {"Authorization": f"Bearer {body['access_token']}"}

    async def user_headers(
        self, username: str, password: str = "user-password-1"
    ) -> dict[str, str]:
        r = await self.http.post(
            "/auth/register", json={"username": username, "password": password}
        )
        assert r.status_code in (201, 409), r.text
        body = await self.login(username, password)
        return {"Authorization": f"Bearer {body['access_token']}"}

    async def create_node(self, admin: dict[str, str], **spec: Any) -> tuple[str, str]:
        spec.setdefault("name", spec.get("node_id", "worker"))
        r = await self.http.post("/nodes", json=spec, headers=admin)
        assert r.status_code == 201, r.text
        return r.json()["node_id"], r.json()["node_secret"]

    async def node_headers(self, node_id: str, secret: str) -> dict[str, str]:
        r = await self.http.post(
            "/auth/node/login", json={"node_id": node_id, "node_secret": secret}
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def new_node(self, admin: dict[str, str], **spec: Any) -> tuple[str, dict[str, str]]:
        node_id, secret = await self.create_node(admin, **spec)
        return node_id, await self.node_headers(node_id, secret)

    async def submit(self, headers: dict[str, str], **task: Any) -> dict[str, Any]:
        task.setdefault("task_type", "noop")
        r = await self.http.post("/tasks", json=task, headers=headers)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def claim(self, headers: dict[str, str], **body: Any) -> dict[str, Any]:
        r = await self.http.post("/worker/claim", json=body, headers=headers)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def metric(self, name: str) -> float:
        """An unlabelled metric's current value, from this server's ``/metrics``."""
        text = (await self.http.get(self.base_url + "/metrics")).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"{name} is not in /metrics")

    async def wait_metric(self, name: str, value: float, what: str) -> None:
        async def reached() -> bool:
            return await self.metric(name) == value

        await wait_until(reached, 15.0, what)

    async def claims_parked(self, count: int = 1) -> None:
        """Wait until ``count`` long-poll claims are parked here, waiting for work."""
        await self.wait_metric("conveyor_claims_waiting", count, f"{count} parked claim(s)")


@asynccontextmanager
async def serve_api(settings: Settings) -> AsyncIterator[Api]:
    """The Conveyor app on a free port with an ``Api`` client pointed at it."""
    async with serve_app(settings) as base_url:
        client = Api(base_url)
        try:
            yield client
        finally:
            await client.close()


@asynccontextmanager
async def replicas(
    database_url: str, data_dir: Path, **extra: str
) -> AsyncIterator[tuple[Api, Api]]:
    """Two ``conveyor serve`` processes on one database, each with an API client."""
    env = process_settings(normalise_database_url(database_url), data_dir, **extra)
    servers = [ServerProcess(env), ServerProcess(env)]
    try:
        await asyncio.gather(*[s.start() for s in servers])
        a, b = Api(servers[0].url), Api(servers[1].url)
        try:
            yield a, b
        finally:
            await a.close()
            await b.close()
    finally:
        for server in servers:
            server.stop()


async def wait_until(check: Any, timeout: float, what: str) -> Any:
    """Poll a real condition until it holds; fail with ``what`` after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        # A lambda returning a coroutine is not a coroutine function, and an unawaited
        # coroutine is truthy: await whatever is awaitable, or the wait passes at once.
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def runtime(
    database_url: str, tmp_path: Path, clock: Clock | None = None
) -> AsyncIterator[Runtime]:
    """The services' runtime without an HTTP server, its bus started."""
    rt = build_runtime(test_settings(database_url, tmp_path), clock)
    await rt.bus.start()
    try:
        yield rt
    finally:
        await rt.bus.close()
        await rt.db.dispose()
