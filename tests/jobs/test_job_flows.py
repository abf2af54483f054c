"""Jobs end to end on SQLite and PostgreSQL: create (reserve), claim, complete (pay),
fail (release), cancel (release the rest), with the ledger's sums checked each time."""

from __future__ import annotations

import json

import pytest

from tests.jobs.helpers import (
    Ledger,
    assert_sound,
    complete,
    create_job,
    fail,
    fund,
    job,
    wallet,
)
from tests.server import Api


async def test_a_job_runs_pays_its_earner_and_ends_completed(api: Api, books: Ledger) -> None:
    alice = await api.user_headers("alice")
    bob = await api.user_headers("bob")
    await fund(api, alice, 1000)
    r = await api.http.post("/nodes", json={"name": "bob-1"}, headers=bob)
    assert r.status_code == 201, r.text
    node = await api.node_headers(r.json()["node_id"], r.json()["node_secret"])

    created = await create_job(
        api, alice, items=list(range(10)), chunk_size=3, price_per_chunk=25, max_concurrency=2
    )
    assert created["chunk_count"] == 4 and created["item_count"] == 10
    assert created["reserved"] == 100 and created["status"] == "running"
    assert (await wallet(api, alice))["available"] == 900
    assert (await wallet(api, alice))["reserved"] == 100

    # Two slots: a claim for ten gets two chunks.
    claimed = (await api.claim(node, max_tasks=10))["tasks"]
    assert len(claimed) == 2
    assert {t["job_id"] for t in claimed} == {created["job_id"]}
    for task in claimed:
        assert (await complete(api, node, task)).status_code == 200
    while True:
        more = (await api.claim(node, max_tasks=10))["tasks"]
        if not more:
            break
        for task in more:
            assert (await complete(api, node, task)).status_code == 200

    final = await job(api, alice, created["job_id"])
    assert final["status"] == "completed"
    assert final["spent"] == 100 and final["reserved"] == 0 and final["refunded"] == 0
    assert final["progress_percent"] == 100.0
    a, b = await wallet(api, alice), await wallet(api, bob)
    assert (a["available"], a["reserved"]) == (900, 0)
    # 10 % fee, floored: 25 -> 2 to the platform, 23 to bob, per chunk.
    assert b["earned"] == 4 * 23
    assert_sound(await books.audit())
    assert len(await books.refs("settle")) == 4

    r = await api.http.get(f"/jobs/{created['job_id']}/results", headers=alice)
    assert r.status_code == 200
    assert r.headers["Conveyor-Missing-Chunks"] == ""
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert lines == list(range(10))


async def test_a_failed_chunk_is_released_and_the_job_ends_partially_failed(
    api: Api, books: Ledger
) -> None:
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    await fund(api, alice, 100)
    _, node = await api.new_node(admin, node_id="n1")
    created = await create_job(api, alice, items=[1, 2, 3], chunk_size=1, price_per_chunk=10)
    tasks = (await api.claim(node, max_tasks=3))["tasks"]
    by_index = {t["chunk_index"]: t for t in tasks}
    assert (await complete(api, node, by_index[0])).status_code == 200
    assert (await fail(api, node, by_index[1])).status_code == 200
    # Mid-run the results already hold chunk 0, and say 1 and 2 are missing.
    r = await api.http.get(f"/jobs/{created['job_id']}/results", headers=alice)
    assert r.headers["Conveyor-Missing-Chunks"] == "1-2"
    assert [json.loads(x) for x in r.text.splitlines()] == [1]
    assert (await complete(api, node, by_index[2])).status_code == 200

    final = await job(api, alice, created["job_id"])
    assert final["status"] == "partially_failed"
    assert (final["spent"], final["refunded"], final["reserved"]) == (20, 10, 0)
    a = await wallet(api, alice)
    assert (a["available"], a["reserved"]) == (80, 0)
    assert await books.refs("release") == [f"release:{by_index[1]['task_id']}"]
    assert_sound(await books.audit())


