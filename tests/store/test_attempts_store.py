"""Attempt history in the store, on SQLite and PostgreSQL: written with the transition
that ends a run, in its transaction, and only when that transition won."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from conveyor.domain.states import TaskStatus
from conveyor.domain.tasks import Task
from conveyor.domain.transitions import Command, Event, RetryPolicy, Transition, decide
from conveyor.store import attempts as attempt_store
from conveyor.store import tasks as task_store
from conveyor.store.database import Database
from tests.store.test_tasks_store import NOW, claim, insert, new_task

ERROR = {"code": "handler_exception", "type": "ValueError", "message": "m", "traceback": "tb"}
POLICY = RetryPolicy(0.0, 0.0)


async def read(db: Database, task_id: str) -> Task:
    async with db.read() as conn:
        task = await task_store.get_task(conn, task_id)
    assert task is not None
    return task


async def history(db: Database, task_id: str) -> list[tuple[int, str | None, str, object]]:
    async with db.read() as conn:
        rows = await attempt_store.history(conn, task_id)
    return [(a.number, a.node_id, a.outcome, a.error) for a in rows]


def finish(task: Task, event: Event, **cmd: Any) -> Transition:
    command = Command(event, node_id=task.lease_owner, version=task.version, **cmd)
    return decide(task, command, NOW + timedelta(seconds=1), POLICY)


async def test_a_batch_of_finishes_records_each_run(db: Database) -> None:
    items = [new_task() for _ in range(4)]
    await insert(db, *items)
    assert len(await claim(db, "n1")) == 4
    held = [await read(db, item.id) for item in items]
    transitions = [
        finish(held[0], Event.FAIL, error=ERROR),
        finish(held[1], Event.COMPLETE, result={"ok": True}),
        finish(held[2], Event.RELEASE),
        # Stale: somebody moved the task first, so neither the task nor its history changes.
        finish(replace(held[3], version=held[3].version - 1), Event.COMPLETE),
    ]
    async with db.write() as conn:
        done = await task_store.apply_transitions(conn, transitions)
    assert set(done) == {held[0].id, held[1].id, held[2].id}
    assert await history(db, held[0].id) == [(1, "n1", "failed", ERROR)]
    assert await history(db, held[1].id) == [(1, "n1", "completed", None)]
    assert await history(db, held[2].id) == [(1, "n1", "released", None)]
    assert await history(db, held[3].id) == []
    failed = await read(db, held[0].id)
    assert (failed.status, failed.runs, failed.attempts) == (TaskStatus.PENDING, 1, 1)
    assert (await read(db, held[3].id)).runs == 0


async def test_runs_are_numbered_across_nodes_with_times(db: Database) -> None:
    item = new_task(max_attempts=5)
    await insert(db, item)
    for node, event in (("n1", Event.FAIL), ("n2", Event.EXPIRE), ("n1", Event.COMPLETE)):
        assert await claim(db, node, now=NOW + timedelta(seconds=10)) == [item.id]
        held = await read(db, item.id)
        async with db.write() as conn:
            assert await task_store.apply_transition(conn, finish(held, event, error=ERROR))
    found = await history(db, item.id)
    assert [(n, node, outcome) for n, node, outcome, _ in found] == [
        (1, "n1", "failed"),
        (2, "n2", "lease_expired"),
        (3, "n1", "completed"),
    ]
    assert found[1][3] == {"code": "lease_expired", "message": "lease of n2 expired"}
    async with db.read() as conn:
        attempts = await attempt_store.history(conn, item.id)
    assert all(a.started_at == NOW + timedelta(seconds=10) for a in attempts)
    assert all(a.finished_at == NOW + timedelta(seconds=1) for a in attempts)
    task = await read(db, item.id)
    assert (task.runs, task.runs_started, task.attempts) == (3, 3, 2)


async def test_history_is_part_of_the_transition_transaction(db: Database) -> None:
    item = new_task()
    await insert(db, item)
    await claim(db, "n1")
    held = await read(db, item.id)
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await task_store.apply_transition(conn, finish(held, Event.FAIL, error=ERROR))
            raise RuntimeError("the request failed after the write")
    assert await history(db, item.id) == []
    assert (await read(db, item.id)).status is TaskStatus.IN_PROGRESS


async def test_racing_finishes_record_the_run_once(db: Database) -> None:
    item = new_task()
    await insert(db, item)
    await claim(db, "n1")
    held = await read(db, item.id)

    async def attempt(event: Event) -> bool:
        async with db.write() as conn:
            tr = finish(held, event, error=ERROR, result={"ok": 1})
            return await task_store.apply_transition(conn, tr) is not None

    won = await asyncio.gather(*(attempt(e) for e in [Event.COMPLETE, Event.FAIL] * 4))
    assert sum(won) == 1
    (only,) = await history(db, item.id)
    assert only[0] == 1 and (await read(db, item.id)).runs == 1
