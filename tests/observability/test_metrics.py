"""/metrics after real tasks went through their lifecycle, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.observability.scrape import Scrape, scrape
from tests.server import Api, serve_api, wait_until
from tests.server import test_settings as settings_for


async def _until(api: Api, check: Callable[[Scrape], bool], what: str) -> Scrape:
    """The gauges are re-read every couple of seconds: poll until one shows ``what``."""
    latest: list[Scrape] = []

    async def reached() -> bool:
        latest[:] = [await scrape(api.base_url)]
        return check(latest[0])

    await wait_until(reached, 15.0, what)
    return latest[0]


def _finish(task: dict[str, object], status: str, **extra: object) -> dict[str, object]:
    return {"task_id": task["task_id"], "version": task["version"], "status": status, **extra}


async def test_queue_gauges_follow_the_backlog(api: Api) -> None:
    admin = await api.admin_headers()
    user = await api.user_headers("alice")
    _, node = await api.new_node(admin, node_id="n1", task_types=["noop", "email"])
    for _ in range(3):
        await api.submit(user, task_type="noop")
    await api.submit(user, task_type="noop", required_labels={"zone": "b", "gpu": "yes"})
    await api.submit(user, task_type="email", params={})
    # Not due for an hour: no backlog yet, and no age.
    await api.submit(user, task_type="noop", delay_seconds=3600)

    first = await _until(
        api, lambda s: s.value("conveyor_tasks_backlog", task_type="noop") == 4, "noop backlog 4"
    )
    assert first.value("conveyor_tasks_backlog", task_type="email") == 1
    assert first.value("conveyor_tasks_backlog_by_labels", required_labels="") == 4
    assert first.value("conveyor_tasks_backlog_by_labels", required_labels="gpu=yes,zone=b") == 1
    assert first.value("conveyor_oldest_pending_task_age_seconds", task_type="noop") >= 0
    assert first.value("conveyor_nodes", health="healthy", status="active") == 1
    assert first.value("conveyor_nodes", health="dead", status="active") == 0
    assert first.value("conveyor_db_pool_size") >= 0
    assert first.value("conveyor_gauges_refreshed_timestamp_seconds") > 0
    # The oldest due task keeps ageing while nobody claims it.
    aged = first.value("conveyor_oldest_pending_task_age_seconds", task_type="noop")
    await _until(
        api,
        lambda s: s.value("conveyor_oldest_pending_task_age_seconds", task_type="noop") > aged,
        "the oldest pending noop task to age",
    )

    # email drained: it reads 0, not "no data", so an autoscaler can scale it down.
    await api.claim(node, task_types=["email"])
    drained = await _until(
        api, lambda s: s.value("conveyor_tasks_backlog", task_type="email") == 0, "email drained"
    )
    assert ("conveyor_tasks_backlog", frozenset({("task_type", "email")})) in drained.samples
    assert drained.value("conveyor_oldest_pending_task_age_seconds", task_type="email") == 0

    r = await api.http.patch("/nodes/n1", json={"status": "draining"}, headers=admin)
    assert r.status_code == 200, r.text
    await _until(
        api,
        lambda s: s.value("conveyor_nodes", health="healthy", status="draining") == 1,
        "the drained node counted",
    )


async def test_outcomes_count_runs_and_finishes_apart(api: Api) -> None:
    admin = await api.admin_headers()
    user = await api.user_headers("bob")
    _, node = await api.new_node(admin, node_id="n2", task_types=["noop"])
    ok = await api.submit(user, max_attempts=2)
    flaky = await api.submit(user, max_attempts=2)
    handed_back = await api.submit(user)
    cancelled = await api.submit(user)
    r = await api.http.post(f"/tasks/{cancelled['task_id']}/cancel", headers=user)
    assert r.status_code == 200, r.text

    first = await api.claim(node, max_tasks=3)
    held = {t["task_id"]: t for t in first["tasks"]}
    assert set(held) == {ok["task_id"], flaky["task_id"], handed_back["task_id"]}
    finishes = [
        _finish(held[ok["task_id"]], "completed", result={"ok": True}),
        _finish(held[flaky["task_id"]], "failed", error={"message": "flaky"}),
        _finish(held[handed_back["task_id"]], "released"),
    ]
    second = await api.claim(node, max_tasks=0, finishes=finishes)
    assert all(f["ok"] for f in second["finished"]), second

    after_first = await scrape(api.base_url)
    assert (
        after_first.value("conveyor_tasks_finished_total", task_type="noop", status="completed")
        == 1
    )
    assert (
        after_first.value("conveyor_tasks_finished_total", task_type="noop", status="cancelled")
        == 1
    )
    # A retried failure is no finish: it runs again.
    assert (
        after_first.value("conveyor_tasks_finished_total", task_type="noop", status="failed") == 0
    )
    for outcome, count in {"completed": 1, "retried": 1, "released": 1, "failed": 0}.items():
        got = after_first.value("conveyor_task_outcomes_total", task_type="noop", outcome=outcome)
        assert got == count, (outcome, got)
    assert after_first.value("conveyor_task_run_seconds_count", task_type="noop") == 3
    assert after_first.value("conveyor_task_wait_seconds_count", task_type="noop") == 3
    assert after_first.value("conveyor_task_claims_total") == 3

    # The second runs: no new first-start waits, and now the failure is final.
    again = await api.claim(node, max_tasks=2)
    assert {t["task_id"] for t in again["tasks"]} == {flaky["task_id"], handed_back["task_id"]}
    rerun = {t["task_id"]: t for t in again["tasks"]}
    finishes = [
        _finish(rerun[flaky["task_id"]], "failed", error={"message": "still"}),
        _finish(rerun[handed_back["task_id"]], "completed"),
    ]
    await api.claim(node, max_tasks=0, finishes=finishes)
    done = await scrape(api.base_url)
    assert done.value("conveyor_tasks_finished_total", task_type="noop", status="failed") == 1
    assert done.value("conveyor_tasks_finished_total", task_type="noop", status="completed") == 2
    assert done.value("conveyor_task_outcomes_total", task_type="noop", outcome="failed") == 1
    assert done.value("conveyor_task_wait_seconds_count", task_type="noop") == 3
    assert done.value("conveyor_task_run_seconds_count", task_type="noop") == 5
    # Every wait and run is counted in the +Inf bucket, the histograms are well formed.
    assert done.value("conveyor_task_run_seconds_bucket", task_type="noop", le="+Inf") == 5


async def test_lease_expiry_is_an_outcome_not_a_finish(api: Api) -> None:
    admin = await api.admin_headers()
    user = await api.user_headers("carol")
    _, node = await api.new_node(admin, node_id="n3", task_types=["noop"])
    task = await api.submit(user, max_attempts=2)
    await api.claim(node, lease_seconds=1)
    expired = await _until(
        api,
        lambda s: s.value("conveyor_task_outcomes_total", task_type="noop", outcome="expired") == 1,
        "the lease expiry counted",
    )
    assert expired.value("conveyor_leases_expired_total") == 1
    assert expired.series("conveyor_tasks_finished_total") == {}
    # The second lease runs out too, and that one is final: a timeout.
    await api.claim(node, lease_seconds=1)
    final = await _until(
        api,
        lambda s: s.value("conveyor_tasks_finished_total", task_type="noop", status="timeout") == 1,
        "the final expiry counted as a timeout",
    )
    assert final.value("conveyor_task_outcomes_total", task_type="noop", outcome="timeout") == 1
    assert final.value("conveyor_leases_expired_total") == 2
    r = await api.http.get(f"/tasks/{task['task_id']}", headers=user)
    assert r.json()["status"] == "timeout"


async def test_process_and_http_metrics_are_exported(api: Api) -> None:
    await api.http.get(api.base_url + "/healthz")
    got = await scrape(api.base_url)
    assert got.value("process_cpu_seconds_total") > 0
    assert got.value("process_resident_memory_bytes") > 0
    assert any(name == "python_info" for name, _ in got.samples)
    assert (
        got.value("conveyor_http_requests_total", method="GET", route="/healthz", status="2xx") == 1
    )
    # A duty that never failed still declares its counter.
    assert "conveyor_duty_tick_failures_total" in got.names


async def test_metrics_answer_while_the_database_is_gone(
    postgres_url: str, postgres_factory: Any, tmp_path: Path
) -> None:
    """The gauges keep their last reading (and its timestamp); the scrape answers."""
    async with serve_api(settings_for(postgres_url, tmp_path)) as api:
        user = await api.user_headers("dora")
        await api.submit(user)
        before = await _until(
            api, lambda s: s.value("conveyor_tasks_backlog", task_type="noop") == 1, "backlog 1"
        )
        await postgres_factory.drop(postgres_url)
        # Past the gauges' refresh interval: this scrape tries, and fails, to re-read.
        await asyncio.sleep(2.5)
        after = await scrape(api.base_url)
        assert after.value("conveyor_tasks_backlog", task_type="noop") == 1
        stamp = "conveyor_gauges_refreshed_timestamp_seconds"
        assert after.value(stamp) == before.value(stamp)
        assert after.value("process_cpu_seconds_total") > 0