async def test_cancel_stops_the_job_and_releases_the_rest(api: Api, books: Ledger) -> None:
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    await fund(api, alice, 100)
    _, node = await api.new_node(admin, node_id="n1")
    created = await create_job(api, alice, items=list(range(5)), chunk_size=1, max_concurrency=2)
    running = (await api.claim(node, max_tasks=5))["tasks"]
    assert len(running) == 2
    assert (await complete(api, node, running[0])).status_code == 200

    r = await api.http.post(f"/jobs/{created['job_id']}/cancel", headers=alice)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "cancelled"
    assert (body["spent"], body["refunded"], body["reserved"]) == (10, 40, 0)
    # The running chunk lost its lease: its node's finish is refused and pays nothing.
    assert (await complete(api, node, running[1])).status_code == 409
    assert (await api.claim(node, max_tasks=5))["tasks"] == []
    a = await wallet(api, alice)
    assert (a["available"], a["reserved"]) == (90, 0)
    assert await books.refs("release") == [f"cancel:{created['job_id']}"]
    # Cancelling again changes nothing; a finished job cannot be cancelled.
    again = await api.http.post(f"/jobs/{created['job_id']}/cancel", headers=alice)
    assert again.status_code == 200 and again.json()["refunded"] == 40
    assert await books.refs("release") == [f"cancel:{created['job_id']}"]
    assert_sound(await books.audit())


async def test_a_free_job_moves_no_credits(api: Api, books: Ledger) -> None:
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    _, node = await api.new_node(admin, node_id="n1")
    created = await create_job(api, alice, items=[{"a": 1}], chunk_size=5, price_per_chunk=0)
    (task,) = (await api.claim(node))["tasks"]
    assert task["params"]["items"] == [{"a": 1}]
    assert (await complete(api, node, task)).status_code == 200
    assert (await job(api, alice, created["job_id"]))["status"] == "completed"
    assert await books.refs("settle") == [] and await books.refs("reserve") == []


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        ("data.json", b' [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}, {"n": 5}, {"n": 6}]'),
        ("data.jsonl", b"".join(b'{"n": %d}\n' % i for i in range(7)) + b"\n"),
        ("data.txt", b"".join(b'{"n": %d}\n' % i for i in range(7))),
    ],
)
async def test_an_uploaded_dataset_is_cut_into_chunks_in_order(
    api: Api, filename: str, content: bytes
) -> None:
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    await fund(api, alice, 100)
    up = await api.http.post(
        "/artifacts", files={"file": (filename, content, "application/octet-stream")}, headers=alice
    )
    assert up.status_code == 201, up.text
    created = await create_job(
        api, alice, dataset_artifact_id=up.json()["id"], chunk_size=3, price_per_chunk=1
    )
    assert (created["chunk_count"], created["item_count"], created["reserved"]) == (3, 7, 3)
    r = await api.http.get(f"/jobs/{created['job_id']}/chunks", headers=alice)
    grid = r.json()["chunks"]
    assert [c["items"] for c in grid] == [3, 3, 1]
    assert grid[0]["preview"] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert grid[2]["preview"] == [{"n": 6}]
    _, node = await api.new_node(admin, node_id="n1")
    for task in (await api.claim(node, max_tasks=3))["tasks"]:
        assert (await complete(api, node, task)).status_code == 200
    r = await api.http.get(f"/jobs/{created['job_id']}/results", headers=alice)
    assert [json.loads(x)["n"] for x in r.text.splitlines()] == list(range(7))
    grid = (await api.http.get(f"/jobs/{created['job_id']}/chunks", headers=alice)).json()
    assert all(c["status"] == "completed" and c["node_id"] == "n1" for c in grid["chunks"])
    assert all(c["result_size"] > 0 for c in grid["chunks"])


async def test_job_listing_pages_and_filters(api: Api) -> None:
    alice = await api.user_headers("alice")
    made = [
        (await create_job(api, alice, items=[i], chunk_size=1, price_per_chunk=0))["job_id"]
        for i in range(3)
    ]
    await api.http.post(f"/jobs/{made[0]}/cancel", headers=alice)
    r = await api.http.get("/jobs", params={"limit": 2}, headers=alice)
    first = r.json()
    assert [j["job_id"] for j in first["jobs"]] == made[:0:-1]
    r = await api.http.get(
        "/jobs", params={"limit": 2, "cursor": first["next_cursor"]}, headers=alice
    )
    assert [j["job_id"] for j in r.json()["jobs"]] == [made[0]]
    assert r.json()["next_cursor"] is None
    r = await api.http.get("/jobs", params={"status": "cancelled"}, headers=alice)
    assert [j["job_id"] for j in r.json()["jobs"]] == [made[0]]
    assert r.json()["jobs"][0]["counts"] == {"cancelled": 1}
    for params in ({"status": "finished"}, {"cursor": "not-a-cursor"}):
        bad = await api.http.get("/jobs", params=params, headers=alice)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_input"
    grid = await api.http.get(f"/jobs/{made[1]}/chunks", params={"cursor": "x"}, headers=alice)
    assert grid.status_code == 400
