"""A push node in a few lines: ``push_app(handlers, secret)`` is an ASGI app.

Conveyor calls ``POST /tasks`` with a signed JSON task; the app checks the
signature, the replay window and that it has not seen this exact request
before, runs the handler registered for the task type with ``(params, ctx)``
(sync handlers in a thread), and answers, signed with the same secret::

    200 {"result": ...}                      the task is completed
    200 {"error": {...}, "retryable": bool}  the task failed
    202                                      the handler returned ``ACCEPTED``:
                                             the node finishes it later itself

``GET /health`` answers 200 for the server's health probes. Run it with any
ASGI server: ``uvicorn.run(push_app({...}, secret), port=8080)``.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conveyor.security.signing import (
    DEFAULT_WINDOW_SECONDS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    sign,
    verify,
)

ACCEPTED = object()  # return this from a handler to answer 202


@dataclass(frozen=True, slots=True)
class PushContext:
    task_id: str
    task_type: str
    attempt: int
    version: int
    metadata: dict[str, Any] = field(default_factory=dict)


class PushError(Exception):
    """Raise from a handler to fail the task with a code and say whether to retry."""

    def __init__(self, message: str, *, code: str = "handler_error", retryable: bool = True):
        super().__init__(message)
        self.code = code
        self.retryable = retryable


Handler = Callable[[dict[str, Any], PushContext], Any | Awaitable[Any]]


class ReplayGuard:
    """Remembers each accepted (timestamp, signature) until it leaves the window."""

    def __init__(self, window_seconds: int) -> None:
        self.window = window_seconds
        self._seen: dict[tuple[str, str], float] = {}

    def first_time(self, timestamp: str, signature: str, now: float) -> bool:
        if len(self._seen) > 1024:
            self._seen = {k: t for k, t in self._seen.items() if t > now}
        key = (timestamp, signature)
        if self._seen.get(key, 0.0) > now:
            return False
        self._seen[key] = now + 2 * self.window  # past the window either side
        return True


def push_app(
    handlers: Mapping[str, Handler], secret: str, *, window_seconds: int = DEFAULT_WINDOW_SECONDS
) -> Starlette:
    replays = ReplayGuard(window_seconds)

    def signed(status: int, payload: Any = None) -> Response:
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = sign(secret, body)
        return Response(body, status, headers=headers, media_type="application/json")

    async def health(_: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    async def tasks(request: Request) -> Response:
        body = await request.body()
        ts, sig = request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER)
        try:
            verify(secret, body, ts, sig, window_seconds=window_seconds)
        except SignatureError as exc:
            return Response(json.dumps({"error": str(exc)}), 401, media_type="application/json")
        if not replays.first_time(ts or "", sig or "", time.time()):
            return Response(b'{"error":"replayed request"}', 409, media_type="application/json")
        task = json.loads(body)
        handler = handlers.get(task.get("task_type", ""))
        if handler is None:
            error = {"code": "unknown_task_type", "message": f"no handler for {task['task_type']}"}
            return signed(200, {"error": error, "retryable": False})
        ctx = PushContext(
            task["task_id"], task["task_type"], task["attempt"], task["version"], task["metadata"]
        )
        return signed(*await _run(handler, task.get("params") or {}, ctx))

    routes = [Route("/health", health, methods=["GET"]), Route("/tasks", tasks, methods=["POST"])]
    return Starlette(routes=routes)


async def _run(handler: Handler, params: dict[str, Any], ctx: PushContext) -> tuple[int, Any]:
    try:
        if inspect.iscoroutinefunction(handler):
            value = await handler(params, ctx)
        else:
            value = await run_in_threadpool(handler, params, ctx)
    except PushError as exc:
        error = {"code": exc.code, "message": str(exc)[:2000]}
        return 200, {"error": error, "retryable": exc.retryable}
    except Exception as exc:
        error = {
            "code": "handler_exception",
            "type": type(exc).__name__,
            "message": str(exc)[:2000],
        }
        return 200, {"error": error, "retryable": True}
    if value is ACCEPTED:
        return 202, None
    return 200, {"result": value}
