"""Prefetch end to end: tasks claimed ahead of free slots, with real worker processes."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

from tests.server import Api, wait_until
from tests.worker.procs import count, runs, start_worker, submit_tasks, task_list

SHORT_LEASE = {"CONVEYOR_LEASE_SECONDS": "2", "CONVEYOR_HEARTBEAT_SECONDS": "0.5"}


async def _submit(api: Api, user: dict[str, str], tasks: list[dict[str, Any]]) -> list[str]:
    return await submit_tasks(api.http, user, tasks)


async def _tasks(api: Api, user: dict[str, str], ids: list[str]) -> list[dict[str, Any]]:
    return await task_list(api.http, user, ids)


async def _node(api: Api, admin: dict[str, str], node_id: str) -> tuple[str, str]:
    return await api.create_node(admin, node_id=node_id, task_types=["slow", "echo"])


async def test_one_slot_runs_prefetched_tasks_in_turn(api: Api, tmp_path: Path) -> None:
    admin, user = await api.admin_headers(), await api.user_headers("alice")
    ids = await _submit(api, user, [{"task_type": "slow", "params": {"seconds": 0.3}}] * 4)
    worker = start_worker(
        api.base_url,
        *(await _node(api, admin, "w")),
        tmp_path,
        "--concurrency",
        "1",
        "--prefetch",
        "3",
    )
    try:

        async def all_held() -> bool:
            held = [t for t in await _tasks(api, user, ids) if t["lease_owner"] == "w"]
            return len(held) == 4

        # One claim took every task: one running, three held for the slot.
        await wait_until(all_held, 30, "the worker holds all four tasks")

        async def all_done() -> bool:
            return all(t["status"] == "completed" for t in await _tasks(api, user, ids))

        await wait_until(all_done, 30, "the prefetched tasks ran in turn")
    finally:
        worker.proc.send_signal(signal.SIGTERM)
        assert await worker.wait_exit(20) == 0, worker.stderr()
    assert set(count(tmp_path, "end").values()) == {1}
    events = [event for event, _, _ in runs(tmp_path)]
    assert events == ["start", "end"] * 4, "one slot: one task running at a time"
    for task in await _tasks(api, user, ids):
        # A success is one run and no charged attempt, and its run is on record.
        assert (task["runs"], task["attempts"]) == (1, 0)
        (run,) = task["attempt_history"]
        assert (run["attempt"], run["node_id"], run["outcome"]) == (1, "w", "completed")
        assert run["error"] is None and run["started_at"] <= run["finished_at"]


async def test_prefetched_tasks_of_a_sigkilled_worker_come_back(api: Api, tmp_path: Path) -> None:
    admin, user = await api.admin_headers(), await api.user_headers("alice")
    ids = await _submit(api, user, [{"task_type": "slow", "params": {"seconds": 30}}] * 4)
    victim = start_worker(
        api.base_url,
        *(await _node(api, admin, "victim")),
        tmp_path,
        "--concurrency",
        "1",
        "--prefetch",
        "3",
        env=SHORT_LEASE,
    )
    try:

        async def all_held() -> bool:
            held = [t for t in await _tasks(api, user, ids) if t["lease_owner"] == "victim"]
            return len(held) == 4 and len(count(tmp_path, "start")) == 1

        await wait_until(all_held, 30, "the victim runs one task and holds three")

        async def load_reported() -> bool:
            node = (await api.http.get("/nodes/victim", headers=admin)).json()
            load = node.get("load") or {}
            return (load.get("running"), load.get("prefetched")) == (1, 3)

        # Its heartbeats tell running from prefetched tasks.
        await wait_until(load_reported, 10, "the victim's load: 1 running, 3 prefetched")
    finally:
        victim.proc.kill()
        victim.proc.wait()
    survivor = start_worker(
        api.base_url,
        *(await _node(api, admin, "survivor")),
        tmp_path,
        "--concurrency",
        "4",
        env=SHORT_LEASE,
    )
    try:

        async def all_back() -> bool:
            tasks = await _tasks(api, user, ids)
            return all(t["lease_owner"] == "survivor" for t in tasks)

        await wait_until(all_back, 30, "every task the victim held came back to the survivor")
    finally:
        survivor.proc.kill()
        survivor.proc.wait()
    for task in await _tasks(api, user, ids):
        assert task["status"] == "in_progress"
        # The server cannot tell a prefetched task from a started one: the expired
        # lease charges an attempt to each.
        assert task["attempts"] == 1


async def test_a_claim_answer_whose_lease_ran_out_while_paused_is_not_run(
    api: Api, tmp_path: Path
) -> None:
    """Issue 10: a worker paused (SIGSTOP) while its long-poll was answered must not run
    the task once resumed; the sweeper has given it to another node by then."""
    admin, user = await api.admin_headers(), await api.user_headers("alice")
    paused = start_worker(
        api.base_url,
        *(await _node(api, admin, "paused")),
        tmp_path,
        "--concurrency",
        "1",
        "--poll-wait",
        "20",
        env={"CONVEYOR_LEASE_SECONDS": "1", "CONVEYOR_HEARTBEAT_SECONDS": "30"},
    )
    other: Any = None
    try:
        await api.claims_parked(1)
        paused.proc.send_signal(signal.SIGSTOP)
        (task_id,) = await _submit(api, user, [{"task_type": "echo", "params": {"i": 1}}])

        async def leased_then_swept() -> bool:
            (task,) = await _tasks(api, user, [task_id])
            return task["status"] == "pending" and task["attempts"] == 1

        # The parked claim took the task (its answer waits in the paused worker's
        # socket), the lease ran out and the sweeper put the task back.
        await wait_until(leased_then_swept, 30, "the lease of the paused worker expired")
        other = start_worker(api.base_url, *(await _node(api, admin, "other")), tmp_path)

        async def done() -> bool:
            (task,) = await _tasks(api, user, [task_id])
            return bool(task["status"] == "completed")

        await wait_until(done, 30, "the other worker completed the task")
        paused.proc.send_signal(signal.SIGCONT)
        await wait_until(
            lambda: "lease ran out before the task could start" in paused.stderr(),
            30,
            "the resumed worker saw the expired lease",
        )
    finally:
        paused.proc.send_signal(signal.SIGCONT)
        paused.stop()
        if other is not None:
            other.proc.send_signal(signal.SIGTERM)
            await other.wait_exit(20)
    assert count(tmp_path, "run") == {task_id: 1}, "run once, by the other worker"
    (task,) = await _tasks(api, user, [task_id])
    assert task["result"]["node"] == "other" and task["status"] == "completed"


async def test_slow_tasks_are_not_hoarded_once_their_run_time_is_known(
    api: Api, tmp_path: Path
) -> None:
    """Default window (0.1 s of work per slot, at most 32): after its first batch a
    worker of 0.3 s tasks holds one task beside the running one, never more, so a
    second worker that joins late still gets its share of the queue."""
    admin, user = await api.admin_headers(), await api.user_headers("alice")
    ids = await _submit(api, user, [{"task_type": "slow", "params": {"seconds": 0.3}}] * 16)
    first = start_worker(
        api.base_url, *(await _node(api, admin, "first")), tmp_path, "--concurrency", "1"
    )
    late: Any = None
    try:

        async def first_batch_done() -> bool:
            done = [t for t in await _tasks(api, user, ids) if t["status"] == "completed"]
            return len(done) >= 5

        # Its first claim, before any run time is known, takes 1 + 4 (FIRST_GUESS).
        await wait_until(first_batch_done, 30, "the first worker ran its first batch")
        late = start_worker(
            api.base_url, *(await _node(api, admin, "late")), tmp_path, "--concurrency", "1"
        )
        held_most = 0
        while True:
            # One list request, one query: a consistent snapshot of the leases.
            r = await api.http.get(
                "/tasks", params={"status": "in_progress", "limit": 100}, headers=user
            )
            assert r.status_code == 200, r.text
            leased = r.json()["tasks"]
            held = [t for t in leased if t["lease_owner"] == "first"]
            held_most = max(held_most, len(held))
            if not leased and all(t["status"] == "completed" for t in await _tasks(api, user, ids)):
                break
            await asyncio.sleep(0.05)
    finally:
        first.proc.send_signal(signal.SIGTERM)
        assert await first.wait_exit(20) == 0, first.stderr()
        if late is not None:
            late.proc.send_signal(signal.SIGTERM)
            assert await late.wait_exit(20) == 0, late.stderr()
    assert 1 <= held_most <= 2, held_most
    ran_late = [
        t for t in await _tasks(api, user, ids) if t["attempt_history"][-1]["node_id"] == "late"
    ]
    assert len(ran_late) >= 2, "the late worker got a share of the queue"
