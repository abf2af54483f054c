"""Task types the demo adds to the built-in handlers, to show progress and retries."""

from __future__ import annotations

import asyncio
from typing import Any

from conveyor.worker.app import Worker
from conveyor.worker.context import HandlerError, TaskContext

worker = Worker()


@worker.task("count")
async def count(params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Count to ``steps``, reporting progress; stands in for any long-running job."""
    steps = int(params.get("steps", 10))
    delay = float(params.get("delay", 0.2))
    for step in range(1, steps + 1):
        if ctx.cancelled:
            raise HandlerError("cancelled", retryable=False, code="cancelled")
        await asyncio.sleep(delay)
        await ctx.progress({"percent": round(100 * step / steps, 1), "message": f"step {step}"})
    return {"counted": steps, "attempt": ctx.attempt}


@worker.task("flaky")
async def flaky(params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Fails its first ``failures`` attempts, then succeeds: shows retries with backoff."""
    failures = int(params.get("failures", 1))
    await ctx.progress({"percent": 50, "message": f"attempt {ctx.attempt}"})
    if ctx.attempt <= failures:
        raise ConnectionError(f"simulated outage on attempt {ctx.attempt}")
    return {"succeeded_on_attempt": ctx.attempt}
