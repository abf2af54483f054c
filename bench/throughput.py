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


async def bare_loop(url: str, node_id: str, secret: str, batch: int, total: int) -> list[float]:
    """Claim a batch, finish it in the next claim; returns claim→finish latencies."""
    latencies: list[float] = []
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
            claimed_at = now
            finishes = [
                {"task_id": t["task_id"], "version": t["version"], "status": "completed"}
                for t in body["tasks"]
            ]
            if not finishes:
                idle += 1
                if idle >= 2:
                    return latencies
            else:
                idle = 0


def worker_process(
    url: str, node_id: str, secret: str, batch: int, total: int, out: mp.Queue
) -> None:  # type: ignore[type-arg]
    out.put(asyncio.run(bare_loop(url, node_id, secret, batch, total)))


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
                started = time.perf_counter()
                for proc in procs:
                    proc.start()
                latencies: list[float] = []
                for _ in procs:
                    latencies.extend(queue.get())
                # Workers stop after two empty long-polls (0.5 s each); that idle
                # tail is not drain time.
                drain_seconds = time.perf_counter() - started - 1.0
                for proc in procs:
                    proc.join()
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--submit-batch", type=int, default=500)
    parser.add_argument("--claim-batch", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
