"""The SDK's network layer on plain asyncio (client/asyncio_backend.py), against real
sockets: errors map to httpx's, a body streams as it arrives, a connection the server
closed while idle is replaced, and TLS works."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from conveyor.client import AsyncClient
from conveyor.client.asyncio_backend import AsyncioBackend, asyncio_transport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


def _ok(body: bytes, *, close: bool = False) -> bytes:
    connection = b"close" if close else b"keep-alive"
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n%s" % (
        len(body),
        connection,
        body,
    )


def test_the_sdk_client_runs_on_the_asyncio_backend() -> None:
    client = AsyncClient("http://127.0.0.1:9")
    pool = client.http._transport._pool  # type: ignore[attr-defined]
    assert isinstance(pool._network_backend, AsyncioBackend)


async def test_a_refused_connection_is_httpx_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    async with httpx.AsyncClient(transport=asyncio_transport()) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_a_silent_server_is_httpx_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await reader.read()  # never answers; returns once the client gives up

    transport = asyncio_transport()
    async with serving(silent) as port, httpx.AsyncClient(transport=transport, timeout=0.3) as http:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"http://127.0.0.1:{port}/")
        assert time.monotonic() - started < 2


async def test_a_body_streams_as_it_arrives() -> None:
    second_part = asyncio.Event()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await second_part.wait()
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()
        writer.close()

    async with serving(slow) as port, httpx.AsyncClient(transport=asyncio_transport()) as http:
        url = f"http://127.0.0.1:{port}/"
        async with http.stream("GET", url) as response:
            parts = response.aiter_bytes()
            # The first part is read while the server still holds back the second.
            first = await asyncio.wait_for(anext(parts), timeout=2)
            assert first == b"first" and not second_part.is_set()
            second_part.set()
            assert [p async for p in parts] == [b"second"]


async def test_an_idle_connection_the_server_closed_is_replaced() -> None:
    connections = 0
    closed = asyncio.Event()

    async def once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await _read_request(reader)
        # Says keep-alive, then drops the connection anyway (a proxy's idle timeout).
        writer.write(_ok(b"hello"))
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        closed.set()

    async with (
        serving(once_then_close) as port,
        httpx.AsyncClient(transport=asyncio_transport()) as http,
    ):
        url = f"http://127.0.0.1:{port}/"
        assert (await http.get(url)).text == "hello"
        await asyncio.wait_for(closed.wait(), 5)  # the idle connection is now dead
        assert (await http.get(url)).text == "hello"
    assert connections == 2


async def test_https_with_a_trusted_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_cert = [
        *["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"],
        *["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
        *["-keyout", str(key), "-out", str(cert)],
    ]
    await asyncio.to_thread(subprocess.run, make_cert, check=True, capture_output=True)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))

    async def hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_ok(b"over tls"))
        await writer.drain()
        await reader.read()  # until the client hangs up

    async with serving(hello, tls=server_tls) as port:
        async with httpx.AsyncClient(transport=asyncio_transport(client_tls)) as http:
            response = await http.get(f"https://localhost:{port}/")
            assert response.text == "over tls"
            assert response.extensions["network_stream"].get_extra_info("ssl_object")
        # And one it does not trust is refused.
        async with httpx.AsyncClient(transport=asyncio_transport()) as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(f"https://localhost:{port}/")
