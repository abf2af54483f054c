"""A request body must arrive within a deadline, or it is answered ``408``.

uvicorn waits for a body as long as the client keeps the connection open, so a
client sending a byte now and then (slowloris) holds a request and its handler
for as long as it likes, and a few hundred such clients hold the server. The
deadline covers the whole body, counted from when the request's headers are in,
not each read: trickling one byte at a time does not reset it.

Once the body is complete, reads pass through untouched: a streaming response
listens for the client's disconnect for as long as it runs.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


class _Stalled(Exception):
    pass


class BodyReadTimeout:
    def __init__(self, app: ASGIApp, timeout_seconds: float) -> None:
        self.app = app
        self.timeout = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in BODILESS:
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        body_done = False
        stalled = False
        answered = False
        started = False

        async def timed_receive() -> Message:
            nonlocal body_done, stalled
            if body_done:
                return await receive()
            try:
                # timeout_at, not wait_for: no task is created for each receive.
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                stalled = True
                raise _Stalled from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            # The framework may catch our exception while parsing the body and
            # answer 400 itself; whatever it answers, the client gets the 408.
            nonlocal answered, started
            if stalled and not started:
                if not answered:
                    answered = True
                    await _refuse(send, self.timeout)
                return
            started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except _Stalled:
            if started:
                raise
            if not answered:
                answered = True
                await _refuse(send, self.timeout)


async def _refuse(send: Send, timeout: float) -> None:
    body = json.dumps(
        {
            "error": {
                "code": "request_timeout",
                "message": f"the request body did not arrive within {timeout:g} seconds",
            }
        }
    ).encode()
    # The rest of the body may still come: the connection cannot carry another
    # request, so it is closed, and the client is told so.
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 408, "headers": headers})
    await send({"type": "http.response.body", "body": body})
