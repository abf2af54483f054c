"""Every HTTP request's way in and out, in one pure ASGI layer.

What each request gets at the edge, before and after the framework sees it:

- a request id: the client's ``X-Request-ID`` when it is a sane token, else a new
  one; echoed in the response header, bound to every log line of the request and
  put in error bodies (``api/errors.py`` reads it from the scope's state);
- the body limits: a body over the size limit is refused ``413`` (by its
  ``Content-Length`` alone when it has one, else counted as it arrives), and a body
  not fully received within the read deadline is refused ``408`` (slowloris: the
  deadline covers the whole body, so trickling a byte at a time does not reset it);
- the ``RateLimit-Policy`` / ``RateLimit`` headers of the budgets the request was
  charged to (``api/ratelimits.py``);
- metrics: a count by method, route template and status class, and the time
  until the response starts (a stream's lifetime is not latency);
- one access log line: method, route template, status, duration, principal,
  request id. Never the query string or headers, where tokens and tickets travel.

One layer instead of four: each ASGI wrapper costs a coroutine call and a closure
per message on the hot path (issue 11's profile).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor.api.ratelimits import STATE_KEY, header_values
from conveyor.observability.logging import get_logger

log = get_logger("conveyor.access")
REQUEST_ID_HEADER = b"x-request-id"
# A client's request id is kept only if it is a short token: it goes into logs and
# headers, so nothing that could forge a log line or a header passes.
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
# A client streaming a body past the limit is read (and discarded) up to this much
# more, so it gets to read our 413 instead of a reset connection.
DRAIN_LIMIT_BYTES = 16 * 1024 * 1024
BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})
PRINCIPAL_KEY = "principal_id"  # set in the scope's state by authentication


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    code: str
    message: str

    def messages(self, request_id: str) -> tuple[Message, Message]:
        body = json.dumps(
            {"error": {"code": self.code, "message": self.message, "request_id": request_id}}
        ).encode()
        # The rest of the body may still come: the connection cannot carry another
        # request, so it is closed, and the client is told so.
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (REQUEST_ID_HEADER, request_id.encode()),
        ]
        return (
            {"type": "http.response.start", "status": self.status, "headers": headers},
            {"type": "http.response.body", "body": body},
        )


class EdgeRefusal(Exception):
    """Raised into the app when the edge ends a request itself (a body too large or
    too slow, a client gone mid-body): the edge answers, or knows nobody listens, so
    the app's catch-all must neither answer nor log it as a bug."""


# A client that hung up before its body arrived (nginx's number): logged and counted,
# never answered.
CLIENT_GONE = 499


class Edge:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        body_read_timeout: float,
        counter: Counter,
        latency: Histogram,
        path_limits: Mapping[str, int] | None = None,
        access_log: bool = True,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_read_timeout = body_read_timeout
        self.path_limits = dict(path_limits or {})
        self.counter = counter
        self.latency = latency
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        exchange = _Exchange(self, scope, receive, send, request_id)
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await exchange.run()
            finally:
                self._record(scope, exchange, state)

    def _record(self, scope: Scope, exchange: _Exchange, state: dict[str, object]) -> None:
        route = route_template(scope)
        status = exchange.status
        self.counter.labels(scope["method"], route, f"{status // 100}xx").inc()
        now = time.perf_counter()
        self.latency.labels(scope["method"], route).observe(
            (exchange.answered or now) - exchange.started
        )
        if self.access_log:
            log.info(
                "request",
                method=scope["method"],
                route=route,
                status=status,
                duration_ms=round((now - exchange.started) * 1000, 2),
                principal_id=state.get(PRINCIPAL_KEY),
            )


class _Exchange:
    """One request's pass through the edge: the wrapped receive and send."""

    def __init__(
        self, edge: Edge, scope: Scope, receive: Receive, send: Send, request_id: str
    ) -> None:
        self.edge = edge
        self.scope = scope
        self._receive = receive
        self._send = send
        self.request_id = request_id
        self.status = 500  # what the client gets if the app raises before answering
        self.started = time.perf_counter()
        self.answered: float | None = None
        self.refusal: Refusal | None = None
        self._refused_sent = False
        self._client_gone = False
        self._response_started = False
        self._body_done = scope.get("method") in BODILESS
        self._seen = 0
        self._limit = edge.path_limits.get(scope.get("path", ""), edge.max_body_bytes)
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + edge.body_read_timeout

    async def run(self) -> None:
        declared = None if self._body_done else _content_length(self.scope)
        if declared is not None and declared > self._limit:
            self.refusal = self._too_large()
            await self._send_refusal()
            return
        receive = self._receive if self._body_done else self.receive
        try:
            await self.edge.app(self.scope, receive, self.send)
        except EdgeRefusal:
            if self._response_started:
                raise
        if self._client_gone:
            self.status = CLIENT_GONE
            return
        if self.refusal is not None:
            await self._send_refusal()

    async def receive(self) -> Message:
        if self._body_done:
            return await self._receive()
        try:
            # timeout_at, not wait_for: no task is created for each receive.
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            timeout = self.edge.body_read_timeout
            self.refusal = Refusal(
                408,
                "request_timeout",
                f"the request body did not arrive within {timeout:g} seconds",
            )
            raise EdgeRefusal from None
        if message["type"] == "http.disconnect":
            self._body_done = True
            self._client_gone = True
            raise EdgeRefusal
        if message["type"] != "http.request":
            self._body_done = True
            return message
        self._seen += len(message.get("body", b""))
        more = message.get("more_body", False)
        if self._seen > self._limit:
            self.refusal = self._too_large()
            if more:
                await _drain(self._receive)
            raise EdgeRefusal
        if not more:
            self._body_done = True
        return message

    async def send(self, message: Message) -> None:
        if self._client_gone:
            return  # whatever the framework answers, nobody is there to read it
        if self.refusal is not None and not self._response_started:
            # The framework may catch our exception while parsing the body and
            # answer 400 itself; whatever it answers, the client gets our refusal.
            await self._send_refusal()
            return
        if message["type"] == "http.response.start":
            self._response_started = True
            self.status = int(message["status"])
            self.answered = time.perf_counter()
            headers = [*message.get("headers", []), (REQUEST_ID_HEADER, self.request_id.encode())]
            applied = self.scope["state"].get(STATE_KEY)
            if applied:
                headers.extend(header_values(applied))
            message = {**message, "headers": headers}
        await self._send(message)

    async def _send_refusal(self) -> None:
        if self._refused_sent or self.refusal is None:
            return
        self._refused_sent = True
        self.status = self.refusal.status
        self.answered = time.perf_counter()
        start, body = self.refusal.messages(self.request_id)
        await self._send(start)
        await self._send(body)

    def _too_large(self) -> Refusal:
        return Refusal(413, "payload_too_large", f"the request body is over {self._limit} bytes")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER and _REQUEST_ID.fullmatch(value):
            return str(value.decode())
    return uuid.uuid4().hex


async def _drain(receive: Receive) -> None:
    drained = 0
    while drained < DRAIN_LIMIT_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


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
