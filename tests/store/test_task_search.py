"""The dashboard's searches in the store, on SQLite and PostgreSQL: task id prefix,
type by substring (any case, wildcards taken literally), and the pending queue by type."""

from __future__ import annotations

from datetime import timedelta

from conveyor.store import queue_stats
from conveyor.store import tasks as task_store
from conveyor.store.database import Database
from conveyor.store.tasks import TaskFilter
from tests.store.test_tasks_store import NOW, claim, insert, new_task


async def listed(db: Database, flt: TaskFilter) -> set[str]:
    async with db.read() as conn:
        page, _ = await task_store.list_tasks(conn, flt, None, 100)
    return {t.id for t in page}


async def test_id_prefix_and_type_substring(db: Database) -> None:
    await insert(
        db,
        new_task(id="abc-1", task_type="resize_image"),
        new_task(id="abc-2", task_type="Image.Thumbnail"),
        new_task(id="abd-3", task_type="transcode"),
        new_task(id="a_c-4", task_type="resize%x"),
    )
    assert await listed(db, TaskFilter(id_prefix="abc")) == {"abc-1", "abc-2"}
    assert await listed(db, TaskFilter(id_prefix="abd-3")) == {"abd-3"}
    assert await listed(db, TaskFilter(id_prefix="zzz")) == set()
    # "_" and "%" are characters to find, not LIKE wildcards.
    assert await listed(db, TaskFilter(id_prefix="a_c")) == {"a_c-4"}
    assert await listed(db, TaskFilter(type_contains="%")) == {"a_c-4"}
    assert await listed(db, TaskFilter(type_contains="image")) == {"abc-1", "abc-2"}
    assert await listed(db, TaskFilter(type_contains="IMAGE.")) == {"abc-2"}
    both = TaskFilter(id_prefix="abc", type_contains="resize")
    assert await listed(db, both) == {"abc-1"}
    # Combined with the filters that were there before, and with ownership.
    assert await listed(db, TaskFilter(owner_id="someone-else", id_prefix="abc")) == set()


async def test_pending_queue_by_type(db: Database) -> None:
    await insert(
        db,
        new_task(id="old", task_type="a", run_at=NOW - timedelta(seconds=90)),
        new_task(id="new", task_type="a", run_at=NOW - timedelta(seconds=10)),
        new_task(id="later", task_type="a", run_at=NOW + timedelta(hours=1)),
        new_task(id="b1", task_type="b", run_at=NOW - timedelta(seconds=5)),
        new_task(id="delayed", task_type="c", run_at=NOW + timedelta(minutes=5)),
    )
    assert await claim(db, "n1", types=("b",)) == ["b1"]
    async with db.read() as conn:
        depths = await queue_stats.pending_by_type(conn, NOW)
    by_type = {d.task_type: d for d in depths}
    assert set(by_type) == {"a", "c"}  # b's only task is running, not queued
    assert (by_type["a"].pending, by_type["a"].ready) == (3, 2)
    assert by_type["a"].oldest_ready_at == NOW - timedelta(seconds=90)
    assert by_type["a"].oldest_ready_at.tzinfo is not None
    # Only delayed work: queued, none of it due, so no age yet.
    assert (by_type["c"].pending, by_type["c"].ready, by_type["c"].oldest_ready_at) == (1, 0, None)
