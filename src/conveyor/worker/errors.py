"""How a handler's exception becomes the ``error`` of a failed task.

The error keeps the exception's story: ``type``, ``message`` and ``traceback``,
each bounded so that a failing handler cannot turn every fail call into a
megabyte (documented in docs/worker.md). A traceback is cut from its start: its
end (the innermost frames and the exception line) is what explains the failure.
"""

from __future__ import annotations

import traceback
from typing import Any

from conveyor.worker.context import HandlerError

MAX_MESSAGE = 2000
MAX_TRACEBACK = 8000
CUT = "…(truncated)\n"


def describe_failure(exc: BaseException, default_retryable: bool) -> tuple[dict[str, Any], bool]:
    if isinstance(exc, HandlerError):
        code, retryable = exc.code, exc.retryable
    else:
        code, retryable = "handler_exception", default_retryable
    error = {
        "code": code,
        "type": _qualified_type(exc),
        "message": str(exc)[:MAX_MESSAGE],
        "traceback": _bounded_traceback(exc),
    }
    if isinstance(exc, HandlerError):
        for key, value in exc.extra.items():
            error.setdefault(key, _bounded(value))
    return error, retryable


def _qualified_type(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    return (
        cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"
    )


def _bounded_traceback(exc: BaseException) -> str:
    return _bounded("".join(traceback.format_exception(exc)))


def _bounded(text: str) -> str:
    if len(text) <= MAX_TRACEBACK:
        return text
    return CUT + text[-(MAX_TRACEBACK - len(CUT)) :]
