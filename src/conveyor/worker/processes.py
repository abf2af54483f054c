"""Running sync handlers in worker processes, with progress and cancellation still working.

A handler in another process cannot touch our event loop, so its context talks
through a manager: progress goes into a queue a thread here forwards to the
server, and cancellation is a shared event the handler can poll.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ProcessPoolExecutor
from typing import Any

ProgressForward = Callable[[str, dict[str, Any]], Coroutine[Any, Any, None]]


class ProcessTaskContext:
    """The picklable twin of ``TaskContext`` handed to a handler in a child process."""

    def __init__(
        self,
        task_id: str,
        task_type: str,
        attempt: int,
        metadata: dict[str, Any],
        progress_queue: Any,
        cancel_event: Any,
    ) -> None:
        self.task_id = task_id
        self.task_type = task_type
        self.attempt = attempt
        self.metadata = metadata
        self._queue = progress_queue
        self._cancel = cancel_event

    @property
    def cancelled(self) -> bool:
        return bool(self._cancel.is_set())

    def report_progress(self, data: dict[str, Any]) -> None:
        self._queue.put((self.task_id, data))


class ProcessPool:
    def __init__(self, workers: int, loop: asyncio.AbstractEventLoop, forward: ProgressForward):
        ctx = multiprocessing.get_context("spawn")
        self._manager = ctx.Manager()
        self._queue = self._manager.Queue()
        self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        self._loop = loop
        self._forward = forward
        self._events: dict[str, Any] = {}
        self._stop = threading.Event()
        self._pump = threading.Thread(target=self._pump_progress, daemon=True)
        self._pump.start()

    def _pump_progress(self) -> None:
        while not self._stop.is_set():
            try:
                task_id, data = self._queue.get(timeout=0.2)
            except (queue.Empty, EOFError, OSError):
                continue
            future: Any = asyncio.run_coroutine_threadsafe(self._forward(task_id, data), self._loop)
            future.add_done_callback(lambda f: f.exception())

    def context(
        self, task_id: str, task_type: str, attempt: int, metadata: dict[str, Any]
    ) -> ProcessTaskContext:
        event = self._manager.Event()
        self._events[task_id] = event
        return ProcessTaskContext(task_id, task_type, attempt, metadata, self._queue, event)

    def cancel(self, task_id: str) -> None:
        event = self._events.get(task_id)
        if event is not None:
            event.set()

    def forget(self, task_id: str) -> None:
        self._events.pop(task_id, None)

    async def run(self, func: Callable[..., Any], params: dict[str, Any], ctx: Any) -> Any:
        return await self._loop.run_in_executor(self._executor, func, params, ctx)

    def shutdown(self) -> None:
        self._stop.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._pump.join(timeout=2)
        self._manager.shutdown()
