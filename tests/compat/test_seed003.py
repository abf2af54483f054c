"""Seed 003 through its profile: the README's curl calls, ownership, statuses and
its 429 body, on both databases."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.compat.conftest import PROFILES
from tests.server import Api, serve_api
from tests.server import test_settings as make_settings

BASE = "/compat/003"


async def _user(seed: httpx.AsyncClient, username: str) -> dict[str, str]:
    r = await seed.post("/auth/register", json={"username": username, "password": "password123"})
    assert r.status_code == 201, r.text
    assert r.json()["message"] == "User registered successfully" and r.json()["user_id"]
    r = await seed.post("/auth/login", json={"username": username, "password": "password123"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["expires_in"] == 900 and body["refresh_token"]
    return {"Authorization": f"Bearer {body['access_token']}", "user_id": username}


async def test_seed003_readme_calls(compat: Api) -> None:
    seed = httpx.AsyncClient(base_url=compat.base_url + BASE)
    r = await seed.post("/auth/register", json={"username": "testuser", "password": "password123"})
    assert r.status_code == 201
    user_id = r.json()["user_id"]
    r = await seed.post("/auth/login", json={"username": "testuser", "password": "password123"})
    tokens = r.json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    r = await seed.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200 and set(r.json()) == {"access_token", "refresh_token", "expires_in"}
    reused = await seed.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 401 and isinstance(reused.json()["error"], str)
    # Reuse ended that session (refresh rotation): log in again.
    r = await seed.post("/auth/login", json={"username": "testuser", "password": "password123"})
    auth = {"Authorization": f"Bearer {r.json()['access_token']}"}

    r = await seed.post("/api/v1/tasks", json={"task_type": "IMAGE_RESIZE"}, headers=auth)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "PENDING" and created["message"] == "Task created successfully"
    task_id = created["task_id"]
    r = await seed.post("/api/v1/tasks", json={"task_type": "DATA_EXPORT"}, headers=auth)
    export_id = r.json()["task_id"]

    bad = await seed.post("/api/v1/tasks", json={"task_type": "MINING"}, headers=auth)
    assert bad.status_code == 400 and "IMAGE_RESIZE" in str(bad.json())
    video = await seed.post("/api/v1/tasks", json={"task_type": "VIDEO_PROCESS"}, headers=auth)
    assert video.status_code == 400
    assert "resize_image" in video.json()["error"] and "VIDEO_PROCESS" in video.json()["error"]

    r = await seed.get(f"/api/v1/tasks/{task_id}", headers=auth)
    assert r.status_code == 200
    task = r.json()
    assert task["id"] == task_id and task["user_id"] == user_id
    assert task["task_type"] == "IMAGE_RESIZE" and task["status"] == "PENDING"
    assert task["result_file"] is None and task["error_message"] is None

    # The API types run on the built-in handlers: a native node claims them by those names.
    admin = await compat.admin_headers()
    _, node = await compat.new_node(admin, node_id="w003")
    claimed = await compat.claim(node, task_types=["resize_image"], max_tasks=5)
    (running,) = claimed["tasks"]
    assert running["task_id"] == task_id
    r = await seed.get(f"/api/v1/tasks/{task_id}", headers=auth)
    assert r.json()["status"] == "PROCESSING"
    r = await compat.http.post(
        f"/tasks/{task_id}/complete",
        json={"version": running["version"], "result": {"artifact_id": "art-1"}},
        headers=node,
    )
    assert r.status_code == 200, r.text
    (export,) = (await compat.claim(node, task_types=["report_generate"]))["tasks"]
    await compat.http.post(
        f"/tasks/{export_id}/fail",
        json={"version": export["version"], "error": {"message": "no rows"}, "retryable": False},
        headers=node,
    )
    done = (await seed.get(f"/api/v1/tasks/{task_id}", headers=auth)).json()
    assert done["status"] == "COMPLETED"
    assert done["result_file"] == "/api/v1/artifacts/art-1/content"
    failed = (await seed.get(f"/api/v1/tasks/{export_id}", headers=auth)).json()
    assert failed["status"] == "FAILED" and failed["error_message"] == "no rows"

    r = await seed.get(f"/api/v1/users/{user_id}/tasks", headers=auth)
    assert r.status_code == 200
    listed = {t["id"]: t for t in r.json()["tasks"]}
    assert listed[task_id]["status"] == "COMPLETED"
    assert listed[export_id]["task_type"] == "DATA_EXPORT"

    # Ownership: another user's task and list are 403; a missing task is 404.
    other = await _user(seed, "otheruser")
    other_auth = {"Authorization": other["Authorization"]}
    assert (await seed.get(f"/api/v1/tasks/{task_id}", headers=other_auth)).status_code == 403
    r = await seed.get(f"/api/v1/users/{user_id}/tasks", headers=other_auth)
    assert r.status_code == 403
    assert (await seed.get("/api/v1/tasks/nope", headers=auth)).status_code == 404
    assert (await seed.get(f"/api/v1/tasks/{task_id}")).status_code == 401
    await seed.aclose()


async def test_seed003_rate_limit_body(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        database_url, tmp_path, rate_limits_enabled=True, rate_limit_api="2,0.01", **PROFILES
    )
    async with serve_api(settings) as api:
        seed = httpx.AsyncClient(base_url=api.base_url + BASE)
        auth = await _user(seed, "limited")
        headers = {"Authorization": auth["Authorization"]}
        answers = [
            await seed.post("/api/v1/tasks", json={"task_type": "REPORT_GENERATE"}, headers=headers)
            for _ in range(3)
        ]
        assert [r.status_code for r in answers] == [201, 201, 429]
        assert answers[2].json() == {"error": "Rate limit exceeded"}
        assert int(answers[2].headers["Retry-After"]) >= 1
        await seed.aclose()


async def test_native_api_accepts_seed_task_type_aliases(compat: Api) -> None:
    user = await compat.user_headers("alias-user")
    for alias, builtin in [("send_email", "email_send"), ("generate_report", "report_generate")]:
        task = await compat.submit(user, task_type=alias, task_details={"to": "x@example.com"})
        assert task["task_type"] == builtin and task["params"] == {"to": "x@example.com"}
