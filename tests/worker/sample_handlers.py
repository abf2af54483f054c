"""Handlers the worker tests run in real worker processes.

Each run appends a line to the file named by ``CONVEYOR_TEST_LOG`` so tests can see
what ran where; ``O_APPEND`` writes of one short line do not interleave.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from conveyor.worker import HandlerError, TaskContext, Worker

worker = Worker()
NODE = os.environ.get("CONVEYOR_NODE_ID", "?")


def record(event: str, task_id: str) -> None:
    path = os.environ.get("CONVEYOR_TEST_LOG")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{event} {task_id} {NODE}\n".encode())
        finally:
            os.close(fd)


@worker.task("echo")
async def echo(params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    record("run", ctx.task_id)
    return {"echo": params, "node": NODE}


@worker.task("slow")
async def slow(params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    record("start", ctx.task_id)
    await ctx.progress({"percent": 0})
    await asyncio.sleep(float(params.get("seconds", 1.0)))
    record("end", ctx.task_id)
    return {"node": NODE}


@worker.task("sync_slow")
def sync_slow(params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    record("start", ctx.task_id)
    ctx.report_progress({"percent": 50})
    time.sleep(float(params.get("seconds", 0.2)))
    record("end", ctx.task_id)
    return {"node": NODE, "pid": os.getpid()}


@worker.task("boom")
async def boom(params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    raise ValueError(f"bad value {params.get('x')}")


@worker.task("refuse")
async def refuse(params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    raise HandlerError("this input can never work", retryable=False, code="invalid_params")
