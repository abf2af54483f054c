"""Moves the job tests share: fund a wallet, create a job, read balances and the ledger."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from conveyor.settings import normalise_database_url
from conveyor.store import ledger
from conveyor.store.database import Database
from conveyor.store.schema import jobs, ledger_transactions, tasks
from tests.server import Api

Headers = dict[str, str]


async def fund(api: Api, headers: Headers, amount: int) -> None:
    r = await api.http.post("/wallet/deposit", json={"amount": amount}, headers=headers)
    assert r.status_code in (200, 201), r.text


async def wallet(api: Api, headers: Headers) -> dict[str, Any]:
    r = await api.http.get("/wallet", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def create_job(api: Api, headers: Headers, **body: Any) -> dict[str, Any]:
    body.setdefault("task_type", "noop")
    body.setdefault("max_concurrency", 5)
    body.setdefault("price_per_chunk", 10)
    r = await api.http.post("/jobs", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def job(api: Api, headers: Headers, job_id: str) -> dict[str, Any]:
    r = await api.http.get(f"/jobs/{job_id}", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def complete(api: Api, node: Headers, task: dict[str, Any], result: Any = None) -> Any:
    body = {"version": task["version"], "result": result or {"results": task["params"]["items"]}}
    return await api.http.post(f"/tasks/{task['task_id']}/complete", json=body, headers=node)


async def fail(api: Api, node: Headers, task: dict[str, Any], retryable: bool = False) -> Any:
    body = {"version": task["version"], "error": {"message": "boom"}, "retryable": retryable}
    return await api.http.post(f"/tasks/{task['task_id']}/fail", json=body, headers=node)


class Ledger:
    """Direct reads of the database the server under test uses."""

    def __init__(self, database_url: str) -> None:
        self.db = Database(normalise_database_url(database_url))

    async def close(self) -> None:
        await self.db.dispose()

    async def audit(self) -> ledger.Audit:
        async with self.db.read() as conn:
            return await ledger.audit(conn)

    async def refs(self, kind: str) -> list[str]:
        async with self.db.read() as conn:
            stmt = select(ledger_transactions.c.ref).where(ledger_transactions.c.kind == kind)
            return sorted((await conn.execute(stmt)).scalars())

    async def counts(self) -> tuple[int, int, int]:
        """Jobs, chunk tasks and ledger transactions stored."""
        async with self.db.read() as conn:
            n_jobs = (await conn.execute(select(func.count()).select_from(jobs))).scalar_one()
            chunks = (
                await conn.execute(
                    select(func.count()).select_from(tasks).where(tasks.c.job_id.is_not(None))
                )
            ).scalar_one()
            txs = (
                await conn.execute(select(func.count()).select_from(ledger_transactions))
            ).scalar_one()
        return int(n_jobs), int(chunks), int(txs)

    async def in_progress(self, job_id: str) -> int:
        async with self.db.read() as conn:
            stmt = (
                select(func.count())
                .select_from(tasks)
                .where(tasks.c.job_id == job_id, tasks.c.status == "in_progress")
            )
            return int((await conn.execute(stmt)).scalar_one())


def assert_sound(audit: ledger.Audit) -> None:
    assert audit.total == 0
    assert audit.unbalanced_transactions == []
    assert audit.drifted_accounts == []
    assert audit.negative_accounts == []
