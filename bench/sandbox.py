"""Sandbox start-up cost per chunk and chunks/s, against the same work in-process.

    .venv/bin/python bench/sandbox.py --chunks 200 --concurrency 2

For each mode (bwrap, rlimit) and runtime (python, node) a trivial bundle doubles
100 numbers per chunk: first ``--chunks`` chunks one after another (the latency of
one chunk, p50/p99: process start, runtime start, the work, the answer), then as
many again ``--concurrency`` at a time (chunks/s). The built-in line runs the same
function as an async handler in this process. No server: this is the sandbox alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from conveyor.worker.sandbox import Chunk, Sandbox, SandboxConfig

PYTHON = b"def process(items):\n    return [item * 2 for item in items]\n"
NODE = b"exports.process = (items) => items.map((item) => item * 2);\n"


def double(items: list[int]) -> list[int]:
    return [item * 2 for item in items]


async def builtin(items: list[int]) -> list[int]:
    return double(items)


async def measure(
    run: Callable[[], Awaitable[Any]], chunks: int, concurrency: int
) -> tuple[float, float, float]:
    await run()  # warm: the first chunk pays for cold caches
    latencies = []
    for _ in range(chunks):
        started = time.perf_counter()
        await run()
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await run()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(chunks)))
    return p50, p99, chunks / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--modes", default="bwrap,rlimit")
    parser.add_argument("--runtimes", default="python,node")
    args = parser.parse_args()
    items = list(range(args.items))
    print(f"| mode | runtime | p50 ms | p99 ms | chunks/s ({args.concurrency} at a time) |")
    print("|---|---|---|---|---|")
    p50, p99, rate = await measure(lambda: builtin(items), args.chunks, args.concurrency)
    print(f"| built-in, in-process | python | {p50 * 1e3:.3f} | {p99 * 1e3:.3f} | {rate:,.0f} |")
    for mode in args.modes.split(","):
        box = await Sandbox.open(SandboxConfig(mode=mode))  # type: ignore[arg-type]
        try:
            for runtime in args.runtimes.split(","):
                source, name = (PYTHON, "main.py") if runtime == "python" else (NODE, "main.js")
                chunk = Chunk(runtime, box.bundles.add(runtime, name, source), None, items)
                assert await box.run(chunk) == double(items)
                p50, p99, rate = await measure(
                    lambda c=chunk, b=box: b.run(c), args.chunks, args.concurrency
                )
                print(f"| {mode} | {runtime} | {p50 * 1e3:.1f} | {p99 * 1e3:.1f} | {rate:,.1f} |")
        finally:
            box.close()


if __name__ == "__main__":
    asyncio.run(main())
