"""The OpenAPI document states what ``CheckedRoute`` refuses on every route.

The models and parameters state their own rules (patterns, lengths, bounds). What
``api.input`` checks for every request, whatever the route, is stated here once,
on every request schema (bodies, path, query and header parameters):

- a string has no NUL (``NO_NUL``), unless its own pattern or format says more;
- an integer or a number lies within the signed 64-bit range;
- an object's keys have no NUL;
- free-form JSON (``params``, ``result``, ``load``, …) is ``JsonValue``: the above,
  all the way down.

Lone UTF-16 surrogates are refused too, but JSON Schema cannot say so (its strings
are sequences of code points); neither can it say ``MAX_DEPTH``, so the description
does. Response schemas are left as the models have them.

Every operation also lists the refusals every route can give: ``400`` (the error
handler answers FastAPI's validation errors with 400, never 422), and for routes
taking a body ``408`` (it stalled) and ``413`` (too large).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from conveyor.api.errors import error_responses
from conveyor.api.schemas.common import NO_NUL
from conveyor.domain.validation import INT64_MAX, INT64_MIN, MAX_DEPTH

JSON_VALUE = "JsonValue"
_JSON_REF = f"#/components/schemas/{JSON_VALUE}"
_COMPONENT_PREFIX = "#/components/schemas/"
# Keys that make a schema more than "any JSON at all".
_SHAPING = {"type", "$ref", "anyOf", "oneOf", "allOf", "not", "enum", "const"}
_TEXT_FORMATS_OF_THEIR_OWN = {"binary", "date-time", "date", "time", "uuid"}

JSON_VALUE_SCHEMA: dict[str, Any] = {
    "description": (
        "Any JSON value both databases can store: no NUL in a string or a key, numbers "
        f"within the signed 64-bit range, at most {MAX_DEPTH} levels of nesting, and no "
        "lone UTF-16 surrogate (escaped or not) anywhere."
    ),
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "number", "minimum": INT64_MIN, "maximum": INT64_MAX},
        {"type": "string", "pattern": NO_NUL},
        {"type": "array", "items": {"$ref": _JSON_REF}},
        {
            "type": "object",
            "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": {"$ref": _JSON_REF},
        },
    ],
}


def install_openapi(app: FastAPI) -> None:
    """Serve the document with the request-wide rules stated (built once, then kept)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = state_request_rules(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def state_request_rules(document: dict[str, Any]) -> dict[str, Any]:
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components[JSON_VALUE] = JSON_VALUE_SCHEMA
    done: set[str] = {JSON_VALUE}
    for operation in _operations(document):
        for schema in _request_schemas(operation):
            _state(schema, components, done)
        _state_refusals(operation)
    return document


def _operations(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                yield operation


def _request_schemas(operation: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for parameter in operation.get("parameters", []):
        if "schema" in parameter:
            yield parameter["schema"]
    # Forms are not decoded as JSON: their fields say their own rules.
    for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
        if media_type == "application/json" and "schema" in media:
            yield media["schema"]


def _state_refusals(operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    responses.pop("422", None)
    statuses = [400, 408, 413] if "requestBody" in operation else [400]
    for status, entry in error_responses(*statuses).items():
        responses.setdefault(str(status), entry)


def _state(schema: Any, components: dict[str, Any], done: set[str]) -> None:
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_COMPONENT_PREFIX):
        name = ref.removeprefix(_COMPONENT_PREFIX)
        if name not in done:
            done.add(name)
            _state(components.get(name), components, done)
        return
    if not _SHAPING & schema.keys():
        schema["$ref"] = _JSON_REF
        return
    _state_scalar(schema)
    if schema.get("type") == "object":
        _state_object(schema)
    for key in ("items", "additionalProperties", "propertyNames", "not"):
        _state(schema.get(key), components, done)
    for key in ("properties", "patternProperties"):
        for child in schema.get(key, {}).values():
            _state(child, components, done)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for child in schema.get(key, []):
            _state(child, components, done)


def _state_scalar(schema: dict[str, Any]) -> None:
    kind = schema.get("type")
    if "enum" in schema or "const" in schema:
        return
    if kind == "string":
        if "pattern" not in schema and schema.get("format") not in _TEXT_FORMATS_OF_THEIR_OWN:
            schema["pattern"] = NO_NUL
    elif kind in ("integer", "number"):
        schema.setdefault("minimum", INT64_MIN)
        schema.setdefault("maximum", INT64_MAX)


def _state_object(schema: dict[str, Any]) -> None:
    # Keys a model does not name (or ignores) still go through ``api.input``'s check.
    if schema.get("additionalProperties", True) is True:
        schema["additionalProperties"] = {"$ref": _JSON_REF}
    names = schema.setdefault("propertyNames", {})
    if isinstance(names, dict) and "pattern" not in names:
        names["pattern"] = NO_NUL
