"""Seed 002 through its profile: /api/task, /api/servers, /docs and CORS, on both databases."""

from __future__ import annotations

import httpx

from tests.compat.conftest import ORIGIN
from tests.server import Api


async def test_seed002_servers(compat: Api) -> None:
    admin = await compat.admin_headers()
    seed = httpx.AsyncClient(base_url=compat.base_url, headers=admin)
    r = await seed.post(
        "/api/servers",
        json={"id": "gpu-1", "url": "http://127.0.0.1:9/predict", "capabilities": ["predict"]},
    )
    assert r.status_code == 201, r.text
    server = r.json()
    assert server["id"] == "gpu-1" and server["secret"] and server["task_types"] == ["predict"]
    listed = (await seed.get("/api/servers")).json()["servers"]
    assert [s["id"] for s in listed] == ["gpu-1"]
    assert "secret" not in listed[0]
    r = await seed.get("/api/servers/gpu-1")
    assert r.status_code == 200 and r.json()["url"] == "http://127.0.0.1:9/predict"
    r = await seed.post("/api/servers/gpu-1/heartbeat", json={"load": {"gpu": 0.5}})
    assert r.status_code == 200 and r.json()["last_heartbeat"] is not None
    r = await seed.post("/api/servers/cleanup")
    assert r.status_code == 200 and r.json() == {"removed": [], "count": 0}
    r = await seed.delete("/api/servers/gpu-1")
    assert r.status_code == 200 and r.json()["success"] is True
    assert (await seed.get("/api/servers/gpu-1")).status_code == 404

    user = await compat.user_headers("not-admin")
    r = await seed.get("/api/servers", headers=user)
    assert r.status_code == 403 and isinstance(r.json()["error"], str)
    await seed.aclose()


async def test_seed002_tasks(compat: Api) -> None:
    user = await compat.user_headers("task-user")
    seed = httpx.AsyncClient(base_url=compat.base_url)
    r = await seed.post("/api/task", json={"type": "predict", "payload": {"x": 1}}, headers=user)
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["status"] == "pending" and task["payload"] == {"x": 1}
    r = await seed.get(f"/api/task/{task['id']}", headers=user)
    assert r.status_code == 200 and r.json()["type"] == "predict"

    admin = await compat.admin_headers()
    node_id, node = await compat.new_node(admin, node_id="pull-1")
    r = await seed.put(f"/api/task/{task['id']}", json={"status": "in_progress"}, headers=node)
    assert r.status_code == 200 and r.json()["server_id"] == node_id
    r = await seed.put(
        f"/api/task/{task['id']}", json={"status": "completed", "result": {"y": 2}}, headers=node
    )
    assert r.status_code == 200 and r.json()["status"] == "completed"
    again = await seed.put(f"/api/task/{task['id']}", json={"status": "completed"}, headers=node)
    assert again.status_code in (404, 409)
    r = await seed.get(f"/api/task/{task['id']}", headers=user)
    assert r.json()["result"] == {"y": 2}

    second = (await seed.post("/api/task", json={"type": "predict"}, headers=user)).json()
    r = await seed.put(f"/api/task/{second['id']}", json={"status": "completed"}, headers=user)
    assert r.status_code == 409
    r = await seed.put(f"/api/task/{second['id']}", json={"status": "cancelled"}, headers=user)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert (await seed.get(f"/api/task/{task['id']}")).status_code == 401
    await seed.aclose()


async def test_seed002_docs_and_cors(compat: Api) -> None:
    async with httpx.AsyncClient(base_url=compat.base_url) as seed:
        assert (await seed.get("/docs")).status_code == 200
        schema = (await seed.get("/openapi.json")).json()
        assert "/api/servers" in schema["paths"] and "/api/v1/tasks" in schema["paths"]
        preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
        r = await seed.options("/api/task", headers=preflight)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ORIGIN
        # The native API too.
        r = await seed.get("/api/v1/tasks", headers={"Origin": ORIGIN})
        assert r.status_code == 401 and r.headers["access-control-allow-origin"] == ORIGIN
        r = await seed.get("/api/v1/tasks", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers
