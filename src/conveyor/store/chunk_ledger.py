"""What a chunk's end does to its job and its money, in the transaction that ended it.

``store.tasks.apply_transition(s)`` calls ``chunks_ended`` with every task its
guarded writes moved, so every path that ends a chunk (a node's complete or fail,
a lease running out, a node declared dead, a cancel, an admin's timeout) pays or
releases through here, and only when its write won: a version-fenced duplicate
finish moves no row and so never reaches this. The ledger's unique (kind, ref)
index is the second fence: a chunk can be settled once, ever.

- completed: its price is settled from the customer's reservation to the owner of
  the node that ran it (the platform when the node has no owner), minus the fee
  the job was created with (ref ``chunk:<task_id>``);
- failed, timeout, or cancelled on its own: its price is released back to the
  customer (ref ``release:<task_id>``); a chunk cancelled by its job's cancel is
  released with the rest of that cancel (ref ``cancel:<job_id>``).

The job's row is locked after the tasks' rows, the order every path takes, by the
``UPDATE`` that takes its open count (``jobs.open_chunks``) down by the chunks
ended: of two last chunks finishing at once, the second waits for the first's
commit and reads the count the first left, so exactly one sees zero and ends the
job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.domain.jobs import Job, JobStatus, final_status, is_job_cancel
from conveyor.domain.states import TaskStatus
from conveyor.domain.tasks import Task
from conveyor.store import job_rows as job_store
from conveyor.store import ledger
from conveyor.store.schema import nodes

UNPAID_ENDS = frozenset({TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.CANCELLED})


async def chunks_ended(
    conn: AsyncConnection, moved: Iterable[Task], node_owners: Mapping[str, str | None]
) -> None:
    """``node_owners``: owners the caller already read in this transaction (a finishing
    node's own), so that paying its chunks asks the database for no one else's."""
    ended = [t for t in moved if t.job_id is not None and t.status.is_terminal]
    if not ended:
        return
    by_job: dict[str, list[Task]] = {}
    for task in ended:
        assert task.job_id is not None
        by_job.setdefault(task.job_id, []).append(task)
    paid_by = {t.lease_owner for t in ended if t.lease_owner and t.status is TaskStatus.COMPLETED}
    earners = {n: o for n, o in node_owners.items() if n in paid_by}
    earners.update(await _node_owners(conn, paid_by - set(earners)))
    # Each job's row locked and its open count taken down in one statement, in id
    # order so that two batches locking the same jobs never deadlock.
    jobs = [
        await job_store.close_chunks(conn, job_id, len(by_job[job_id])) for job_id in sorted(by_job)
    ]
    # All the batch's payments and releases at once: a fixed number of statements
    # however many chunks the batch ended.
    await ledger.settle_ends(
        conn, [end for job, _ in jobs for t in by_job[job.id] if (end := _end(job, t, earners))]
    )
    for job, still_open in jobs:
        # The count runs once, at the end; counting every chunk on each finish made a
        # job's finishes cost O(chunks).
        if job.status is JobStatus.RUNNING and still_open <= 0:
            status = final_status(await job_store.chunk_counts(conn, job.id))
            if status is not None:
                await job_store.finish_job(conn, job.id, status, ended[0].updated_at)


def _end(job: Job, task: Task, earners: dict[str, str | None]) -> ledger.ChunkEnd | None:
    """What the chunk's end does to its price; None: nothing (free, or released with
    its job's cancel)."""
    price = job.price_per_chunk
    if price == 0:
        return None
    if task.status is TaskStatus.COMPLETED:
        return ledger.ChunkEnd(
            job.owner_id,
            price,
            f"chunk:{task.id}",
            paid=True,
            fee_percent=job.fee_percent,
            earner_id=earners.get(task.lease_owner or ""),
        )
    if task.status in UNPAID_ENDS and not (
        task.status is TaskStatus.CANCELLED and is_job_cancel(task.error)
    ):
        return ledger.ChunkEnd(job.owner_id, price, f"release:{task.id}", paid=False)
    return None


async def _node_owners(conn: AsyncConnection, node_ids: set[str]) -> dict[str, str | None]:
    if not node_ids:
        return {}
    stmt = select(nodes.c.id, nodes.c.owner_id).where(nodes.c.id.in_(sorted(node_ids)))
    return {row.id: row.owner_id for row in await conn.execute(stmt)}
