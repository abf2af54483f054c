"""Live events: many SSE subscribers on two replicas while tasks report progress.

Starts two ``conveyor serve`` processes on one fresh PostgreSQL database, opens
``--subscribers`` SSE streams spread over ``--tasks`` running tasks and over both
replicas (from ``--client-procs`` client processes, so the clients are not the
bottleneck), then posts progress at a steady ``--rate`` for ``--seconds``, each
event carrying its send time. Prints delivery latency p50/p99 (send → received by
a subscriber), events delivered per second, and the servers' RSS. Then, once the
servers have closed every stream, measures how fast an idle long-polling worker
gets a new task (claim parked on replica A, task created on replica B), p50/p99,
two ways: from the task's ``created_at`` (stamped by replica B as it enqueues) to
the claim's answer reaching the worker, and from the moment the submitter sends
its request, which adds the submit request's own handling.

    .venv/bin/python bench/events.py --subscribers 1000 --tasks 50 --rate 50 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from httpx_sse import aconnect_sse

sys.path.insert(0, str(Path(__file__).parent))
from common import ADMIN, bearer, fresh_database, percentile, running_servers, server_env

TASK_TYPE = "bench-sse"


async def setup(url: str, tasks: int) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """A user, a node holding ``tasks`` running tasks; returns (user, node, task ids)."""
    async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=60) as client:
        admin = await bearer(client, "/auth/login", {"username": ADMIN[0], "password": ADMIN[1]})
        creds = {"username": "sse-user", "password": "sse-password"}
        await client.post("/auth/register", json=creds)
        user = await bearer(client, "/auth/login", creds)
        r = await client.post(
            "/nodes",
            json={"name": "sse", "node_id": "sse", "max_concurrency": 100000},
            headers=admin,
        )
        r.raise_for_status()
        node = await bearer(
            client,
            "/auth/node/login",
            {"node_id": "sse", "node_secret": r.json()["node_secret"]},
        )
        r = await client.post(
            "/tasks", json={"tasks": [{"task_type": TASK_TYPE}] * tasks}, headers=user
        )
        r.raise_for_status()
        r = await client.post(
            "/worker/claim",
            json={"task_types": [TASK_TYPE], "max_tasks": tasks, "lease_seconds": 3600},
            headers=node,
        )
        r.raise_for_status()
        ids = [t["task_id"] for t in r.json()["tasks"]]
        assert len(ids) == tasks, "could not claim every task"
        return user, node, ids


async def subscribe_many(
    streams: list[tuple[str, str]], user: dict[str, str], ready: Any, stop: Any
) -> dict[str, Any]:
    """Hold every stream open until ``stop``; returns latencies in seconds."""
    latencies: list[float] = []
    opened = 0
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60, read=None), limits=limits) as http:

        async def one(url: str) -> None:
            nonlocal opened
            async with aconnect_sse(http, "GET", url, headers=dict(user)) as source:
                source.response.raise_for_status()
                opened += 1
                async for event in source.aiter_sse():
                    if event.event == "progress":
                        sent = json.loads(event.data)["data"]["t"]
                        latencies.append(time.time() - sent)

        tasks = [
            asyncio.create_task(one(f"{base}/api/v1/tasks/{tid}/events")) for base, tid in streams
        ]
        while opened < len(streams):
            failed = [t for t in tasks if t.done()]
            if failed:
                failed[0].result()
            await asyncio.sleep(0.05)
        ready.set()
        # A process-shared event: wait for it off the loop so streams keep reading.
        await asyncio.to_thread(stop.wait)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"latencies": latencies}


def client_process(
    streams: list[tuple[str, str]], user: dict[str, str], ready: Any, stop: Any, out: Any
) -> None:
    out.put(asyncio.run(subscribe_many(streams, user, ready, stop)))


async def report_progress(
    urls: list[str], node: dict[str, str], ids: list[str], rate: float, seconds: float
) -> int:
    """Post progress at a steady rate, round-robin over tasks and replicas."""
    sent = 0
    interval = 1.0 / rate
    limits = httpx.Limits(max_connections=64)
    # No pool timeout: when the servers fall behind, posts queue here and the
    # latency figures show it, instead of the run failing.
    timeout = httpx.Timeout(60, pool=None)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:
        pending: set[asyncio.Task[httpx.Response]] = set()
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            target = started + sent * interval
            if target > time.perf_counter():
                await asyncio.sleep(target - time.perf_counter())
            url = f"{urls[sent % len(urls)]}/api/v1/tasks/{ids[sent % len(ids)]}/progress"
            body = {"data": {"t": time.time(), "n": sent}}
            task = asyncio.create_task(http.post(url, json=body, headers=node))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        for response in await asyncio.gather(*pending):
            response.raise_for_status()
    return sent


def server_rss_mib() -> list[float]:
    procs = [
        p
        for p in psutil.Process().children(recursive=True)
        if "serve" in " ".join(p.cmdline()) and "conveyor" in " ".join(p.cmdline())
    ]
    return [round(p.memory_info().rss / 2**20, 1) for p in procs]


async def metric(http: httpx.AsyncClient, url: str, name: str) -> float:
    text = (await http.get(url + "/metrics")).text
    return float(next(ln for ln in text.splitlines() if ln.startswith(name + " ")).split()[1])


async def wait_metric(
    http: httpx.AsyncClient, url: str, name: str, value: float, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while await metric(http, url, name) != value:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url}: {name} never reached {value}")
        await asyncio.sleep(0.01)


async def streams_closed(urls: list[str]) -> None:
    """Wait until no replica still holds an event stream open."""
    async with httpx.AsyncClient(timeout=10) as http:
        for url in urls:
            await wait_metric(http, url, "conveyor_sse_subscribers", 0)


async def claim_latency(urls: list[str], rounds: int) -> tuple[list[float], list[float]]:
    """An idle worker long-polls on replica A; each task is created on replica B.

    Returns (enqueued → claimed, submit sent → claimed), in seconds.
    """
    a, b = urls[0], urls[-1]
    async with httpx.AsyncClient(timeout=60) as http:
        admin = await bearer(
            http, a + "/api/v1/auth/login", {"username": ADMIN[0], "password": ADMIN[1]}
        )
        user = await bearer(
            http, a + "/api/v1/auth/login", {"username": "sse-user", "password": "sse-password"}
        )
        r = await http.post(
            a + "/api/v1/nodes",
            json={"name": "poller", "node_id": "poller", "task_types": ["lp"]},
            headers=admin,
        )
        r.raise_for_status()
        node = await bearer(
            http,
            a + "/api/v1/auth/node/login",
            {"node_id": "poller", "node_secret": r.json()["node_secret"]},
        )
        from_enqueue: list[float] = []
        from_submit: list[float] = []
        finishes: list[dict[str, Any]] = []
        for _ in range(rounds):
            body = {"task_types": ["lp"], "wait_seconds": 10, "finishes": finishes}
            claim = asyncio.create_task(
                http.post(a + "/api/v1/worker/claim", json=body, headers=node)
            )
            # Parked (the gauge proves it), then idle for a moment: the scenario is a
            # worker that has been waiting, not one that has just asked.
            await wait_metric(http, a, "conveyor_claims_waiting", 1)
            await asyncio.sleep(0.2)
            created = time.perf_counter()
            r = await http.post(b + "/api/v1/tasks", json={"task_type": "lp"}, headers=user)
            r.raise_for_status()
            got = await claim
            from_submit.append(time.perf_counter() - created)
            received = time.time()
            got.raise_for_status()
            tasks = got.json()["tasks"]
            assert len(tasks) == 1, got.text
            enqueued = datetime.fromisoformat(tasks[0]["created_at"]).timestamp()
            from_enqueue.append(received - enqueued)
            finishes = [
                {
                    "task_id": tasks[0]["task_id"],
                    "version": tasks[0]["version"],
                    "status": "completed",
                }
            ]
        return from_enqueue, from_submit


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with fresh_database("postgres") as database_url:
        with tempfile.TemporaryDirectory() as data_dir:
            env = server_env(database_url, data_dir)
            async with running_servers(env, 2) as urls:
                user, node, ids = await setup(urls[0], args.tasks)
                idle_rss = server_rss_mib()
                streams = [(urls[i % 2], ids[i % len(ids)]) for i in range(args.subscribers)]
                ctx = mp.get_context("spawn")
                ready = [ctx.Event() for _ in range(args.client_procs)]
                stop = ctx.Event()
                out = ctx.Queue()
                procs = [
                    ctx.Process(
                        target=client_process,
                        args=(streams[i :: args.client_procs], user, ready[i], stop, out),
                    )
                    for i in range(args.client_procs)
                ]
                for proc in procs:
                    proc.start()
                for event in ready:
                    if not await asyncio.to_thread(event.wait, 300):
                        raise TimeoutError("subscribers did not connect")
                connected_rss = server_rss_mib()
                sent = await report_progress(urls, node, ids, args.rate, args.seconds)
                await asyncio.sleep(2)  # let the last events arrive
                busy_rss = server_rss_mib()
                stop.set()
                latencies: list[float] = []
                for _ in procs:
                    latencies.extend(out.get()["latencies"])
                for proc in procs:
                    proc.join()
                await streams_closed(urls)
                claim, claim_from_submit = await claim_latency(urls, args.claim_rounds)
    expected = sent * args.subscribers / args.tasks
    return {
        "subscribers": args.subscribers,
        "tasks": args.tasks,
        "replicas": 2,
        "progress_posted": sent,
        "progress_per_s": round(sent / args.seconds, 1),
        "events_delivered": len(latencies),
        "events_expected": round(expected),
        "delivered_events_per_s": round(len(latencies) / args.seconds),
        "delivery_p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "delivery_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "server_rss_mib_idle": idle_rss,
        "server_rss_mib_connected": connected_rss,
        "server_rss_mib_after_load": busy_rss,
        "enqueue_to_claim_p50_ms": round(percentile(claim, 50) * 1000, 1),
        "enqueue_to_claim_p99_ms": round(percentile(claim, 99) * 1000, 1),
        "submit_to_claim_p50_ms": round(percentile(claim_from_submit, 50) * 1000, 1),
        "submit_to_claim_p99_ms": round(percentile(claim_from_submit, 99) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200, help="progress events posted per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--claim-rounds", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
