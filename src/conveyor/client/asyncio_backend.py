"""httpcore's network layer on plain asyncio streams, for ``AsyncClient``.

httpcore runs on asyncio through anyio, which wraps every read and write in a cancel
scope and a deadline and answers each "is this idle connection still usable?" through
typed attribute lookups. Measured on a producer submitting one task per call
(docs/benchmarks.md), that was about a fifth of the SDK's CPU per request; the SDK
only runs on asyncio, so it talks to asyncio directly, through httpcore's documented
``AsyncNetworkBackend`` interface. Errors are httpcore's, which httpx maps to its
own (``httpx.ConnectError``, ``httpx.ReadTimeout``…) as for its default backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import ssl
from collections.abc import Coroutine, Iterable
from typing import Any

import httpcore
import httpx

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)  # b"" at end of stream
        except TimeoutError as exc:
            raise httpcore.ReadTimeout("timed out reading the response") from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            # Wait only when the kernel is not keeping up (the transport's high-water
            # mark): a request of a few kilobytes leaves at once.
            transport = self._writer.transport
            if transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]:
                async with asyncio.timeout(timeout):
                    await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout("timed out sending the request") from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    async def aclose(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):  # the peer already dropped it
            await self._writer.wait_closed()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        closing = self._writer.transport.is_closing()
        if info == "is_readable":
            # An idle keep-alive connection with something to read has been closed
            # (or broken) by the server: httpcore then opens a new one.
            if closing or self._reader.at_eof():
                return True
            sock = self._writer.get_extra_info("socket")
            return sock is not None and bool(select.select([sock], [], [], 0)[0])
        names = {
            "ssl_object": "ssl_object",
            "client_addr": "sockname",
            "server_addr": "peername",
            "socket": "socket",
        }
        if info not in names or closing:
            return None  # a closed TLS transport has nothing left to tell
        return self._writer.get_extra_info(names[info])


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        connecting = asyncio.open_connection(host, port, local_addr=local)
        return await _connect(connecting, f"{host}:{port}", timeout, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        connecting = asyncio.open_unix_connection(path)
        return await _connect(connecting, path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connect(
    connecting: Coroutine[Any, Any, tuple[asyncio.StreamReader, asyncio.StreamWriter]],
    where: str,
    timeout: float | None,
    options: Iterable[SocketOption] | None,
) -> AsyncioStream:
    """Open a connection, its failures as httpcore's, then apply the socket options."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await connecting
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(f"timed out connecting to {where}") from exc
    except OSError as exc:
        raise httpcore.ConnectError(str(exc)) from exc
    sock = writer.get_extra_info("socket")
    for option in options or ():
        sock.setsockopt(*option)
    return AsyncioStream(reader, writer)


LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


def asyncio_transport(verify: ssl.SSLContext | bool = True) -> httpx.AsyncHTTPTransport:
    """httpx's own transport (its request and response mapping, its error mapping),
    with its connection pool on ``AsyncioBackend``. httpx takes no network backend
    as an argument, so the pool it built is replaced by one with the same settings
    (pyproject pins httpx below 1.0; tests/client/test_asyncio_backend.py fails if
    the replacement stops taking effect)."""
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=LIMITS)
    context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=LIMITS.max_connections,
        max_keepalive_connections=LIMITS.max_keepalive_connections,
        keepalive_expiry=LIMITS.keepalive_expiry,
        network_backend=AsyncioBackend(),
    )
    return transport
