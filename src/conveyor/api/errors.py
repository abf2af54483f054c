"""One renderer for every error, in the documented shape
``{"error": {"code", "message", "details"?}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from conveyor.api.edge import EdgeRefusal
from conveyor.errors import ConveyorError, RateLimited, Unauthorized, Unavailable
from conveyor.observability.logging import get_logger

log = get_logger(__name__)

_HTTP_CODES = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def _with_request_id(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """The edge's request id in the error, so a user's report finds the log lines."""
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id is not None:
        body["error"]["request_id"] = request_id
    return body


def retry_after_header(seconds: float) -> str:
    """Whole seconds, rounded up and at least one (the header takes no fractions)."""
    return str(max(1, int(seconds + 0.999)))


_PARAMETER_PLACES = {"query", "path", "header", "cookie"}


def _field_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = err.get("loc", ())
        if loc and loc[0] in _PARAMETER_PLACES:
            # A parameter by its name alone: ``status``, not ``query.status.0``.
            loc = loc[1:2]
        location = [str(part) for part in loc if part != "body"]
        details.append(
            {
                "field": ".".join(location) or "body",
                "message": err.get("msg", "invalid"),
                "type": err.get("type", "invalid"),
            }
        )
    return details


async def _conveyor_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConveyorError)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited | Unavailable):
        headers["Retry-After"] = retry_after_header(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        _with_request_id(request, exc.to_dict()), status_code=exc.status_code, headers=headers
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    body = error_body("invalid_input", "the request is invalid", _field_details(exc))
    return JSONResponse(_with_request_id(request, body), status_code=400)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path.

    Starlette answers 405 from the first route whose path matches, so its ``Allow``
    names that route's methods only (``POST`` for ``/tasks``, though ``GET`` works too).
    """
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return JSONResponse(
        _with_request_id(request, error_body(code, str(exc.detail))),
        status_code=exc.status_code,
        headers=headers,
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The edge's own refusals pass through here on their way out; the edge answers
    # them (api/edge.py), so they are neither bugs nor worth a stack trace.
    if not isinstance(exc, EdgeRefusal):
        # The stack trace goes to the log only; the client learns nothing internal.
        log.exception("unhandled error", path=request.url.path, method=request.method)
    # Starlette re-raises the error after this response is sent, and uvicorn then
    # drops the connection: saying so lets a keep-alive client open a new one for
    # its next request instead of having that request reset.
    return JSONResponse(
        _with_request_id(request, error_body("internal_error", "internal error")),
        status_code=500,
        headers={"Connection": "close"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ConveyorError, _conveyor_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
                "request_id": {"type": "string"},
            },
            "required": ["code", "message"],
        }
    },
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries so clients see the error shape on every route."""
    return {
        status: {
            "description": _HTTP_CODES.get(status, "error"),
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
        for status in statuses
    }
