"""Chunked jobs: throughput, the ledger's overhead, and server memory on a 100 MB dataset.

One `conveyor serve` process on a fresh database (the wallet sandbox on), two admin
nodes each run by a `conveyor worker` process with the built-in `noop` handler (it
answers a chunk's items back as its results).

1. job: a 100,000-item dataset (uploaded as JSONL) in chunks of 100 (1,000 chunks,
   1 credit each, so every completion settles a payment in its transaction), drained
   by the two workers: chunks/s and items/s, from the first completion seen to the
   job's end.
2. plain: the same 1,000 chunks' worth of work as plain tasks (each with the same
   100 items in its params), drained the same way: the ledger's (and the chunk
   bookkeeping's) overhead is the difference in rate. 1 and 2 alternate `--rounds`
   times (default 3) and the medians are reported: one pair alone swung from +21 %
   to +54 % between two runs of the same code.
3. memory: a 100 MB JSONL dataset streamed in (upload, then job creation reading it
   chunk by chunk), drained, and its 100 MB of results streamed out; the server's
   RSS is sampled every 50 ms throughout, its peak reported per phase.

    .venv/bin/python bench/jobs.py                 # PostgreSQL
    .venv/bin/python bench/jobs.py --db sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from common import ADMIN, free_port, fresh_database, server_env, stop_processes, wait_ready

USER = ("bench-user", "bench-user-password")
MB = 1024 * 1024


class RssSampler:
    """The server's resident memory, sampled in the background; peak per phase."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            await asyncio.sleep(0.05)

    def now(self) -> int:
        return int(self.proc.memory_info().rss)

    @asynccontextmanager
    async def phase(self) -> AsyncIterator[RssSampler]:
        self.peak = self.now()
        self._task = asyncio.create_task(self._run())
        try:
            yield self
        finally:
            self._task.cancel()


