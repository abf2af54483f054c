"""One task at a time, as every peer is used: the peer harness's workload against
Conveyor alone (`/work/shared/peer-bench/peer_conveyor.py`, its rules kept).

One `conveyor serve` process on a fresh database, two pull nodes, one producer
submitting one task per `AsyncClient.submit` call (the SDK adds an
Idempotency-Key to each), two `conveyor worker --concurrency 1` processes, every
other setting Conveyor's default. The task body is the harness's
(`bench/single_handlers.py`): noop, or a blocking 10 ms sleep, then one Redis
round trip recording its completion.

For each of noop and 10 ms: enqueue N with no worker running (enqueue/s), then
start the workers and time the drain from the first completion seen to the last.
Then a latency run: both workers warm and idle, tasks submitted every 10 ms, each
recording its start minus the moment before its submit call.

CPU per task is utime+stime from /proc: the server process; PostgreSQL's backends
connected to the benchmark's database (sampled at the start and end of a phase, so
a backend that exited meanwhile is missed); the worker processes; and the producer
(this process's own CPU while it submits, which is the SDK's). It is far less
sensitive to a busy machine than the rates are.

    .venv/bin/python bench/single.py --db postgres
    .venv/bin/python bench/single.py --db sqlite --tasks 2000 --sleep-tasks 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    ADMIN,
    PG_ADMIN_DSN,
    free_port,
    fresh_database,
    percentile,
    server_env,
    stop_processes,
    wait_ready,
)

from conveyor.client import AsyncClient

HERE = Path(__file__).resolve().parent
TICK = os.sysconf("SC_CLK_TCK")
REDIS_URL = os.environ.get("BENCH_SINGLE_REDIS", "redis://127.0.0.1:6379/0")
USER = ("bench-user", "bench-user-password")
NODES = ("bench-0", "bench-1")


def proc_cpu(pid: int) -> float:
    """utime+stime (with reaped children) of a process, in seconds; 0 once gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / TICK


@dataclass
class Cpu:
    server: float
    postgres: dict[int, float] = field(default_factory=dict)

    def minus(self, earlier: Cpu) -> tuple[float, float]:
        pg = sum(v - earlier.postgres.get(pid, 0.0) for pid, v in self.postgres.items())
        return self.server - earlier.server, pg


