"""A worker and watcher for seed 004, written only from its README's nine APIs.

The seed has no auth; the profile's API key goes in ``X-API-Key``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

TASKS = "/api/v1/tasks"


class TrackerClient:
    def __init__(self, base_url: str, api_key: str) -> None:
        # Every path is "/api/v1/tasks" + the seed's suffix, exactly as documented.
        self.http = httpx.AsyncClient(
            base_url=base_url, headers={"X-API-Key": api_key}, timeout=10.0
        )

    async def register(self, **body: Any) -> dict[str, Any]:
        r = await self.http.post(TASKS, json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def get(self, task_id: str) -> dict[str, Any]:
        r = await self.http.get(f"{TASKS}/{task_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def claim(self, task_types: list[str], worker_id: str) -> dict[str, Any] | None:
        r = await self.http.post(
            TASKS + "/claim", json={"taskTypes": task_types, "workerId": worker_id}
        )
        assert r.status_code in (200, 201), r.text
        body = r.json()
        return dict(body) if body is not None else None

    async def progress(self, task_id: str, progress: dict[str, Any]) -> dict[str, Any]:
        r = await self.http.post(f"{TASKS}/{task_id}/progress", json={"progress": progress})
        assert r.status_code in (200, 201), r.text
        return dict(r.json())

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.http.post(TASKS + path, json=body)

    async def track(self, task_id: str, **params: str) -> list[tuple[str, dict[str, Any]]]:
        """Read the SSE stream of a finished task to its end: (event, payload) pairs."""
        events: list[tuple[str, dict[str, Any]]] = []
        event = "message"
        async with self.http.stream("GET", f"{TASKS}/{task_id}/track", params=params) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    events.append((event, json.loads(line.split(":", 1)[1])))
        return events

    async def run_worker(
        self, task_types: list[str], worker_id: str, work: Callable[[dict[str, Any]], Any]
    ) -> int:
        """claim -> progress -> complete (or fail), until claim answers null."""
        done = 0
        while (task := await self.claim(task_types, worker_id)) is not None:
            await self.progress(task["taskId"], {"percent": 50})
            try:
                result = work(task["params"])
            except Exception as exc:
                r = await self.post(f"/{task['taskId']}/fail", {"error": {"message": str(exc)}})
            else:
                r = await self.post(f"/{task['taskId']}/complete", {"result": result})
            assert r.status_code in (200, 201), r.text
            done += 1
        return done

    async def close(self) -> None:
        await self.http.aclose()
