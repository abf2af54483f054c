"""The provider's reads on SQLite and PostgreSQL: ``GET /wallet/earnings`` (the
ledger's earnings per hour or day) and ``GET /provider/work`` (what one's own nodes
run now, with their latest progress, and the chunks one was paid for), with who may
see what and bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.jobs.helpers import complete, create_job, fund
from tests.server import Api

Headers = dict[str, str]


async def user(api: Api, prefix: str) -> Headers:
    return await api.user_headers(f"{prefix}-{uuid.uuid4().hex[:8]}")


async def own_node(api: Api, owner: Headers) -> tuple[str, Headers]:
    r = await api.http.post(
        "/nodes", json={"name": "home box", "task_types": ["noop"]}, headers=owner
    )
    assert r.status_code == 201, r.text
    node_id = r.json()["node_id"]
    return node_id, await api.node_headers(node_id, r.json()["node_secret"])


async def earnings(api: Api, headers: Headers, **params: Any) -> dict[str, Any]:
    r = await api.http.get("/wallet/earnings", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def work(api: Api, headers: Headers) -> dict[str, Any]:
    r = await api.http.get("/provider/work", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_a_providers_nodes_work_and_earnings(api: Api) -> None:
    alice, bob, carol = await user(api, "alice"), await user(api, "bob"), await user(api, "carol")
    await fund(api, alice, 100)
    node_id, node = await own_node(api, bob)
    job = await create_job(
        api, alice, items=list(range(6)), chunk_size=2, max_concurrency=3, price_per_chunk=10
    )
    before = await earnings(api, bob)
    assert before["total"] == 0 and len(before["buckets"]) == 24
    assert all(b["earned"] == 0 for b in before["buckets"])

    claimed = (await api.claim(node, max_tasks=3))["tasks"]
    assert len(claimed) == 3
    r = await api.http.post(
        f"/tasks/{claimed[0]['task_id']}/progress", json={"data": {"percent": 40}}, headers=node
    )
    assert r.status_code == 201, r.text

    running = (await work(api, bob))["running"]
    assert {t["task_id"] for t in running} == {t["task_id"] for t in claimed}
    first = next(t for t in running if t["task_id"] == claimed[0]["task_id"])
    assert (first["node_id"], first["job_id"], first["progress_percent"]) == (
        node_id,
        job["job_id"],
        40.0,
    )
    assert first["progress"] == {"percent": 40}
    # The customer's data is not the provider's to read.
    assert all("params" not in t and "result" not in t for t in running)
    assert (await work(api, carol)) == {"running": [], "paid": []}

    for task in claimed[:2]:
        assert (await complete(api, node, task)).status_code == 200
    after = await earnings(api, bob)
    # A 10 % fee on 10 credits leaves 9 for the provider, per chunk.
    assert after["total"] == 18
    now = after["buckets"][-1]
    assert (now["earned"], now["chunks"]) == (18, 2)
    start = datetime.fromisoformat(now["start"])
    assert start <= datetime.now(UTC) < start + timedelta(hours=1)
    assert start.minute == start.second == 0
    day = await earnings(api, bob, bucket="day", count=7)
    assert len(day["buckets"]) == 7 and day["buckets"][-1]["earned"] == 18
    assert datetime.fromisoformat(day["buckets"][-1]["start"]).hour == 0

    done = await work(api, bob)
    assert [t["task_id"] for t in done["running"]] == [claimed[2]["task_id"]]
    assert {p["task_id"] for p in done["paid"]} == {t["task_id"] for t in claimed[:2]}
    paid = done["paid"][0]
    assert (paid["earned"], paid["job_id"], paid["node_id"]) == (9, job["job_id"], node_id)
    assert paid["chunk_index"] in (0, 1, 2) and paid["finished_at"] is not None
    # The customer paid; it earned nothing.
    assert (await earnings(api, alice))["total"] == 0
    assert (await work(api, alice))["paid"] == []


async def test_who_may_read_earnings(api: Api) -> None:
    bob, carol = await user(api, "bob"), await user(api, "carol")
    admin = await api.admin_headers()
    bob_id = (await api.http.get("/wallet", headers=bob)).json()["user_id"]
    r = await api.http.get("/wallet/earnings", headers=carol, params={"user_id": bob_id})
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found"
    assert (await earnings(api, admin, user_id=bob_id))["user_id"] == bob_id
    _, node = await own_node(api, bob)
    for path in ("/wallet/earnings", "/provider/work"):
        r = await api.http.get(path, headers=node)
        assert r.status_code == 403, (path, r.text)
        r = await api.http.get(path)
        assert r.status_code == 401, (path, r.text)


@pytest.mark.parametrize(
    "params",
    [
        {"bucket": "week"},
        {"count": "0"},
        {"count": "367"},
        {"bucket": "day", "count": "367"},
        {"count": "x"},
    ],
)
async def test_bad_earnings_queries_are_400(api: Api, params: dict[str, str]) -> None:
    bob = await user(api, "bob")
    r = await api.http.get("/wallet/earnings", headers=bob, params=params)
    assert r.status_code == 400, r.text
    assert set(r.json()["error"]) >= {"code", "message", "details", "request_id"}


async def test_bad_work_limits_are_400(api: Api) -> None:
    bob = await user(api, "bob")
    for params in ({"running_limit": "0"}, {"paid_limit": "201"}):
        r = await api.http.get("/provider/work", headers=bob, params=params)
        assert r.status_code == 400, r.text
