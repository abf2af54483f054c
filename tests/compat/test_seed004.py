"""Seed 004 through its profile: camelCase, claim, progress, SSE track, release,
retry and the fixed timeouts, on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from tests.compat.conftest import API_KEY_004
from tests.compat.seed004_client import TrackerClient
from tests.server import Api, wait_until

BASE = "/compat/004"


def _double(params: dict[str, int]) -> dict[str, int]:
    if params["n"] < 0:
        raise ValueError("negative")
    return {"doubled": params["n"] * 2}


async def test_seed004_worker_loop_and_track(compat: Api) -> None:
    client = TrackerClient(compat.base_url + BASE, API_KEY_004)
    made = await client.register(
        taskId="t-one",
        taskType="double",
        params={"n": 21},
        metadata={"who": "me"},
        timeoutSeconds=600,
    )
    assert made["taskId"] == "t-one" and made["status"] == "pending"
    created = datetime.fromisoformat(made["createdAt"])
    assert datetime.fromisoformat(made["timeoutAt"]) - created == timedelta(seconds=600)
    bad = await client.register(taskType="double", params={"n": -1})

    assert await client.claim(["other"], "w1") is None
    assert await client.run_worker(["double"], "w1", _double) == 2

    task = await client.get("t-one")
    assert task["status"] == "completed" and task["result"] == {"doubled": 42}
    assert task["workerId"] == "w1" and task["metadata"] == {"who": "me"}
    assert task["progressHistory"][0]["seqId"] == 1
    assert task["progressHistory"][0]["percent"] == 50
    failed = await client.get(bad["taskId"])
    assert failed["status"] == "failed" and failed["error"] == {"message": "negative"}

    # A finished task streams its progress, then its final status, then closes.
    events = await client.track("t-one")
    assert [e for e, _ in events] == ["progress", "status_change"]
    progress, status = events[0][1], events[1][1]
    assert progress["event"] == "progress" and progress["taskId"] == "t-one"
    assert progress["data"] == {"seqId": 1, "percent": 50}
    assert status["data"] == {"status": "completed", "result": {"doubled": 42}}
    assert await client.track("t-one", afterSeqId="1") == [events[1]]

    # Retry of the failed one: a new pending task linked to it.
    r = await client.post(f"/{bad['taskId']}/retry")
    assert r.status_code == 201, r.text
    retried = r.json()
    assert retried["originalTaskId"] == bad["taskId"] and retried["retryCount"] == 1
    assert retried["status"] == "pending"

    # Visible through the native API, with the same state and version.
    admin = await compat.admin_headers()
    native = (await compat.http.get("/tasks/t-one", headers=admin)).json()
    assert native["status"] == "completed" and native["version"] == task["version"]
    assert native["attempt_history"][0]["node_id"] == "w004.w1"
    await client.close()


async def test_seed004_release_start_and_auth(compat: Api) -> None:
    client = TrackerClient(compat.base_url + BASE, API_KEY_004)
    await client.register(taskId="t-rel", taskType="job")
    claimed = await client.claim(["job"], "holder")
    assert claimed is not None and claimed["status"] == "in_progress"
    assert claimed["workerId"] == "holder"
    other = await client.post("/t-rel/release", {"workerId": "someone-else"})
    assert other.status_code in (404, 409) and other.json()["statusCode"] == other.status_code
    r = await client.post("/t-rel/release", {"workerId": "holder"})
    assert r.status_code in (200, 201) and r.json()["status"] == "pending"
    assert r.json()["taskId"] == "t-rel"
    r = await client.post("/t-rel/start", {"workerId": "starter"})
    assert r.status_code in (200, 201) and r.json()["status"] == "in_progress"
    r = await client.post("/t-rel/timeout")
    assert r.json()["status"] == "timeout"

    bad = await client.post("", {"taskType": 5})
    assert bad.status_code == 400 and bad.json()["statusCode"] == 400
    url = f"{compat.base_url}{BASE}/api/v1/tasks/t-rel"
    async with httpx.AsyncClient() as anon:
        assert (await anon.get(url)).status_code == 401
        wrong = await anon.get(url, headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401
        ok = await anon.get(url, headers={"Authorization": f"Bearer {API_KEY_004}"})
        assert ok.status_code == 200
    # Another principal's task is not the profile's: 404 like a missing one.
    user = await compat.user_headers("native-user")
    mine = await compat.submit(user, task_type="job")
    assert (await client.http.get(f"/api/v1/tasks/{mine['task_id']}")).status_code == 404
    await client.close()


async def test_seed004_timeout_at_is_fixed_at_registration(compat: Api) -> None:
    client = TrackerClient(compat.base_url + BASE, API_KEY_004)
    await client.register(taskId="t-pending", taskType="slow", timeoutSeconds=1)
    await client.register(taskId="t-running", taskType="slow", timeoutSeconds=1)
    await client.register(taskId="t-later", taskType="slow", timeoutSeconds=3600)
    running = await client.claim(["slow"], "w")
    assert running is not None
    processed = 0

    async def swept() -> bool:
        nonlocal processed
        r = await client.post("/timeouts/process")
        assert r.status_code in (200, 201)
        processed += r.json()["processedCount"]
        return processed >= 2

    await wait_until(swept, 15.0, "both short tasks timed out")
    statuses = {t: (await client.get(t))["status"] for t in ("t-pending", "t-running", "t-later")}
    assert statuses["t-later"] in ("pending", "in_progress")
    timed = [t for t in ("t-pending", "t-running") if statuses[t] == "timeout"]
    assert len(timed) == 2, statuses
    await client.close()
