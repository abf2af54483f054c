"""The no-op handler the throughput benchmark's real workers run."""

from __future__ import annotations

from typing import Any

from conveyor.worker import TaskContext, Worker

worker = Worker()


@worker.task("noop")
async def noop(params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return {}
