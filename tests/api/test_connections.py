"""What happens to the connection: after a 500, and under a body that never arrives.

Both against a real uvicorn server on a real port, with a keep-alive client and
with raw sockets, since the behaviour is in the bytes on the wire.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conveyor.api.app import create_app
from tests.server import serve_asgi, wait_until
from tests.server import test_settings as settings_for

BODY_TIMEOUT = 0.5


@pytest.fixture
async def server(sqlite_factory: Any, tmp_path: Path) -> AsyncIterator[str]:
    settings = settings_for(
        await sqlite_factory.new(), tmp_path, body_read_timeout_seconds=BODY_TIMEOUT
    )
    app = create_app(settings, run_duties=False)

    @app.get("/test/boom")
    async def boom() -> None:
        raise RuntimeError("a bug, as a 500 comes from")

    async with serve_asgi(app, lifespan="on") as url:
        yield url


async def test_a_500_closes_the_connection_and_the_next_request_works(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        for _ in range(3):
            r = await client.get("/test/boom")
            assert r.status_code == 500
            assert r.json()["error"]["code"] == "internal_error"
            assert r.json()["error"]["message"] == "internal error"
            assert r.headers["connection"] == "close"
            # At once, on the same client: it must open a new connection, not be reset.
            assert (await client.get("/healthz")).status_code == 200


async def test_after_a_500_the_server_closes_cleanly(server: str) -> None:
    reader, writer = await _connect(server)
    try:
        writer.write(b"GET /test/boom HTTP/1.1\r\nHost: t\r\n\r\n")
        await writer.drain()
        head, body = await _response(reader)
        assert head.startswith(b"HTTP/1.1 500") and b"connection: close" in head.lower()
        assert json.loads(body)["error"]["code"] == "internal_error"
        # An orderly end of stream (FIN), never a reset.
        assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        writer.close()


@pytest.mark.parametrize("trickle", [False, True], ids=["stalled", "trickling"])
async def test_a_body_that_does_not_arrive_is_408(server: str, trickle: bool) -> None:
    reader, writer = await _connect(server)
    started = time.monotonic()
    try:
        writer.write(
            b"POST /api/v1/tasks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        await writer.drain()
        response = asyncio.create_task(_response(reader))
        while trickle and not response.done() and time.monotonic() - started < 10:
            # A byte now and then must not move the deadline.
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.05)
        head, body = await asyncio.wait_for(response, 10)
        elapsed = time.monotonic() - started
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 408"), head
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"]["code"] == "request_timeout"
    assert BODY_TIMEOUT <= elapsed < BODY_TIMEOUT + 2


async def test_a_body_in_time_is_not_cut_short(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        r = await client.post("/api/v1/auth/login", json={"username": "x", "password": "y"})
        assert r.status_code == 401  # read and answered, not 408


async def test_a_client_gone_mid_body_is_499_not_a_500(
    server: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """The client hangs up half-way through its body: nobody is answered, the request
    is counted as a 4xx (499), and no "unhandled error" with a stack trace is logged."""
    _, writer = await _connect(server)
    writer.write(
        b"POST /api/v1/tasks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )
    await writer.drain()
    await asyncio.sleep(0)  # let the server start reading the body
    writer.close()
    await writer.wait_closed()

    async def counted() -> str | None:
        async with httpx.AsyncClient(base_url=server) as client:
            text = (await client.get("/metrics")).text
        return text if 'route="/api/v1/tasks",status="4xx"' in text else None

    metrics = await wait_until(counted, 5, "the abandoned request counted")
    assert 'route="/api/v1/tasks",status="5xx"' not in metrics
    logged = capfd.readouterr()
    assert "unhandled error" not in logged.out + logged.err
    assert "status=499" in logged.out + logged.err or '"status": 499' in logged.out + logged.err


async def _connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def _response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head, await asyncio.wait_for(reader.readexactly(length), 10)
