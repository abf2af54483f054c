"""How a handler's exception becomes the ``error`` of a failed task."""

from __future__ import annotations

from typing import Any

from conveyor.worker.context import HandlerError

MAX_MESSAGE = 2000


def describe_failure(exc: BaseException, default_retryable: bool) -> tuple[dict[str, Any], bool]:
    if isinstance(exc, HandlerError):
        code, retryable = exc.code, exc.retryable
    else:
        code, retryable = "handler_exception", default_retryable
    error = {"code": code, "type": type(exc).__name__, "message": str(exc)[:MAX_MESSAGE]}
    return error, retryable
