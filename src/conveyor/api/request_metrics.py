"""Count HTTP requests by method, route template and status class.

The route template (``/api/v1/tasks/{task_id}``), not the path, so a million task
ids make one time series, not a million; paths no route matched (or refused before
routing, like an oversized body) count as ``unmatched``. A pure ASGI middleware,
so streamed responses pass through untouched.
"""

from __future__ import annotations

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestMetrics:
    def __init__(self, app: ASGIApp, counter: Counter) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.counter.labels(scope["method"], route_template(scope), f"{status // 100}xx").inc()


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
