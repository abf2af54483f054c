"""Push nodes for tests: the kit and deliberately broken servers, on loopback ports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def _ok(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


def broken_app(mode: str, *, slow_seconds: float = 5.0) -> Starlette:
    """Healthy on /health, broken on /tasks: ``500``, ``slow`` or ``unsigned``."""

    async def tasks(_: Request) -> Response:
        if mode == "slow":
            await asyncio.sleep(slow_seconds)
        if mode == "unsigned":
            return JSONResponse({"result": "forged"})
        return JSONResponse({"detail": "boom"}, status_code=500)

    return Starlette(routes=[Route("/health", _ok), Route("/tasks", tasks, methods=["POST"])])


@asynccontextmanager
async def dropping_server(port: int) -> AsyncIterator[str]:
    """Accepts connections and closes them at once, without a byte."""

    async def drop(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()
