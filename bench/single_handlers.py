"""The task `bench/single.py`'s workers run: the peer harness's task body.

It records when it started, sleeps 10 ms (blocking, as in every peer) for
``kind == "sleep"``, then makes one Redis round trip recording its completion
(and, for stamped tasks, its start minus its submit time).
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis

from conveyor.worker import TaskContext, Worker

PREFIX = os.environ.get("BENCH_SINGLE_PREFIX", "bench-single")
_redis = redis.Redis.from_url(os.environ.get("BENCH_SINGLE_REDIS", "redis://127.0.0.1:6379/0"))

worker = Worker()


@worker.task("bench_task")
async def bench_task(params: dict[str, Any], ctx: TaskContext) -> None:
    started = time.time()
    if params["kind"] == "sleep":
        time.sleep(0.010)  # noqa: ASYNC251 - blocking on purpose, as in every peer
    pipe = _redis.pipeline(transaction=False)
    if params["kind"] == "warm":
        pipe.sadd(f"{PREFIX}:pids", os.getpid())
        pipe.incr(f"{PREFIX}:warm")
    else:
        if params["enq_ts"]:
            pipe.rpush(f"{PREFIX}:lat", f"{started - params['enq_ts']:.6f}")
        pipe.incr(f"{PREFIX}:done")
    pipe.execute()