async def _login(http: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await http.post("/auth/login", json={"username": username, "password": password})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _workers(
    base_url: str, nodes: list[tuple[str, str]], tmp: Path
) -> list[subprocess.Popen[bytes]]:
    procs = []
    for node_id, secret in nodes:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
        env.update(
            {
                "CONVEYOR_SERVER_URL": base_url,
                "CONVEYOR_NODE_ID": node_id,
                "CONVEYOR_NODE_SECRET": secret,
                "CONVEYOR_LOG_LEVEL": "WARNING",
            }
        )
        log = (tmp / f"{node_id}.log").open("wb")
        cmd = [sys.executable, "-m", "conveyor.cli.main", "worker"]
        cmd += ["conveyor.handlers:BUILTIN_HANDLERS", "--concurrency", "8"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
    return procs


async def _job_round(
    http: httpx.AsyncClient,
    user: dict[str, str],
    dataset: str,
    chunk: int,
    base: str,
    nodes: list[tuple[str, str]],
    tmp: Path,
    server_pid: int,
    slots: int,
) -> dict[str, Any]:
    """A job over the dataset, 1 credit a chunk, drained by fresh workers."""
    started = time.monotonic()
    job = await _create_job(http, user, dataset, chunk, 1, slots)
    create_seconds = time.monotonic() - started
    cpu = _cpu(server_pid)
    claims = await _claims(base)
    workers = _workers(base, nodes, tmp)
    try:
        seconds = await _drain_job(http, user, job["job_id"])
    finally:
        stop_processes(workers)
    chunks = int(job["chunk_count"])
    return {
        "chunks_per_claim": _per_claim(claims, await _claims(base)),
        "chunks": chunks,
        "create_seconds": round(create_seconds, 2),
        "seconds": round(seconds, 2),
        "chunks_per_s": round(chunks / seconds, 1),
        "server_cpu_ms_per_chunk": round(1000 * cpu() / chunks, 2),
    }


async def _plain_round(
    http: httpx.AsyncClient,
    user: dict[str, str],
    admin: dict[str, str],
    chunk: int,
    total: int,
    base: str,
    nodes: list[tuple[str, str]],
    tmp: Path,
    server_pid: int,
) -> dict[str, Any]:
    """The same work as ``total`` plain tasks (each a chunk's items in its params)."""
    payload = [{"i": i, "pad": ""} for i in range(chunk)]
    for start in range(0, total, 200):
        batch = {
            "tasks": [
                {"task_type": "noop", "params": {"items": payload}}
                for _ in range(min(200, total - start))
            ]
        }
        r = await http.post("/tasks", json=batch, headers=user)
        r.raise_for_status()
    before = await _completed(http, admin)
    cpu = _cpu(server_pid)
    claims = await _claims(base)
    workers = _workers(base, nodes, tmp)
    try:
        seconds = await _drain_plain(http, admin, before, total)
    finally:
        stop_processes(workers)
    return {
        "tasks_per_claim": _per_claim(claims, await _claims(base)),
        "tasks": total,
        "seconds": round(seconds, 2),
        "tasks_per_s": round(total / seconds, 1),
        "server_cpu_ms_per_task": round(1000 * cpu() / total, 2),
    }


async def _claims(base: str) -> tuple[float, float]:
    """The server's claims so far and the tasks they handed out (its /metrics)."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(base + "/metrics")).text
    found = {}
    for line in text.splitlines():
        if line.startswith(("conveyor_claim_batch_size_count", "conveyor_claim_batch_size_sum")):
            name, value = line.split()
            found[name.rsplit("_", 1)[1]] = float(value)
    return found["count"], found["sum"]


def _per_claim(before: tuple[float, float], after: tuple[float, float]) -> float:
    claims, handed = after[0] - before[0], after[1] - before[1]
    return round(handed / claims, 1) if claims else 0.0


def _cpu(pid: int) -> Callable[[], float]:
    """Seconds of CPU the process has used since this call, when the result is called
    (workers' start-up and the bench's polling of the server included)."""
    proc = psutil.Process(pid)
    start = sum(proc.cpu_times()[:2])
    return lambda: sum(proc.cpu_times()[:2]) - start


def _write_jsonl(path: Path, count: int, pad: int) -> int:
    with path.open("w") as f:
        for i in range(count):
            f.write(json.dumps({"i": i, "pad": "x" * pad}) + "\n")
    return path.stat().st_size


async def _upload(http: httpx.AsyncClient, user: dict[str, str], path: Path) -> str:
    with path.open("rb") as f:
        r = await http.post(
            "/artifacts",
            files={"file": (path.name, f, "application/x-ndjson")},
            headers=user,
            timeout=600,
        )
    r.raise_for_status()
    return str(r.json()["id"])


async def _create_job(
    http: httpx.AsyncClient,
    user: dict[str, str],
    dataset: str,
    chunk: int,
    price: int,
    slots: int = 64,
) -> dict[str, Any]:
    body = {
        "task_type": "noop",
        "dataset_artifact_id": dataset,
        "chunk_size": chunk,
        "max_concurrency": slots,
        "price_per_chunk": price,
    }
    r = await http.post("/jobs", json=body, headers=user, timeout=900)
    r.raise_for_status()
    return dict(r.json())


async def _drain_job(http: httpx.AsyncClient, user: dict[str, str], job_id: str) -> float:
    """Seconds from the first ended chunk to the job's end."""
    first: float | None = None
    while True:
        job = (await http.get(f"/jobs/{job_id}", headers=user)).json()
        ended = sum(n for s, n in job["counts"].items() if s not in ("pending", "in_progress"))
        if ended and first is None:
            first = time.monotonic()
        if job["status"] != "running":
            assert job["status"] == "completed", job
            return time.monotonic() - (first or time.monotonic())
        await asyncio.sleep(0.05)


async def _completed(http: httpx.AsyncClient, admin: dict[str, str]) -> int:
    stats = (await http.get("/admin/stats", headers=admin)).json()["tasks"]["by_status"]
    return int(stats["completed"])


async def _drain_plain(
    http: httpx.AsyncClient, admin: dict[str, str], before: int, total: int
) -> float:
    """Seconds from the first of ``total`` new completions to the last."""
    first: float | None = None
    while True:
        done = await _completed(http, admin) - before
        if done and first is None:
            first = time.monotonic()
        if done >= total:
            return time.monotonic() - (first or time.monotonic())
        await asyncio.sleep(0.05)


async def run(
    db: str, items: int, chunk: int, big_mb: int, rounds: int, slots: int
) -> dict[str, Any]:
    report: dict[str, Any] = {"db": db, "items": items, "chunk_size": chunk}
    async with fresh_database(db) as url:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            env = server_env(
                url,
                str(tmp / "data"),
                CONVEYOR_WALLET_SANDBOX="true",
                CONVEYOR_ARTIFACT_MAX_BYTES=str((big_mb + 50) * MB),
                CONVEYOR_MAX_BODY_BYTES=str(8 * MB),
            )
            port = free_port()
            server = subprocess.Popen(
                [sys.executable, "-m", "conveyor.cli.main", "serve", "--port", str(port)], env=env
            )
            base = f"http://127.0.0.1:{port}"
            workers: list[subprocess.Popen[bytes]] = []
            try:
                await wait_ready(base)
                rss = RssSampler(server.pid)
                async with httpx.AsyncClient(base_url=base + "/api/v1", timeout=120) as http:
                    admin = await _login(http, *ADMIN)
                    r = await http.post(
                        "/auth/register", json={"username": USER[0], "password": USER[1]}
                    )
                    r.raise_for_status()
                    user = await _login(http, *USER)
                    r = await http.post("/wallet/deposit", json={"amount": 10**9}, headers=user)
                    r.raise_for_status()
                    nodes = []
                    for i in range(2):
                        r = await http.post(
                            "/nodes", json={"name": f"w{i}", "node_id": f"w{i}"}, headers=admin
                        )
                        r.raise_for_status()
                        nodes.append((r.json()["node_id"], r.json()["node_secret"]))

                    # 1 and 2, alternated ``rounds`` times: on a noisy machine one pair
                    # of drains can differ by a third either way.
                    small = tmp / "items.jsonl"
                    _write_jsonl(small, items, 0)
                    dataset = await _upload(http, user, small)
                    pairs = []
                    for _ in range(rounds):
                        job_run = await _job_round(
                            http, user, dataset, chunk, base, nodes, tmp, server.pid, slots
                        )
                        job_run["items_per_s"] = round(items / job_run["seconds"], 1)
                        plain_run = await _plain_round(
                            http,
                            user,
                            admin,
                            chunk,
                            job_run["chunks"],
                            base,
                            nodes,
                            tmp,
                            server.pid,
                        )
                        overhead = plain_run["tasks_per_s"] / job_run["chunks_per_s"] - 1
                        pairs.append((job_run, plain_run, round(100 * overhead, 1)))
                    report["rounds"] = [
                        {"job": j, "plain": p, "ledger_overhead_percent": o} for j, p, o in pairs
                    ]
                    if pairs:  # --rounds 0: the memory phase alone
                        report["ledger_overhead_percent_median"] = statistics.median(
                            o for _, _, o in pairs
                        )
                        report["chunks_per_s_median"] = statistics.median(
                            j["chunks_per_s"] for j, _, _ in pairs
                        )
                        report["plain_tasks_per_s_median"] = statistics.median(
                            p["tasks_per_s"] for _, p, _ in pairs
                        )

                    # 3. memory on a big dataset, in and out (--big-mb 0 skips it)
                    if big_mb <= 0:
                        return report
                    big = tmp / "big.jsonl"
                    pad = 100
                    count = big_mb * MB // (len(json.dumps({"i": 500000, "pad": "x" * pad})) + 1)
                    size = _write_jsonl(big, count, pad)
                    memory: dict[str, Any] = {"dataset_mb": round(size / MB, 1), "items": count}
                    memory["rss_before_mb"] = round(rss.now() / MB, 1)
                    async with rss.phase():
                        big_id = await _upload(http, user, big)
                        memory["upload_peak_mb"] = round(rss.peak / MB, 1)
                        job = await _create_job(http, user, big_id, 1000, 0)
                    memory["streaming_in_peak_mb"] = round(rss.peak / MB, 1)
                    workers = _workers(base, nodes, tmp)
                    await _drain_job(http, user, job["job_id"])
                    stop_processes(workers)
                    workers = []
                    memory["rss_after_drain_mb"] = round(rss.now() / MB, 1)
                    async with rss.phase():
                        received = 0
                        async with http.stream(
                            "GET", f"/jobs/{job['job_id']}/results", headers=user, timeout=900
                        ) as resp:
                            async for block in resp.aiter_bytes():
                                received += len(block)
                    memory["results_mb"] = round(received / MB, 1)
                    memory["streaming_out_peak_mb"] = round(rss.peak / MB, 1)
                    report["memory"] = memory
            finally:
                stop_processes(workers)
                stop_processes([server])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=100)
    parser.add_argument("--slots", type=int, default=64, help="the job's max_concurrency")
    parser.add_argument("--rounds", type=int, default=3, help="job/plain pairs, alternated")
    parser.add_argument("--big-mb", type=int, default=100, help="0: no memory phase")
    args = parser.parse_args()
    report = asyncio.run(
        run(args.db, args.items, args.chunk_size, args.big_mb, args.rounds, args.slots)
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
