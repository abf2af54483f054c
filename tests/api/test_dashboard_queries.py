"""What the dashboard's views ask the API for, over HTTP on SQLite and PostgreSQL:
the task search, a task's artifacts, and the operations statistics."""

from __future__ import annotations

from typing import Any

from tests.server import Api


async def test_task_search_by_id_prefix_and_type_substring(api: Api) -> None:
    alice = await api.user_headers("alice", "alice-password-1")
    bob = await api.user_headers("bob", "bob-password-12")
    await api.submit(alice, task_id="job-7f3a-1", task_type="resize_image")
    await api.submit(alice, task_id="job-7f3a-2", task_type="transcode")
    await api.submit(bob, task_id="job-7f3b-1", task_type="resize_image")

    async def ids(headers: dict[str, str], **query: Any) -> set[str]:
        r = await api.http.get("/tasks", params=query, headers=headers)
        assert r.status_code == 200, r.text
        return {t["task_id"] for t in r.json()["tasks"]}

    assert await ids(alice, q="job-7f3") == {"job-7f3a-1", "job-7f3a-2"}
    assert await ids(alice, q="job-7f3a-2") == {"job-7f3a-2"}
    assert await ids(alice, type_contains="IMAGE") == {"job-7f3a-1"}
    assert await ids(alice, q="job", type_contains="code") == {"job-7f3a-2"}
    # Bob's task matches the prefix but is not Alice's to see.
    assert await ids(alice, q="job-7f3b") == set()
    admin = await api.admin_headers()
    assert await ids(admin, type_contains="resize") == {"job-7f3a-1", "job-7f3b-1"}

    for bad in ({"q": "has space"}, {"q": "x" * 65}, {"type_contains": ""}):
        r = await api.http.get("/tasks", params=bad, headers=alice)
        assert r.status_code == 400, (bad, r.text)
        error = r.json()["error"]
        assert error["code"] and error["message"] and error["request_id"], error


async def test_a_tasks_artifacts_are_listed_for_who_may_see_the_task(api: Api) -> None:
    alice = await api.user_headers("alice", "alice-password-1")
    bob = await api.user_headers("bob", "bob-password-12")
    task = await api.submit(alice, task_type="render")
    other = await api.submit(alice, task_type="render")
    for name in ("frame-1.png", "frame-2.png"):
        r = await api.http.post(
            "/artifacts",
            files={"file": (name, b"png-bytes")},
            data={"task_id": task["task_id"]},
            headers=alice,
        )
        assert r.status_code == 201, r.text

    r = await api.http.get("/artifacts", params={"task_id": task["task_id"]}, headers=alice)
    assert r.status_code == 200, r.text
    listed = r.json()["artifacts"]
    assert [a["name"] for a in listed] == ["frame-1.png", "frame-2.png"]
    assert {a["task_id"] for a in listed} == {task["task_id"]} and listed[0]["size"] == 9
    r = await api.http.get("/artifacts", params={"task_id": other["task_id"]}, headers=alice)
    assert r.json() == {"artifacts": []}
    # Someone who may not see the task is told it does not exist, like everywhere else.
    r = await api.http.get("/artifacts", params={"task_id": task["task_id"]}, headers=bob)
    assert r.status_code == 404, r.text
    r = await api.http.get("/artifacts", params={"task_id": "no-such"}, headers=alice)
    assert r.status_code == 404, r.text
    r = await api.http.get("/artifacts", params={"task_id": "bad id"}, headers=alice)
    assert r.status_code == 400, r.text


async def test_stats_carry_the_queue_and_the_claims_metrics(api: Api) -> None:
    admin = await api.admin_headers()
    for task_type in ("alpha", "alpha", "beta"):
        await api.submit(admin, task_type=task_type)
    await api.submit(admin, task_type="alpha", delay_seconds=3600)
    _, node = await api.new_node(admin, node_id="n1", task_types=["beta"])
    (claimed,) = (await api.claim(node, task_types=["beta"]))["tasks"]

    stats = (await api.http.get("/admin/stats", headers=admin)).json()
    queue = stats["queue"]
    assert (queue["pending"], queue["ready"]) == (3, 2)
    (alpha,) = queue["by_type"]  # beta's one task is running
    assert (alpha["task_type"], alpha["pending"], alpha["ready"]) == ("alpha", 3, 2)
    assert 0 <= alpha["oldest_pending_age_seconds"] < 60
    assert queue["oldest_pending_age_seconds"] == alpha["oldest_pending_age_seconds"]
    claims = stats["claims"]
    assert claims["total"] == await api.metric("conveyor_task_claims_total") == 1
    assert claims["latency_count"] == await api.metric("conveyor_claim_latency_seconds_count")
    assert claims["latency_seconds_sum"] == await api.metric("conveyor_claim_latency_seconds_sum")
    assert claims["latency_count"] == 1 and claims["latency_seconds_sum"] >= 0
    assert stats["tasks"]["by_status"]["in_progress"] == 1 and stats["sampled_at"]
    assert claimed["task_type"] == "beta"
