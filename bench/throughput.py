"""Throughput: submit N no-op tasks in batches over HTTP, drain them with 2 worker
processes using batched claim+finish; print submit and drain tasks/s and the
claim→finish latency.

    .venv/bin/python bench/throughput.py --db postgres --tasks 10000
    .venv/bin/python bench/throughput.py --db sqlite --tasks 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    ADMIN,
    bearer,
    fresh_database,
    percentile,
    running_servers,
    server_env,
)


async def submit_all(url: str, user: dict[str, str], total: int, batch: int) -> float:
    async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=120) as client:
        started = time.perf_counter()
        sem = asyncio.Semaphore(4)

        async def one(start: int) -> None:
            body = {
                "tasks": [
                    {"task_type": "noop", "params": {"i": i}}
                    for i in range(start, min(total, start + batch))
                ]
            }
            async with sem:
                r = await client.post("/tasks", json=body, headers=user)
                r.raise_for_status()

        await asyncio.gather(*[one(s) for s in range(0, total, batch)])
        return time.perf_counter() - started


async def bare_loop(
    url: str, node_id: str, secret: str, batch: int, total: int
) -> tuple[list[float], float]:
    """Claim a batch, finish it in the next claim; returns claim→finish latencies and
    the wall-clock time of the last acknowledged finish."""
    latencies: list[float] = []
    last_finish = time.time()
    async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=120) as client:
        node = await bearer(client, "/auth/node/login", {"node_id": node_id, "node_secret": secret})
        finishes: list[dict[str, object]] = []
        claimed_at = 0.0
        idle = 0
        while True:
            r = await client.post(
                "/worker/claim",
                json={"max_tasks": batch, "finishes": finishes, "wait_seconds": 0.5},
                headers=node,
            )
            r.raise_for_status()
            body = r.json()
            now = time.perf_counter()
            latencies.extend(now - claimed_at for _ in body["finished"])
            if body["finished"]:
                last_finish = time.time()
            claimed_at = now
            finishes = [
                {"task_id": t["task_id"], "version": t["version"], "status": "completed"}
                for t in body["tasks"]
            ]
            if not finishes:
                idle += 1
                if idle >= 2:
                    return latencies, last_finish
            else:
                idle = 0


def worker_process(
    url: str, node_id: str, secret: str, batch: int, total: int, out: mp.Queue
) -> None:  # type: ignore[type-arg]
    out.put(asyncio.run(bare_loop(url, node_id, secret, batch, total)))


async def drain_with_runtime(
    urls: list[str], nodes: list[tuple[str, str]], args: argparse.Namespace
) -> float:
    """The same drain, by the real worker runtime (`conveyor worker`, no-op handler);
    timed from start until the server counts every task completed."""
    async with httpx.AsyncClient(base_url=urls[0] + "/api/v1", timeout=60) as client:
        admin = await bearer(client, "/auth/login", {"username": ADMIN[0], "password": ADMIN[1]})

        async def completed() -> int:
            r = await client.get("/admin/stats", headers=admin)
            return int(r.json()["tasks"]["by_status"]["completed"])

        target = await completed() + args.tasks
        started = time.time()
        procs = []
        for i, (node_id, secret) in enumerate(nodes):
            env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
            env.update(
                CONVEYOR_SERVER_URL=urls[i % len(urls)],
                CONVEYOR_NODE_ID=node_id,
                CONVEYOR_NODE_SECRET=secret,
                CONVEYOR_LOG_LEVEL="WARNING",
                PYTHONPATH=str(Path(__file__).resolve().parent),
            )
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "conveyor.cli.main",
                        "worker",
                        "noop_handlers",
                        "--concurrency",
                        str(args.claim_batch),
                    ],
                    env=env,
                )
            )
        try:
            while await completed() < target:
                await asyncio.sleep(0.02)
            return time.time() - started
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(30)


async def setup(url: str, workers: int) -> tuple[dict[str, str], list[tuple[str, str]]]:
    async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=60) as client:
        admin = await bearer(client, "/auth/login", {"username": ADMIN[0], "password": ADMIN[1]})
        await client.post(
            "/auth/register", json={"username": "bench-user", "password": "bench-password"}
        )
        user = await bearer(
            client, "/auth/login", {"username": "bench-user", "password": "bench-password"}
        )
        nodes = []
        for i in range(workers):
            r = await client.post(
                "/nodes",
                json={"name": f"bench-{i}", "node_id": f"bench-{i}", "max_concurrency": 100000},
                headers=admin,
            )
            r.raise_for_status()
            nodes.append((r.json()["node_id"], r.json()["node_secret"]))
        return user, nodes


async def run(args: argparse.Namespace) -> dict[str, object]:
    async with fresh_database(args.db) as database_url:
        with tempfile.TemporaryDirectory() as data_dir:
            env = server_env(database_url, data_dir)
            async with running_servers(env, args.replicas) as urls:
                user, nodes = await setup(urls[0], args.workers)
                submit_seconds = await submit_all(urls[0], user, args.tasks, args.submit_batch)
                queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
                procs = [
                    mp.Process(
                        target=worker_process,
                        args=(
                            urls[i % len(urls)],
                            node_id,
                            secret,
                            args.claim_batch,
                            args.tasks,
                            queue,
                        ),
                    )
                    for i, (node_id, secret) in enumerate(nodes)
                ]
                started = time.time()
                for proc in procs:
                    proc.start()
                latencies: list[float] = []
                last = started
                for _ in procs:
                    worker_latencies, worker_last = queue.get()
                    latencies.extend(worker_latencies)
                    last = max(last, worker_last)
                drain_seconds = last - started
                for proc in procs:
                    proc.join()
                runtime_seconds = None
                if args.runtime:
                    await submit_all(urls[0], user, args.tasks, args.submit_batch)
                    runtime_seconds = await drain_with_runtime(urls, nodes, args)
    return {
        "database": args.db,
        "tasks": args.tasks,
        "replicas": args.replicas,
        "workers": args.workers,
        "claim_batch": args.claim_batch,
        "completed": len(latencies),
        "submit_tasks_per_s": round(args.tasks / submit_seconds),
        "drain_tasks_per_s": round(len(latencies) / drain_seconds),
        "claim_to_finish_p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "claim_to_finish_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "runtime_drain_tasks_per_s": (
            round(args.tasks / runtime_seconds) if runtime_seconds else None
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--submit-batch", type=int, default=500)
    parser.add_argument("--claim-batch", type=int, default=200)
    parser.add_argument(
        "--runtime",
        action="store_true",
        help="also drain a second batch with real `conveyor worker` processes",
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
