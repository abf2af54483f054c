"""A worker for seed 000, written only from the seed's README (worker/src/*.js).

config: MAIN_SERVER_URL, NODE_ID, NODE_SECRET; api.js: login(), getAssignedTasks(),
updateStatus(); executor.js: getHandler(task_type), run, PATCH completed or failed
with the same version; unknown task_type -> failed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

Handler = Callable[[dict[str, Any]], None]


def _email_send(details: dict[str, Any]) -> None:
    if "to" not in details:
        raise ValueError("email_send needs 'to'")


HANDLERS: dict[str, Handler] = {
    "email_send": _email_send,
    "notification_send": lambda details: None,
    "report_generate": lambda details: None,
}


class Seed000Worker:
    def __init__(self, main_server_url: str, node_id: str, node_secret: str) -> None:
        self.http = httpx.AsyncClient(base_url=main_server_url, timeout=10.0)
        self.node_id = node_id
        self.node_secret = node_secret
        self.token: str | None = None
        self.reports: list[tuple[str, str, int]] = []

    async def login(self) -> None:
        r = await self.http.post(
            "/auth/node/login", json={"node_id": self.node_id, "node_secret": self.node_secret}
        )
        r.raise_for_status()
        self.token = r.json()["token"]

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def get_assigned_tasks(self) -> list[dict[str, Any]]:
        r = await self.http.get("/tasks/assigned", headers=self._auth())
        r.raise_for_status()
        tasks = r.json()
        assert isinstance(tasks, list)
        return tasks

    async def update_status(self, task_id: str, status: str, version: int) -> httpx.Response:
        return await self.http.patch(
            f"/tasks/{task_id}/status",
            json={"status": status, "version": version},
            headers=self._auth(),
        )

    async def poll_once(self) -> int:
        """One tick of poller.js: fetch, run each by task_type, report with its version."""
        tasks = await self.get_assigned_tasks()
        for task in tasks:
            handler = HANDLERS.get(task["task_type"])
            status = "completed"
            try:
                if handler is None:
                    raise LookupError(f"no handler for {task['task_type']}")
                handler(task["task_details"])
            except Exception:
                status = "failed"
            r = await self.update_status(task["task_id"], status, task["version"])
            r.raise_for_status()
            assert r.json() == {"success": True}
            self.reports.append((task["task_id"], status, task["version"]))
        return len(tasks)

    async def close(self) -> None:
        await self.http.aclose()
