"""The claim's cost stays flat as the queue grows: no sequential scan of ``tasks``.

Checked on the plan PostgreSQL actually ran, through the transaction's own table
statistics (``pg_stat_xact_user_tables``), with a queue large enough and analysed
so the planner would pick a sequential scan or a hash join if the SQL allowed it
(an earlier ``UPDATE … FROM pick`` did: it hash-joined every pending task).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.settings import normalise_database_url
from conveyor.store import claim as claim_store
from conveyor.store import tasks as task_store
from conveyor.store.database import Database
from tests.store.test_tasks_store import NOW, new_task

pytestmark = pytest.mark.postgres
QUEUE = 4000


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(normalise_database_url(postgres_url))
    try:
        yield database
    finally:
        await database.dispose()


async def _scans(conn: AsyncConnection) -> tuple[int, int]:
    row = (
        await conn.execute(
            text(
                "SELECT coalesce(seq_scan, 0), coalesce(idx_scan, 0) "
                "FROM pg_stat_xact_user_tables WHERE relname = 'tasks'"
            )
        )
    ).one()
    return int(row[0]), int(row[1])


@pytest.mark.parametrize("types", [("common",), ("rare",), ()])
async def test_a_claim_never_scans_the_whole_queue(pg: Database, types: tuple[str, ...]) -> None:
    backlog = [
        new_task(task_type="common", run_at=NOW - timedelta(seconds=1)) for _ in range(QUEUE)
    ]
    backlog += [new_task(task_type="rare") for _ in range(3)]
    async with pg.write() as conn:
        await task_store.insert_tasks(conn, backlog, NOW)
    async with pg.write() as conn:
        await conn.execute(text("ANALYZE tasks"))
    request = claim_store.ClaimRequest("n1", types, {}, limit=5, lease_seconds=30, capacity=50)
    async with pg.write() as conn:
        claimed = await claim_store.claim(conn, request, NOW)
        seq_scans, index_scans = await _scans(conn)
    assert len(claimed) == (3 if types == ("rare",) else 5)
    assert seq_scans == 0, "the claim read the whole tasks table"
    assert index_scans > 0
