"""Every request's path, query, headers and JSON body pass ``domain.validation``
before a route sees them.

Routers use ``CheckedRoute``, so no endpoint can forget a check: a NUL in a path
segment, a lone surrogate escaped in a nested key of ``params``, an integer past
64 bits or a body that is not UTF-8 is a ``400`` here, on both databases alike,
and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from enum import StrEnum
from typing import Any, TypeVar

from fastapi import params
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from conveyor.domain.validation import MAX_DEPTH, find_problem, json_text_clears, text_problem
from conveyor.errors import InvalidInput

# A body wraps its free-form JSON in a few levels of its own ({"tasks": [{"params": …}]});
# the free-form fields themselves are held to MAX_DEPTH by their schemas.
BODY_DEPTH = MAX_DEPTH + 4
_JSON_TYPES = ("application/json",)


E = TypeVar("E", bound=StrEnum)


def enum_list(values: list[str], kind: type[E], field: str = "status") -> list[E]:
    """``?status=a,b&status=c`` as enum members; an unknown one is a 400 naming the rest."""
    try:
        return [kind(v) for part in values for v in part.split(",") if v]
    except ValueError as exc:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidInput(
            f"unknown {field}", details=[{"field": field, "message": f"one of: {allowed}"}]
        ) from exc


def _refuse(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        message, details=[{"field": field, "message": message, "type": "unstorable"}]
    )


def _no_constants(name: str) -> Any:
    raise _refuse("body", f"{name} is not JSON")


def decode_json(raw: bytes) -> Any:
    """JSON as RFC 8259 has it (UTF-8, no NaN), holding only what both databases store."""
    return _decode(raw)[0]


def _decode(raw: bytes) -> tuple[Any, bool]:
    """``decode_json``'s value, and whether it cleared the screen whole at MAX_DEPTH."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse("body", "the body is not UTF-8 (RFC 8259 §8.1)") from exc
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise _refuse("body", f"malformed JSON: {exc.msg} at {exc.pos}") from exc
    except (ValueError, RecursionError) as exc:
        # An integer of thousands of digits, or nesting past the parser's own limit.
        raise _refuse("body", "JSON too deep or a number too long") from exc
    cleared = json_text_clears(raw)
    if not cleared:
        problem = find_problem(value, BODY_DEPTH)
        if problem is not None:
            raise _refuse(problem.field or "body", problem.message)
    return value, cleared


# Set while a route handles a JSON body that ``json_text_clears`` passed whole at
# MAX_DEPTH: every free-form field inside it is then storable too, and the schemas'
# validators (``schemas.common``) need not walk it a second time.
BODY_CLEARED: ContextVar[bool] = ContextVar("body_cleared", default=False)


def check_text(request: Request) -> None:
    """Path and query values and header values: no text either database refuses."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and (message := text_problem(value)):
            raise _refuse(name, message)
    for name, value in request.query_params.multi_items():
        message = text_problem(name) or text_problem(value)
        if message:
            raise _refuse(name, message)
    for raw_name, raw_value in request.headers.raw:
        if b"\x00" in raw_value:
            raise _refuse(raw_name.decode("latin-1"), "NUL character in a header")


def _wants_json(request: Request) -> bool:
    content_type = request.headers.get("content-type")
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media in _JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


class CheckedRequest(Request):
    """A request whose ``json()`` is ``decode_json``'s, decoded once."""

    _checked: tuple[Any, bool]

    async def json(self) -> Any:
        if not hasattr(self, "_checked"):
            self._checked = _decode(await self.body())
        return self._checked[0]

    async def cleared(self) -> bool:
        """Whether the body (decoded, nothing refused) cleared the screen at MAX_DEPTH."""
        await self.json()
        return self._checked[1]


class CheckedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_json = self.body_field is not None and not _is_form(self)

        async def checked(request: Request) -> Response:
            check_text(request)
            request = CheckedRequest(request.scope, request.receive)
            if takes_json and _wants_json(request) and await request.body():
                # Decoded here, not inside FastAPI, so a refusal keeps its field details.
                await request.json()
                token = BODY_CLEARED.set(await request.cleared())
                try:
                    return await handler(request)
                finally:
                    BODY_CLEARED.reset(token)
            return await handler(request)

        return checked


def _is_form(route: APIRoute) -> bool:
    info = getattr(route.body_field, "field_info", None)
    return isinstance(info, params.Form)