class Bench:
    def __init__(self, args: argparse.Namespace, database_url: str) -> None:
        self.args = args
        self.database_url = database_url
        self.prefix = f"bench-single:{uuid.uuid4().hex[:8]}"
        self.redis = aioredis.Redis.from_url(REDIS_URL)
        self.server: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.secrets: dict[str, str] = {}
        self.pg_db = database_url.rsplit("/", 1)[1] if args.db == "postgres" else None
        self.producer_cpu = 0.0

    # --- processes -------------------------------------------------------------

    async def start_server(self, data_dir: str) -> None:
        env = server_env(self.database_url, data_dir)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        if self.args.server == "granian":
            cmd = [sys.executable, str(HERE / "granian_serve.py"), "--port", str(port)]
        else:
            cmd = [sys.executable, "-m", "conveyor.cli.main", "serve", "--port", str(port)]
        if self.args.server_args:
            cmd += self.args.server_args.split()
        self.server = subprocess.Popen(cmd, env=env, cwd=data_dir)
        await wait_ready(self.url)
        async with AsyncClient(self.url) as anon:
            await anon.register(*USER)
        async with AsyncClient(self.url, username=ADMIN[0], password=ADMIN[1]) as admin:
            for node_id in NODES:
                node = await admin.create_node(node_id, node_id=node_id, task_types=["bench_task"])
                assert node.secret is not None
                self.secrets[node_id] = node.secret

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(20)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(5)

    def start_workers(self) -> list[subprocess.Popen[bytes]]:
        procs = []
        for node_id in NODES:
            env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
            env.update(
                CONVEYOR_SERVER_URL=self.url,
                CONVEYOR_NODE_ID=node_id,
                CONVEYOR_NODE_SECRET=self.secrets[node_id],
                CONVEYOR_LOG_LEVEL="WARNING",
                BENCH_SINGLE_PREFIX=self.prefix,
                BENCH_SINGLE_REDIS=REDIS_URL,
                PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
            )
            cmd = [sys.executable, "-m", "conveyor.cli.main", "worker", "single_handlers"]
            cmd += ["--concurrency", "1", *self.args.worker_args.split()]
            procs.append(subprocess.Popen(cmd, env=env, cwd=str(HERE)))
        return procs

    @staticmethod
    def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
        stop_processes(procs)

    async def cpu(self) -> Cpu:
        assert self.server is not None
        # The whole tree: granian serves from a child process.
        tree = [self.server.pid, *(c.pid for c in psutil.Process(self.server.pid).children(True))]
        snapshot = Cpu(sum(proc_cpu(pid) for pid in tree))
        if self.pg_db:
            conn = await asyncpg.connect(PG_ADMIN_DSN)
            try:
                rows = await conn.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.pg_db
                )
            finally:
                await conn.close()
            snapshot.postgres = {r["pid"]: proc_cpu(r["pid"]) for r in rows}
        return snapshot

    # --- the workload ----------------------------------------------------------

    async def reset(self) -> None:
        keys = [f"{self.prefix}:{k}" for k in ("done", "lat", "warm", "pids")]
        await self.redis.delete(*keys)

    async def count(self, key: str = "done") -> int:
        value = await self.redis.get(f"{self.prefix}:{key}")
        return int(value) if value else 0

    async def produce(self, kind: str, n: int, spacing: float = 0, stamp: bool = False) -> float:
        """Submit ``n`` tasks one call each; returns the seconds it took. The SDK's
        CPU for them (this process's, the producer's) is kept in ``producer_cpu``."""
        async with AsyncClient(self.url, username=USER[0], password=USER[1]) as client:
            await client.login()
            cpu = time.process_time()
            started = time.time()
            for seq in range(n):
                if spacing:
                    delay = started + seq * spacing - time.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                enq_ts = time.time() if stamp else 0.0
                await client.submit("bench_task", {"kind": kind, "seq": seq, "enq_ts": enq_ts})
            self.producer_cpu = time.process_time() - cpu
            return time.time() - started

    async def wait_done(self, target: int, timeout: float) -> tuple[float, int, float, int]:
        """Poll the completion counter; (first seen, count then, last seen, final count)."""
        deadline = time.monotonic() + timeout
        first_t, first_c = 0.0, 0
        while True:
            done = await self.count()
            now = time.time()
            if done and not first_t:
                first_t, first_c = now, done
            if done >= target or time.monotonic() > deadline:
                return first_t, first_c, now, done
            await asyncio.sleep(0.005)

    async def drain(self, kind: str, n: int) -> dict[str, Any]:
        await self.reset()
        c0 = await self.cpu()
        enqueue_s = await self.produce(kind, n)
        c1 = await self.cpu()
        procs = self.start_workers()
        try:
            deadline = time.monotonic() + 60
            while not await self.count() and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            c2 = await self.cpu()
            w2 = sum(proc_cpu(p.pid) for p in procs)
            first_t, first_c, last_t, final = await self.wait_done(n, self.args.drain_timeout)
            first_t = first_t or time.time()
            c3 = await self.cpu()
            w3 = sum(proc_cpu(p.pid) for p in procs)
        finally:
            self.stop_workers(procs)
        enq_server, enq_pg = c1.minus(c0)
        run_server, run_pg = c3.minus(c2)
        drained = max(final - first_c, 1)
        return {
            "task": kind,
            "n": n,
            "completed": final,
            "enqueue_per_s": round(n / enqueue_s, 1),
            "drain_per_s": round(drained / max(last_t - first_t, 1e-9), 1),
            "enqueue_server_cpu_ms": round(enq_server / n * 1000, 3),
            "enqueue_pg_cpu_ms": round(enq_pg / n * 1000, 3),
            "enqueue_producer_cpu_ms": round(self.producer_cpu / n * 1000, 3),
            "drain_server_cpu_ms": round(run_server / drained * 1000, 3),
            "drain_pg_cpu_ms": round(run_pg / drained * 1000, 3),
            "drain_worker_cpu_ms": round((w3 - w2) / drained * 1000, 3),
        }

    async def latency(self, kind: str, n: int) -> dict[str, Any]:
        await self.reset()
        procs = self.start_workers()
        try:
            deadline = time.monotonic() + 60
            sent = 0
            while time.monotonic() < deadline:
                await self.produce("warm", 4)
                sent += 4
                await asyncio.sleep(0.2)
                if await self.redis.scard(f"{self.prefix}:pids") >= len(NODES):
                    break
            while await self.count("warm") < sent and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.5)
            await self.produce(kind, n, spacing=0.010, stamp=True)
            await self.wait_done(n, 30)
            raw = await self.redis.lrange(f"{self.prefix}:lat", 0, -1)
        finally:
            self.stop_workers(procs)
        lat = [float(x) * 1000 for x in raw]
        return {
            "task": kind,
            "n": n,
            "samples": len(lat),
            "p50_ms": round(percentile(lat, 50), 1),
            "p99_ms": round(percentile(lat, 99), 1),
        }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with fresh_database(args.db) as database_url:
        with tempfile.TemporaryDirectory() as data_dir:
            bench = Bench(args, database_url)
            try:
                await bench.start_server(data_dir)
                out: dict[str, Any] = {"db": args.db, "loadavg": _loadavg()}
                out["noop"] = await bench.drain("noop", args.tasks)
                if args.sleep_tasks:
                    out["sleep"] = await bench.drain("sleep", args.sleep_tasks)
                if args.latency_tasks:
                    out["latency"] = await bench.latency("noop", args.latency_tasks)
                out["loadavg_end"] = _loadavg()
                return out
            finally:
                bench.stop_server()
                await bench.reset()
                await bench.redis.aclose()


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def summary(out: dict[str, Any]) -> str:
    noop, lat = out["noop"], out.get("latency", {})
    sleep = out.get("sleep", {})
    server = noop["enqueue_server_cpu_ms"] + noop["drain_server_cpu_ms"]
    pg = noop["enqueue_pg_cpu_ms"] + noop["drain_pg_cpu_ms"]
    return (
        f"| {out['db']} | {noop['enqueue_per_s']:,.0f} | {noop['drain_per_s']:,.0f} | "
        f"{sleep.get('drain_per_s', float('nan')):,.0f} | "
        f"{lat.get('p50_ms', float('nan'))} / {lat.get('p99_ms', float('nan'))} | "
        f"{server:.2f} + {pg:.2f} | {noop['drain_worker_cpu_ms']:.2f} | "
        f"{noop['enqueue_producer_cpu_ms']:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--tasks", type=int, default=2000, help="noop tasks drained")
    parser.add_argument("--sleep-tasks", type=int, default=1000, help="10 ms tasks drained")
    parser.add_argument("--latency-tasks", type=int, default=300, help="tasks every 10 ms")
    parser.add_argument("--drain-timeout", type=float, default=120)
    parser.add_argument("--worker-args", default="", help="extra `conveyor worker` arguments")
    parser.add_argument("--server-args", default="", help="extra `conveyor serve` arguments")
    parser.add_argument(
        "--server",
        choices=["uvicorn", "granian"],
        default="uvicorn",
        help="the HTTP server (granian: bench/granian_serve.py, needs granian installed)",
    )
    args = parser.parse_args()
    out = asyncio.run(run(args))
    print(json.dumps(out, indent=2))
    print(
        "| db | enqueue/s | drain noop/s | drain 10 ms/s | latency p50 / p99 ms "
        "| server + PostgreSQL CPU ms/task | worker CPU ms/task | producer CPU ms/submit |"
    )
    print(summary(out))


if __name__ == "__main__":
    main()
