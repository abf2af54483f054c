"""The service rides out a database restart: 503 while it is down, recovery by itself.

A real ``conveyor serve`` subprocess runs on a private PostgreSQL cluster (see
cluster.py), which the test stops and starts twice under it while a client keeps
submitting and a worker keeps claiming and completing. While the database is down
every API call is a ``503`` in the error shape with ``Retry-After``; once it is
back the API answers within a second, the periodic duties run again (a lease
abandoned after the restart is expired on time, which needs the leader lock taken
anew), no accepted task is lost and none is completed twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.outage.cluster import PrivateCluster, require_cluster_binaries
from tests.server import Api, ServerProcess, process_settings, wait_until

pytestmark = pytest.mark.postgres
SWEEP = 0.2
ABANDONED_LEASE = 2


@pytest.fixture
def cluster() -> Any:
    private = PrivateCluster(require_cluster_binaries())
    try:
        private.init()
        private.start()
        yield private
    finally:
        private.destroy()


@pytest.fixture
async def server(cluster: PrivateCluster, tmp_path: Path) -> AsyncIterator[Api]:
    env = process_settings(
        cluster.url,
        tmp_path,
        CONVEYOR_SWEEPER_INTERVAL_SECONDS=str(SWEEP),
        CONVEYOR_BACKOFF_BASE_SECONDS="0",
    )
    proc = ServerProcess(env)
    await proc.start()
    api = Api(proc.url)
    try:
        yield api
    finally:
        await api.close()
        proc.stop()


@dataclass
class Load:
    """A submitter and a worker running throughout, recording what the API said."""

    api: Api
    admin: dict[str, str]
    node: dict[str, str]
    accepted: set[str] = field(default_factory=set)
    completed: dict[str, int] = field(default_factory=dict)
    unavailable: int = 0
    stopping: bool = False

    async def submit_forever(self) -> None:
        while not self.stopping:
            r = await self.api.http.post("/tasks", json={"task_type": "noop"}, headers=self.admin)
            if r.status_code == 201:
                self.accepted.add(r.json()["task_id"])
            else:
                self._expect_unavailable(r)
            await asyncio.sleep(0.02)

    async def work_forever(self) -> None:
        held: dict[str, int] = {}  # task id -> version, until a completion is answered
        while not self.stopping or held:
            if not self.stopping:
                body = {"task_types": ["noop"], "max_tasks": 5, "lease_seconds": 120}
                r = await self.api.http.post("/worker/claim", json=body, headers=self.node)
                if r.status_code == 200:
                    held.update({t["task_id"]: t["version"] for t in r.json()["tasks"]})
                else:
                    self._expect_unavailable(r)
            for task_id, version in list(held.items()):
                if await self._complete(task_id, version):
                    del held[task_id]
            await asyncio.sleep(0.02)

    async def _complete(self, task_id: str, version: int) -> bool:
        """True once the outcome is known; a 503 is retried with the same version."""
        r = await self.api.http.post(
            f"/tasks/{task_id}/complete", json={"version": version}, headers=self.node
        )
        if r.status_code == 200:
            self.completed[task_id] = self.completed.get(task_id, 0) + 1
            return True
        if r.status_code == 409:
            # Only possible if the first try committed before the connection died.
            assert r.json()["error"]["details"]["status"] == "completed", r.text
            return True
        self._expect_unavailable(r)
        return False

    def _expect_unavailable(self, r: httpx.Response) -> None:
        assert_unavailable(r)
        self.unavailable += 1


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, f"{r.request.method} {r.request.url.path}: {r.text}"
    assert r.json()["error"]["code"] == "unavailable", r.text
    assert int(r.headers["Retry-After"]) >= 1


async def assert_all_unavailable(api: Api, admin: dict[str, str], node: dict[str, str]) -> None:
    calls: list[tuple[str, str, dict[str, Any] | None, dict[str, str]]] = [
        ("GET", "/tasks", None, admin),
        ("POST", "/tasks", {"task_type": "noop"}, admin),
        ("GET", "/tasks/some-task", None, admin),
        ("GET", "/nodes", None, admin),
        ("GET", "/admin/stats", None, admin),
        ("POST", "/worker/claim", {"max_tasks": 1}, node),
        ("POST", "/nodes/heartbeat", {}, node),
        ("POST", "/auth/login", {"username": "admin", "password": "admin-password-1"}, {}),
    ]
    for method, path, body, headers in calls:
        assert_unavailable(await api.http.request(method, path, json=body, headers=headers))
    ready = await api.http.get(api.base_url + "/readyz")
    assert_unavailable(ready)
    assert ready.json()["error"]["details"] == {"database": "down"}


async def back_within(api: Api, admin: dict[str, str], seconds: float) -> float:
    started = time.monotonic()

    async def answers() -> bool:
        return (await api.http.get("/tasks", headers=admin)).status_code == 200

    await wait_until(answers, seconds, f"the API to answer within {seconds}s of the restart")
    return time.monotonic() - started


async def abandon_and_expect_expiry(
    api: Api, admin: dict[str, str], quitter: dict[str, str], task_type: str
) -> None:
    """A lease taken after the restart and never renewed runs out on time."""
    task = await api.submit(admin, task_type=task_type)
    body = {"task_types": [task_type], "lease_seconds": ABANDONED_LEASE}
    (claimed,) = (await api.claim(quitter, **body))["tasks"]
    assert claimed["task_id"] == task["task_id"]
    expires = datetime.fromisoformat(claimed["lease_expires_at"])
    deadline = expires.timestamp() + 5 * SWEEP

    async def expired() -> bool:
        r = await api.http.get(f"/tasks/{task['task_id']}", headers=admin)
        return r.status_code == 200 and r.json()["attempts"] == 1

    await wait_until(expired, deadline - time.time(), "the abandoned lease to be expired")


async def failures_counted(api: Api, duty: str) -> float:
    text = (await api.http.get(api.base_url + "/metrics")).text
    prefix = f'conveyor_duty_tick_failures_total{{duty="{duty}"}} '
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix)]
    return values[0] if values else 0.0


@contextlib.asynccontextmanager
async def running(load: Load) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(load.submit_forever()), asyncio.create_task(load.work_forever())]
    try:
        yield
    finally:
        load.stopping = True
        await asyncio.wait_for(asyncio.gather(*tasks), 30)


async def test_a_database_restart_is_503_then_recovered(
    cluster: PrivateCluster, server: Api
) -> None:
    api = server
    admin = await api.admin_headers()
    _, node = await api.new_node(admin, node_id="steady", task_types=["noop"])
    modes = ("fast", "immediate")  # a clean shutdown, then a crash
    abandoned = [f"abandoned-{mode}" for mode in modes]
    _, quitter = await api.new_node(admin, node_id="quitter", task_types=abandoned)
    load = Load(api, admin, node)
    async with running(load):
        for mode, task_type in zip(modes, abandoned, strict=True):
            await wait_until(lambda: len(load.completed) >= 3, 10, "work before the outage")
            cluster.stop(mode)
            await assert_all_unavailable(api, admin, node)
            before = load.unavailable
            await wait_until(lambda b=before: load.unavailable > b + 3, 10, "load during it")
            cluster.start()
            await back_within(api, admin, 1.0)
            await abandon_and_expect_expiry(api, admin, quitter, task_type)
            await wait_until(
                lambda n=len(load.completed): len(load.completed) > n, 10, "work after it"
            )
    # The outage shows first in taking the leader lock, which then skips the duties.
    assert await failures_counted(api, "leader_lock") > 0
    await assert_nothing_lost(api, admin, load)


async def assert_nothing_lost(api: Api, admin: dict[str, str], load: Load) -> None:
    assert load.accepted, "no task was accepted"
    assert all(count == 1 for count in load.completed.values()), "a task completed twice"
    r = await api.http.get("/tasks", params={"task_type": "noop", "limit": 500}, headers=admin)
    stored = {t["task_id"]: t["status"] for t in r.json()["tasks"]}
    assert r.json()["next_cursor"] is None, "more tasks than one page; raise the limit"
    lost = load.accepted - stored.keys()
    assert not lost, f"{len(lost)} accepted tasks are gone"
    for task_id in load.completed:
        assert stored[task_id] == "completed"
