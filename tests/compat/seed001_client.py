"""Seed 001's worker runner, written only from its README.

"Configurable via environment variables (WORKER_ID, API_BASE, etc.). Automates
chunk polling, optional main.js execution, progress batching, and chunk result
submission." Its flow: "Worker polls /api/tasks, claims assigned tasks, and loops
on /api/worker/next-chunk for bucket assignments. Processes each chunk ... and
posts results to /api/worker/record-chunk with progress updates." POLL_INTERVAL
and HEARTBEAT_INTERVAL are in milliseconds.

The seed has no authentication; Conveyor's profile wants a node's bearer token,
the one addition here (``token``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import httpx

Process = Callable[[list[Any]], list[Any]]


class WorkerRunner:
    def __init__(self, env: Mapping[str, str], token: str, process: Process) -> None:
        self.worker_id = env["WORKER_ID"]
        self.poll = float(env.get("POLL_INTERVAL", "1000")) / 1000
        self.beat = float(env.get("HEARTBEAT_INTERVAL", "5000")) / 1000
        self.process = process
        self.http = httpx.AsyncClient(
            base_url=env.get("API_BASE", "http://localhost:4000"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=10.0,
        )
        self.done: list[str] = []

    async def close(self) -> None:
        await self.http.aclose()

    async def heartbeat(self) -> None:
        while True:
            r = await self.http.post("/api/worker/heartbeat", json={"workerId": self.worker_id})
            assert r.status_code == 200, r.text
            await asyncio.sleep(self.beat)

    async def run_chunk(self, chunk: dict[str, Any]) -> None:
        items = chunk["items"]
        half = {"chunkId": chunk["chunkId"], "workerId": self.worker_id, "progress": 50}
        r = await self.http.post("/api/worker/record-chunk", json=half)
        assert r.status_code == 200, r.text
        body = {
            "chunkId": chunk["chunkId"],
            "workerId": self.worker_id,
            "version": chunk["version"],
            "progress": 100,
            "results": self.process(items),
        }
        r = await self.http.post("/api/worker/record-chunk", json=body)
        assert r.status_code == 200, r.text
        self.done.append(chunk["chunkId"])

    async def run(self, until: Callable[[], bool]) -> None:
        """Poll, claim, run, report, until ``until()`` says stop."""
        beats = asyncio.create_task(self.heartbeat())
        try:
            while not until():
                r = await self.http.get("/api/tasks")
                assert r.status_code == 200, r.text
                for task in r.json()["tasks"]:
                    while True:
                        r = await self.http.post(
                            "/api/worker/next-chunk",
                            json={"workerId": self.worker_id, "taskId": task["id"]},
                        )
                        assert r.status_code == 200, r.text
                        chunk = r.json()["chunk"]
                        if chunk is None:
                            break
                        await self.run_chunk(chunk)
                await asyncio.sleep(self.poll)
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats
