"""What every seed profile shares: its own error bodies, and lenient request models.

A profile's routes go through the same ``CheckedRoute`` checks as the native API
(nothing unstorable reaches a service); only the shape of a refusal differs, as
each seed documents its own.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from conveyor.api.errors import retry_after_header
from conveyor.api.input import CheckedRoute
from conveyor.errors import ConveyorError, InvalidInput, RateLimited, Unauthorized

Render = Callable[[ConveyorError], dict[str, Any]]


def field_details(exc: RequestValidationError) -> list[dict[str, str]]:
    return [
        {
            "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body",
            "message": str(err.get("msg", "invalid")),
        }
        for err in exc.errors()
    ]


def error_response(exc: ConveyorError, render: Render) -> JSONResponse:
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = retry_after_header(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(render(exc), status_code=exc.status_code, headers=headers)


def profile_route(render: Render) -> type[CheckedRoute]:
    """A route class whose refusals take the seed's error body instead of ours."""

    class ProfileRoute(CheckedRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def rendered(request: Request) -> Response:
                try:
                    return await handler(request)
                except RequestValidationError as exc:
                    invalid = InvalidInput("the request is invalid", details=field_details(exc))
                    return error_response(invalid, render)
                except ConveyorError as exc:
                    return error_response(exc, render)

            return rendered

    return ProfileRoute


def message_error(exc: ConveyorError) -> dict[str, Any]:
    """``{"error": "…"}``, the body most of the seeds' servers answer with."""
    body: dict[str, Any] = {"error": exc.message}
    if exc.details is not None:
        body["details"] = exc.details
    return body


class SeedModel(BaseModel):
    """A seed's request body: unknown fields are ignored, as the seeds' servers do."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
