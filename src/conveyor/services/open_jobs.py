"""What a worker node sees of the marketplace: the running jobs it could take chunks of.

Seed 001's workers poll the task list before they ask for chunks. A node is shown
only the jobs the claim would give it chunks of (running; its types; the labels
every chunk requires, runtime included; a customer's own nodes only where the job
allows them), and the caller of this shows only the figures a provider needs.
"""

from __future__ import annotations

from conveyor.domain.jobs import RUNTIME_LABEL_VALUE, Job, JobStatus, runtime_label
from conveyor.domain.nodes import Node
from conveyor.errors import NotFound
from conveyor.services.jobs import JobService, JobView
from conveyor.services.runtime import Runtime
from conveyor.store import job_rows
from conveyor.store import jobs as job_store
from conveyor.store.jobs import JobFilter

PAGE = 200
MAX_PAGES = 5


def chunk_labels(job: Job) -> dict[str, str]:
    labels = dict(job.required_labels)
    if job.code_artifact_id is not None and job.runtime is not None:
        labels[runtime_label(job.runtime)] = RUNTIME_LABEL_VALUE
    return labels


def may_work_for(node: Node, job: Job, *, ended_too: bool = False) -> bool:
    """Whether the claim could hand this node chunks of this job (but for free slots);
    with ``ended_too``, whether it could have while the job ran."""
    if not (ended_too or job.status is JobStatus.RUNNING) or not node.can_claim:
        return False
    if node.claimable_types([job.task_type]) is None or not node.has_labels(chunk_labels(job)):
        return False
    return node.owner_id is None or node.owner_id != job.owner_id or job.allow_own_nodes


class OpenJobs:
    def __init__(self, rt: Runtime, jobs: JobService) -> None:
        self.rt = rt
        self.jobs = jobs

    async def for_node(self, node: Node, limit: int = 100) -> list[JobView]:
        """Newest first, at most ``limit``, from the newest ``MAX_PAGES`` pages of
        running jobs (a duty-free read: nothing here runs on the claim path)."""
        found: list[Job] = []
        cursor: str | None = None
        async with self.rt.db.read() as conn:
            for _ in range(MAX_PAGES):
                flt = JobFilter(status=[JobStatus.RUNNING])
                page, cursor = await job_store.list_jobs(conn, flt, cursor, PAGE)
                found += [job for job in page if may_work_for(node, job)]
                if cursor is None or len(found) >= limit:
                    break
        return [await self.jobs.view(job.id) for job in found[:limit]]

    async def get(self, node: Node, job_id: str, *, ended_too: bool = False) -> JobView:
        """A job the node may work for (or, ``ended_too``, might have); else 404."""
        async with self.rt.db.read() as conn:
            job = await job_rows.get_job(conn, job_id)
        if job is None or not may_work_for(node, job, ended_too=ended_too):
            raise NotFound(f"task {job_id} not found")
        return await self.jobs.view(job_id)
