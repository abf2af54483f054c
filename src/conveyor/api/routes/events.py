"""Server-sent events: one task's progress and status, and the admin firehose.

Framing (``event:``, ``id:``, ``data:``), keep-alive comments and noticing a client
that went away are sse-starlette's; what the streams say is ``services.streams``'.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from conveyor.api.deps import ServicesDep, StreamPrincipal
from conveyor.api.errors import error_responses
from conveyor.api.input import CheckedRoute
from conveyor.api.params import Id, LastEventId, StatusList
from conveyor.domain.validation import INT64_MAX
from conveyor.services.streams import FirehoseFilter, StreamEvent, StreamService

router = APIRouter(
    route_class=CheckedRoute, tags=["events"], responses=error_responses(400, 401, 403, 404)
)

SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "an event stream", "content": {"text/event-stream": {}}}
}


async def _frames(events: AsyncGenerator[StreamEvent, None]) -> AsyncIterator[ServerSentEvent]:
    try:
        async for item in events:
            yield ServerSentEvent(
                data=json.dumps(item.data, separators=(",", ":"), default=str),
                event=item.event,
                id=item.id,
            )
    finally:
        # A client that leaves while its frame is being sent finds this generator
        # at its ``yield``, the stream's inside at its own: close that now (its
        # bus subscription, the open-streams gauge) rather than whenever the
        # garbage collector gets to it.
        await events.aclose()


def respond_stream(
    services: ServicesDep, events: AsyncGenerator[StreamEvent, None]
) -> EventSourceResponse:
    return EventSourceResponse(
        _frames(events),
        ping=services.rt.settings.sse_keepalive_seconds,
        # Proxies such as nginx buffer responses unless told not to.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _resume_point(after_seq: int | None, last_event_id: str) -> int:
    """``Last-Event-ID`` (sent by a reconnecting EventSource) counts as ``after_seq``."""
    # ``LastEventId``'s pattern admits only digits up to INT64_MAX, or nothing.
    resumed = int(last_event_id) if last_event_id else 0
    return max(after_seq or 0, resumed)


@router.get("/tasks/{task_id}/events", response_class=EventSourceResponse, responses=SSE_RESPONSE)
async def task_events(
    task_id: Id,
    who: StreamPrincipal,
    services: ServicesDep,
    after_seq: Annotated[int | None, Query(ge=0, le=INT64_MAX)] = None,
    ignore_history: bool = False,
    last_event_id: LastEventId = "",
) -> EventSourceResponse:
    """History first (progress after ``after_seq``), then live; ends after a final status.

    Authenticate with a bearer header or ``?ticket=`` from ``POST /auth/stream-ticket``.
    """
    after = _resume_point(after_seq, last_event_id)
    stream = await StreamService(services.rt).task_stream(who, task_id, after, ignore_history)
    return respond_stream(services, stream)


def _comma_list(values: list[str]) -> frozenset[str]:
    return frozenset(v.strip() for part in values for v in part.split(",") if v.strip())


@router.get("/events", response_class=EventSourceResponse, responses=SSE_RESPONSE)
async def firehose(
    who: StreamPrincipal,
    services: ServicesDep,
    task_type: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    status: StatusList = [],  # noqa: B006
) -> EventSourceResponse:
    """Admins: every task's status changes, optionally only some types or statuses."""
    flt = FirehoseFilter(_comma_list(task_type), _comma_list(status))
    return respond_stream(services, await StreamService(services.rt).firehose(who, flt))
