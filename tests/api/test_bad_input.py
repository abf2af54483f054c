"""Bad input: the documented error, and nothing stored changes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.server import Api

BAD_TASKS: list[Any] = [
    {},
    {"task_type": 5},
    {"task_type": "ok", "params": "not an object"},
    {"task_type": "ok", "priority": "high"},
    {"task_type": "ok", "priority": 1.5},
    {"task_type": "ok", "max_attempts": 0},
    {"task_type": "ok", "params": {"n": 2**63}},
    {"task_type": "ok", "params": {"n": -(2**63) - 1}},
    {"task_type": "ok", "params": {"s": "nul\u0000here"}},
    {"task_type": "ok", "metadata": {"k\u0000": 1}},
    {"task_type": "bad type with spaces"},
    {"task_type": "ok", "unknown_field": 1},
    {"task_type": "ok", "run_at": "2026-01-01T00:00:00"},
    {"task_type": "ok", "task_id": "../../etc"},
    {"tasks": []},
    {"tasks": [{"task_type": "ok"}, {"task_type": 1}]},
    [1, 2, 3],
    "just a string",
]


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


async def _assert_nothing_stored(api: Api, user: dict[str, str]) -> None:
    listed = await api.http.get("/tasks", headers=user)
    assert listed.json()["tasks"] == []


@pytest.mark.parametrize("body", BAD_TASKS, ids=range(len(BAD_TASKS)))
async def test_bad_task_bodies_are_400(api: Api, body: Any) -> None:
    user = await api.user_headers("alice")
    r = await api.http.post("/tasks", json=body, headers=user)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_input" and error["message"]
    assert isinstance(error["details"], list) and error["details"]
    await _assert_nothing_stored(api, user)


async def test_absurd_nesting_and_malformed_json(api: Api) -> None:
    user = await api.user_headers("alice")
    r = await api.http.post("/tasks", json={"task_type": "ok", "params": _nested(60)}, headers=user)
    assert r.status_code == 400
    r = await api.http.post(
        "/tasks", content=b'{"task_type": ', headers={**user, "Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input"
    await _assert_nothing_stored(api, user)


async def test_huge_bodies_are_413(api: Api) -> None:
    user = await api.user_headers("alice")
    big = {"task_type": "ok", "params": {"blob": "x" * (2 * 1024 * 1024)}}
    r = await api.http.post("/tasks", json=big, headers=user)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

    async def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 65536

    r = await api.http.post(
        "/tasks", content=chunks(), headers={**user, "Content-Type": "application/json"}
    )
    assert r.status_code == 413
    # A declared length over the limit is refused before a byte of the body is read;
    # httpx will not send a lying header, so this client speaks raw HTTP.
    url = httpx.URL(api.base_url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = (
        "POST /api/v1/tasks HTTP/1.1\r\n"
        f"Host: {url.host}\r\nAuthorization: {user['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {10**9}\r\n\r\n"
    )
    writer.write(head.encode())
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"413"
    await _assert_nothing_stored(api, user)


async def test_unknown_status_filter_and_bad_cursor(api: Api) -> None:
    user = await api.user_headers("alice")
    r = await api.http.get("/tasks", params={"status": "exploded"}, headers=user)
    assert r.status_code == 400 and r.json()["error"]["details"][0]["field"] == "status"
    r = await api.http.get("/tasks", params={"cursor": "!!!"}, headers=user)
    assert r.status_code == 400
    r = await api.http.get("/tasks", params={"limit": 0}, headers=user)
    assert r.status_code == 400


async def test_bad_worker_calls_change_nothing(api: Api) -> None:
    admin = await api.admin_headers()
    user = await api.user_headers("alice")
    _, node = await api.new_node(admin, node_id="n1")
    task = await api.submit(user)
    (held,) = (await api.claim(node))["tasks"]
    tid = task["task_id"]
    for body in ({}, {"version": "2"}, {"version": held["version"], "result": {"n": 2**64}}):
        r = await api.http.post(f"/tasks/{tid}/complete", json=body, headers=node)
        assert r.status_code == 400, body
    r = await api.http.post("/worker/claim", json={"max_tasks": -1}, headers=node)
    assert r.status_code == 400
    r = await api.http.post("/worker/claim", json={"finishes": [{"task_id": tid}]}, headers=node)
    assert r.status_code == 400
    r = await api.http.post(
        f"/tasks/{tid}/fail", json={"version": held["version"], "retryable": "yes"}, headers=node
    )
    assert r.status_code == 400
    after = (await api.http.get(f"/tasks/{tid}", headers=user)).json()
    assert after["status"] == "in_progress" and after["version"] == held["version"]


async def test_unknown_routes_and_methods_use_the_error_shape(api: Api) -> None:
    r = await api.http.get("/no/such/thing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await api.http.delete("/auth/login")
    assert r.status_code == 405 and "error" in r.json()


async def test_bad_registration(api: Api) -> None:
    for body in (
        {"username": "x", "password": "long-enough-1"},
        {"username": "valid_name", "password": "short"},
        {"username": "valid_name"},
        {"username": 12, "password": "long-enough-1"},
    ):
        r = await api.http.post("/auth/register", json=body)
        assert r.status_code == 400, body
    await api.user_headers("erin")
    r = await api.http.post(
        "/auth/register", json={"username": "erin", "password": "another-pass-1"}
    )
    assert r.status_code == 409
