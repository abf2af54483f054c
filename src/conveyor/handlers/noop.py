"""``noop``: does nothing, and answers a job chunk's items back as its results.

The cheapest possible work, so that a run through it measures the service itself
(claims, finishes, chunk payments); ``bench/jobs.py`` uses it.
"""

from __future__ import annotations

from typing import Any

from conveyor.handlers.base import Handler
from conveyor.worker.context import TaskContext


def make_noop(_: object = None) -> Handler:
    async def noop(params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        items = params.get("items")
        return {"results": items} if isinstance(items, list) else {}

    return noop
