"""The task store's conformance suite: the same cases on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from conveyor.domain.states import TaskStatus
from conveyor.domain.tasks import NewTask
from conveyor.domain.transitions import Command, Event, claim_changes, decide, effective_lease
from conveyor.errors import Conflict
from conveyor.store import claim as claim_store
from conveyor.store import progress as progress_store
from conveyor.store import tasks as task_store
from conveyor.store.database import Database
from conveyor.store.tasks import TaskFilter

NOW = datetime.now(UTC).replace(microsecond=0)


def new_task(**overrides: object) -> NewTask:
    values: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "task_type": "noop",
        "params": {"n": 1},
        "metadata": {},
        "owner_id": "u1",
        "assigned_node_id": None,
        "priority": 0,
        "max_attempts": 3,
        "run_at": NOW,
        "timeout_seconds": None,
    }
    values.update(overrides)
    return NewTask(**values)  # type: ignore[arg-type]


async def insert(db: Database, *items: NewTask) -> None:
    async with db.write() as conn:
        await task_store.insert_tasks(conn, list(items), NOW)


async def claim(
    db: Database,
    node: str,
    limit: int = 10,
    types: tuple[str, ...] = (),
    labels: dict[str, str] | None = None,
    now: datetime = NOW,
    capacity: int = 1000,
) -> list[str]:
    req = claim_store.ClaimRequest(node, types, labels or {}, limit, 30, capacity)
    async with db.write() as conn:
        return [t.id for t in await claim_store.claim(conn, req, now)]


async def test_insert_round_trip_keeps_json_and_times(db: Database) -> None:
    item = new_task(
        params={"nested": {"list": [1, 2.5, "x", None, True]}},
        metadata={"k": "v"},
        required_labels={"gpu": "true"},
    )
    await insert(db, item)
    async with db.read() as conn:
        task = await task_store.get_task(conn, item.id)
    assert task is not None
    assert task.params == item.params and task.metadata == {"k": "v"}
    assert task.required_labels == {"gpu": "true"}
    assert task.status is TaskStatus.PENDING and task.version == 1
    assert task.run_at == NOW and task.run_at.tzinfo is not None


async def test_duplicate_id_is_a_conflict_and_changes_nothing(db: Database) -> None:
    item = new_task()
    await insert(db, item)
    with pytest.raises(Conflict):
        await insert(db, new_task(), new_task(id=item.id, params={"other": True}))
    async with db.read() as conn:
        page, _ = await task_store.list_tasks(conn, TaskFilter(), None, 10)
    assert [t.id for t in page] == [item.id] and page[0].params == {"n": 1}


async def test_claim_order_types_pins_schedule_and_labels(db: Database) -> None:
    low, high = new_task(priority=0), new_task(priority=5)
    other_type = new_task(task_type="email")
    pinned_elsewhere = new_task(assigned_node_id="n2")
    pinned_here = new_task(assigned_node_id="n1")
    later = new_task(run_at=NOW + timedelta(seconds=60))
    gpu = new_task(required_labels={"gpu": "true"})
    await insert(db, low, high, other_type, pinned_elsewhere, pinned_here, later, gpu)
    got = await claim(db, "n1", types=("noop",))
    assert got[0] == high.id
    assert set(got) == {low.id, high.id, pinned_here.id}
    assert await claim(db, "n3", labels={"gpu": "false"}) == [other_type.id]
    assert await claim(db, "n3", labels={"gpu": "true", "x": "y"}) == [gpu.id]
    assert await claim(db, "n1", now=NOW + timedelta(seconds=61)) == [later.id]


async def test_claim_writes_what_the_state_machine_says(db: Database) -> None:
    """PostgreSQL claims in one SQL statement; its row must match claim_changes."""
    plain, timed = new_task(), new_task(timeout_seconds=5)
    await insert(db, plain, timed)
    later = NOW + timedelta(seconds=3)
    await claim(db, "n1", now=later)
    async with db.read() as conn:
        for item in (plain, timed):
            task = await task_store.get_task(conn, item.id)
            assert task is not None
            lease = effective_lease(item.timeout_seconds, 30)
            expected = claim_changes("n1", lease, later)
            assert {key: getattr(task, key) for key in expected} == expected
            assert (task.version, task.started_at) == (2, later)


async def test_claim_stops_at_the_node_capacity(db: Database) -> None:
    await insert(db, *[new_task() for _ in range(6)])
    assert len(await claim(db, "n1", limit=2, capacity=3)) == 2
    assert len(await claim(db, "n1", limit=5, capacity=3)) == 1
    assert await claim(db, "n1", limit=5, capacity=3) == []
    assert len(await claim(db, "n2", limit=5, capacity=2)) == 2


async def test_guarded_write_refuses_a_stale_version(db: Database) -> None:
    item = new_task()
    await insert(db, item)
    (claimed,) = await claim(db, "n1")
    async with db.write() as conn:
        task = await task_store.get_task(conn, claimed)
        assert task is not None
        tr = decide(task, Command(Event.COMPLETE, node_id="n1", version=task.version), NOW)
        assert await task_store.apply_transition(conn, tr) is not None
        assert await task_store.apply_transition(conn, tr) is None


async def test_leases_expire_extend_and_progress_numbers(db: Database) -> None:
    await insert(db, new_task(), new_task(timeout_seconds=5))
    await claim(db, "n1")
    async with db.write() as conn:
        held = await task_store.leased_by(conn, "n1")
        assert sorted(t.lease_seconds or 0 for t in held) == [5, 30]
        assert await task_store.expired_leases(conn, NOW + timedelta(seconds=6), 10)
        later = NOW + timedelta(seconds=20)
        assert await task_store.extend_leases(conn, "n1", held, later) == {t.id for t in held}
        assert not await task_store.expired_leases(conn, later + timedelta(seconds=4), 10)
        seqs = [await task_store.bump_progress(conn, held[0].id, "n1", later) for _ in range(3)]
        assert seqs == [1, 2, 3]
        bumped = await task_store.get_task(conn, held[0].id)
        assert bumped is not None
        assert bumped.lease_expires_at == later + timedelta(seconds=held[0].lease_seconds or 0)
        assert await task_store.bump_progress(conn, held[0].id, "n2", later) is None
        for seq in seqs:
            await progress_store.append(conn, held[0].id, seq, {"pct": seq}, later)
        history = await progress_store.history(conn, held[0].id, 1, 10)
    assert [p.seq for p in history] == [2, 3]


async def test_list_pages_with_cursor_and_filters(db: Database) -> None:
    items = [new_task(owner_id="u1" if i % 2 else "u2") for i in range(7)]
    for i, item in enumerate(items):
        async with db.write() as conn:
            await task_store.insert_tasks(conn, [item], NOW + timedelta(seconds=i))
    seen: list[str] = []
    cursor = None
    async with db.read() as conn:
        while True:
            page, cursor = await task_store.list_tasks(conn, TaskFilter(owner_id="u1"), cursor, 2)
            seen.extend(t.id for t in page)
            if cursor is None:
                break
    assert seen == [t.id for t in reversed(items) if t.owner_id == "u1"]


async def test_concurrent_claimers_get_disjoint_sets(db: Database) -> None:
    """Eight claimers on their own connections drain 2,000 tasks, none twice."""
    total = 2000
    for start in range(0, total, 500):
        await insert(db, *[new_task() for _ in range(start, start + 500)])

    async def claimer(node: str) -> list[str]:
        mine: list[str] = []
        while True:
            got = await claim(db, node, limit=25)
            if not got:
                return mine
            mine.extend(got)

    results = await asyncio.gather(*[claimer(f"n{i}") for i in range(8)])
    everything = [task_id for ids in results for task_id in ids]
    assert len(everything) == total
    assert len(set(everything)) == total
    async with db.read() as conn:
        counts = await task_store.count_by_status(conn)
    assert counts == {"in_progress": total}
