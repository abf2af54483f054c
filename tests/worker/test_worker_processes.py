"""The worker runtime end to end: real server, real ``conveyor worker`` processes."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx

from tests.server import Api, ServerProcess, process_settings, wait_until
from tests.worker.procs import TYPES, count, runs, start_worker, submit_tasks


async def _by_status(api: Api, admin: dict[str, str]) -> dict[str, int]:
    r = await api.http.get("/admin/stats", headers=admin)
    assert r.status_code == 200, r.text
    return dict(r.json()["tasks"]["by_status"])


async def _submit(api: Api, user: dict[str, str], tasks: list[dict[str, Any]]) -> list[str]:
    return await submit_tasks(api.http, user, tasks)


async def _node(api: Api, admin: dict[str, str], node_id: str) -> tuple[str, str]:
    return await api.create_node(admin, node_id=node_id, task_types=TYPES, max_concurrency=64)


async def test_two_workers_complete_every_task_once(api: Api, tmp_path: Path) -> None:
    admin, user = await api.admin_headers(), await api.user_headers("alice")
    ids = await _submit(api, user, [{"task_type": "echo", "params": {"i": i}} for i in range(300)])
    workers = [
        start_worker(
            api.base_url, *(await _node(api, admin, f"w{i}")), tmp_path, "--concurrency", "16"
        )
        for i in range(2)
    ]
    try:

        async def all_done() -> bool:
            return (await _by_status(api, admin))["completed"] == len(ids)

        await wait_until(all_done, 60, "300 tasks completed")
    finally:
        for w in workers:
            w.proc.send_signal(signal.SIGTERM)
        codes = [await w.wait_exit(20) for w in workers]
    assert codes == [0, 0]
    ran = count(tmp_path, "run")
    assert set(ran) == set(ids) and set(ran.values()) == {1}, "every task ran exactly once"
    nodes = {node for _, _, node in runs(tmp_path)}
    assert nodes == {"w0", "w1"}, "both workers took a share"
    r = await api.http.get(f"/tasks/{ids[0]}", headers=user)
    assert r.json()["result"]["echo"] == {"i": 0}


async def test_failures_carry_type_message_and_retry_policy(api: Api, tmp_path: Path) -> None:
    admin, user = await api.admin_headers(), await api.user_headers("alice")
    boom, refuse = await _submit(
        api,
        user,
        [
            {"task_type": "boom", "params": {"x": 7}, "max_attempts": 2},
            {"task_type": "refuse", "max_attempts": 5},
        ],
    )
    worker = start_worker(api.base_url, *(await _node(api, admin, "w")), tmp_path)
    try:

        async def both_failed() -> bool:
            return (await _by_status(api, admin))["failed"] == 2

        await wait_until(both_failed, 30, "both tasks failed")
    finally:
        worker.proc.send_signal(signal.SIGTERM)
        assert await worker.wait_exit(20) == 0
    first = (await api.http.get(f"/tasks/{boom}", headers=user)).json()
    assert first["attempts"] == 2, "a plain exception is retried until attempts run out"
    assert first["error"]["type"] == "ValueError" and first["error"]["message"] == "bad value 7"
    # Each run's story is kept: who ran it, how it ended, the handler's traceback.
    assert first["runs"] == 2
    history = first["attempt_history"]
    assert [(a["attempt"], a["node_id"], a["outcome"]) for a in history] == [
        (1, "w", "failed"),
        (2, "w", "failed"),
    ]
    for run in history:
        assert run["error"]["type"] == "ValueError"
        assert "Traceback (most recent call last)" in run["error"]["traceback"]
        assert run["error"]["traceback"].rstrip().endswith("ValueError: bad value 7")
    second = (await api.http.get(f"/tasks/{refuse}", headers=user)).json()
    assert second["attempts"] == 1, "a non-retryable HandlerError fails at once"
    assert second["error"]["code"] == "invalid_params"


async def test_sync_handlers_in_processes_report_progress(api: Api, tmp_path: Path) -> None:
    admin, user = await api.admin_headers(), await api.user_headers("alice")
    ids = await _submit(api, user, [{"task_type": "sync_slow", "params": {"seconds": 0.1}}] * 4)
    worker = start_worker(
        api.base_url,
        *(await _node(api, admin, "w")),
        tmp_path,
        "--sync-mode",
        "process",
        "--concurrency",
        "2",
    )
    try:

        async def done() -> bool:
            return (await _by_status(api, admin))["completed"] == 4

        await wait_until(done, 60, "sync tasks completed in worker processes")
    finally:
        worker.proc.send_signal(signal.SIGTERM)
        assert await worker.wait_exit(30) == 0, worker.stderr()
    for task_id in ids:
        task = (await api.http.get(f"/tasks/{task_id}", headers=user)).json()
        assert task["result"]["pid"] != worker.proc.pid, "ran in a child process"
        assert task["progress_seq"] == 1, "progress from the child reached the server"


async def test_sigkill_mid_task_other_worker_finishes_after_lease_expiry(
    api: Api, tmp_path: Path
) -> None:
    admin, user = await api.admin_headers(), await api.user_headers("alice")
    ids = await _submit(api, user, [{"task_type": "slow", "params": {"seconds": 1.0}}] * 6)
    short_lease = {"CONVEYOR_LEASE_SECONDS": "2", "CONVEYOR_HEARTBEAT_SECONDS": "0.5"}
    victim = start_worker(
        api.base_url,
        *(await _node(api, admin, "victim")),
        tmp_path,
        "--concurrency",
        "3",
        env=short_lease,
    )
    try:
        await wait_until(lambda: len(count(tmp_path, "start")) == 3, 30, "victim started 3 tasks")
    finally:
        victim.proc.kill()
        victim.proc.wait()
    survivor = start_worker(
        api.base_url,
        *(await _node(api, admin, "survivor")),
        tmp_path,
        "--concurrency",
        "6",
        env=short_lease,
    )
    try:

        async def all_done() -> bool:
            return (await _by_status(api, admin))["completed"] == len(ids)

        await wait_until(all_done, 60, "every task completed after the kill")
    finally:
        survivor.proc.send_signal(signal.SIGTERM)
        assert await survivor.wait_exit(20) == 0
    for task_id in ids:
        task = (await api.http.get(f"/tasks/{task_id}", headers=user)).json()
        assert task["status"] == "completed" and task["result"]["node"] == "survivor"
        # The lease expiry charged an attempt to the tasks the victim held: the three
        # it ran and the three it had prefetched (the server cannot tell them apart).
        assert task["attempts"] == 1
    assert set(count(tmp_path, "end").values()) == {1}, "no task ran to its end twice"


async def test_sigterm_lets_running_tasks_finish(api: Api, tmp_path: Path) -> None:
    admin, user = await api.admin_headers(), await api.user_headers("alice")
    ids = await _submit(api, user, [{"task_type": "slow", "params": {"seconds": 1.0}}] * 2)
    worker = start_worker(api.base_url, *(await _node(api, admin, "w")), tmp_path, "--grace", "20")
    await wait_until(lambda: len(count(tmp_path, "start")) == 2, 30, "both tasks started")
    worker.proc.send_signal(signal.SIGTERM)
    assert await worker.wait_exit(30) == 0, worker.stderr()
    for task_id in ids:
        assert (await api.http.get(f"/tasks/{task_id}", headers=user)).json()[
            "status"
        ] == "completed"


async def test_sigterm_after_grace_releases_unfinished_tasks(api: Api, tmp_path: Path) -> None:
    admin, user = await api.admin_headers(), await api.user_headers("alice")
    ids = await _submit(api, user, [{"task_type": "slow", "params": {"seconds": 60}}] * 2)
    worker = start_worker(api.base_url, *(await _node(api, admin, "w")), tmp_path, "--grace", "0.2")
    await wait_until(lambda: len(count(tmp_path, "start")) == 2, 30, "both tasks started")
    worker.proc.send_signal(signal.SIGTERM)
    assert await worker.wait_exit(30) == 0, worker.stderr()
    for task_id in ids:
        task = (await api.http.get(f"/tasks/{task_id}", headers=user)).json()
        assert task["status"] == "pending" and task["lease_owner"] is None
        assert task["attempts"] == 0, "a release charges no attempt"


async def test_workers_survive_a_server_restart(tmp_path: Path) -> None:
    env = process_settings(
        f"sqlite:///{tmp_path / 'restart.db'}",
        tmp_path / "data",
        CONVEYOR_SWEEPER_INTERVAL_SECONDS="0.5",
    )
    server = ServerProcess(env)
    await server.start()
    api = Api(server.url)
    workers = []
    try:
        admin, user = await api.admin_headers(), await api.user_headers("alice")
        ids = await _submit(api, user, [{"task_type": "slow", "params": {"seconds": 0.2}}] * 40)
        for i in range(2):
            node_id, secret = await _node(api, admin, f"w{i}")
            workers.append(
                start_worker(server.url, node_id, secret, tmp_path, "--concurrency", "2")
            )
        await wait_until(lambda: len(count(tmp_path, "end")) >= 6, 60, "some tasks done")
        server.stop()
        assert all(w.proc.poll() is None for w in workers), "workers outlive the server"
        server = ServerProcess(env, port=server.port)
        await server.start()

        async def all_done() -> bool:
            try:
                return (await _by_status(api, await api.admin_headers()))["completed"] == len(ids)
            except (httpx.TransportError, AssertionError):
                return False

        await wait_until(all_done, 90, "every task completed after the restart")
        for w in workers:
            w.proc.send_signal(signal.SIGTERM)
        assert [await w.wait_exit(30) for w in workers] == [0, 0]
    finally:
        for w in workers:
            w.stop()
        await api.close()
        server.stop()
