"""What a handler sees of its task: params, metadata, progress, cancellation, artifacts.

Handlers are plain functions ``handler(params, ctx) -> result``; sync or async. The
context is the only door back to the server, so a handler never holds a token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.client.artifacts import AsyncArtifactClient

ProgressSink = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]


class HandlerError(Exception):
    """Raise from a handler to fail its task with a chosen code and retry policy.

    Any other exception also fails the task (retryable), named by its type.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        code: str = "handler_error",
        extra: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.code = code
        # More of the story for the task's error (e.g. a sandboxed child's log tail).
        self.extra = extra or {}


@dataclass
class TaskContext:
    task_id: str
    task_type: str
    attempt: int
    metadata: dict[str, Any]
    artifacts: AsyncArtifactClient | None
    _progress: ProgressSink
    _cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    loop: asyncio.AbstractEventLoop | None = None

    @property
    def cancelled(self) -> bool:
        """True once the server reports the task cancelled: stop early, result is dropped."""
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()

    async def progress(self, data: dict[str, Any]) -> None:
        """Report progress (any JSON object, e.g. ``{"percent": 40}``); watchers see it live."""
        await self._progress(data)

    def report_progress(self, data: dict[str, Any]) -> None:
        """``progress`` for sync handlers running in a worker thread."""
        if self.loop is None:
            raise RuntimeError("report_progress is for sync handlers run by the worker")
        asyncio.run_coroutine_threadsafe(self._progress(data), self.loop).result(timeout=30)
