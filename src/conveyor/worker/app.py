"""``Worker``: the registry of handlers a worker process runs.

worker = Worker()

@worker.task("resize_image")
async def resize(params, ctx):
    await ctx.progress({"percent": 50})
    return {"ok": True}
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Handler = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Registration:
    task_type: str
    func: Handler
    is_async: bool
    retryable: bool


class Worker:
    def __init__(self) -> None:
        self.handlers: dict[str, Registration] = {}

    def task(self, task_type: str, *, retryable: bool = True) -> Callable[[Handler], Handler]:
        """Register ``func(params, ctx)`` for ``task_type``; exceptions it raises fail the
        task and are retried unless ``retryable=False`` (or a HandlerError says so)."""

        def register(func: Handler) -> Handler:
            self.add(task_type, func, retryable=retryable)
            return func

        return register

    def add(self, task_type: str, func: Handler, *, retryable: bool = True) -> None:
        if task_type in self.handlers:
            raise ValueError(f"a handler for {task_type!r} is already registered")
        self.handlers[task_type] = Registration(
            task_type, func, inspect.iscoroutinefunction(func), retryable
        )

    def include(self, handlers: Mapping[str, Handler]) -> None:
        for task_type, func in handlers.items():
            self.add(task_type, func)

    @property
    def task_types(self) -> list[str]:
        return sorted(self.handlers)
