"""Count HTTP requests by method, route template and status class, and time them.

The route template (``/api/v1/tasks/{task_id}``), not the path, so a million task
ids make one time series, not a million; paths no route matched (or refused before
routing, like an oversized body) count as ``unmatched``. A pure ASGI middleware,
so streamed responses pass through untouched.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestMetrics:
    def __init__(self, app: ASGIApp, counter: Counter, latency: Histogram) -> None:
        self.app = app
        self.counter = counter
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before answering
        started = time.perf_counter()
        answered: float | None = None

        async def send_and_note(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = int(message["status"])
                # Until the response starts, not ends: a stream's lifetime is not latency.
                answered = time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = route_template(scope)
            self.counter.labels(scope["method"], route, f"{status // 100}xx").inc()
            elapsed = (answered or time.perf_counter()) - started
            self.latency.labels(scope["method"], route).observe(elapsed)


def route_template(scope: Scope) -> str:
    """The matched route's path with its parameters named, e.g. ``/api/v1/tasks/{task_id}``.

    Rebuilt from the path and the path parameters the router found: the route
    object alone lacks the prefix it was included under.
    """
    if "route" not in scope:
        return "unmatched"
    names = {str(value): name for name, value in scope.get("path_params", {}).items()}
    segments = str(scope["path"]).split("/")
    return "/".join(f"{{{names[s]}}}" if s in names else s for s in segments)
