"""Seed 004's task tracker on the native services: its workers, its owner, its timeouts.

- Every task made through the profile is owned by one principal, ``OWNER``: the
  seed has no users, and the profile's API key stands for that one client.
- A ``workerId`` is a pull node of its own (``w004.<workerId>``), registered the
  first time it claims or starts: capacity, eligibility and "one holder" are the
  node's, so a 004 worker and a native worker never hold the same task.
- ``timeoutAt`` is fixed at registration: ``created_at + timeout_seconds``. A task
  past it, pending or running, is timed out by ``process_timeouts``, and before it
  is answered or handed out; the lease sweeper also times out a task whose worker
  went silent for ``timeout_seconds`` (its single attempt).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from conveyor.domain.access import Principal
from conveyor.domain.nodes import Node
from conveyor.domain.states import Role, TaskStatus
from conveyor.domain.tasks import Task
from conveyor.errors import Conflict, InvalidInput, NotFound
from conveyor.services.nodes import NodeService, NodeSpec
from conveyor.services.runtime import Runtime
from conveyor.services.tasks import TaskService
from conveyor.store.tasks import TaskFilter

OWNER = Principal("compat-004", Role.USER, "seed 004 profile")
# Registers the profile's worker nodes and applies manual timeouts; never answers.
_OPERATOR = Principal("compat-004", Role.ADMIN, "seed 004 profile")
NODE_PREFIX = "w004."
WORKER_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,59}$")
PAGE = 500
MAX_LINEAGE = 1000


def timeout_at(task: Task) -> datetime | None:
    if task.timeout_seconds is None:
        return None
    return task.created_at + timedelta(seconds=task.timeout_seconds)


def worker_of(node_id: str | None) -> str | None:
    if node_id is None:
        return None
    return node_id.removeprefix(NODE_PREFIX)


class TrackerService:
    def __init__(self, rt: Runtime, tasks: TaskService, nodes: NodeService) -> None:
        self.rt = rt
        self.tasks = tasks
        self.nodes = nodes

    async def worker_node(self, worker_id: str) -> Node:
        """The node standing for ``worker_id``, registered on first use."""
        if not WORKER_ID.match(worker_id):
            raise InvalidInput(
                "invalid workerId",
                details=[{"field": "workerId", "message": "1-59 of A-Za-z0-9_.:-"}],
            )
        node_id = NODE_PREFIX + worker_id
        try:
            return await self.nodes.get(_OPERATOR, node_id)
        except NotFound:
            pass
        try:
            node, _secret = await self.nodes.register(
                _OPERATOR, NodeSpec(name=worker_id, node_id=node_id, labels={"compat": "004"})
            )
            return node
        except Conflict:
            # Two first claims of one worker raced; the other registered it.
            return await self.nodes.get(_OPERATOR, node_id)

    async def holder(self, task: Task) -> Node:
        """The node running ``task``: progress and finishes are sent on its behalf."""
        if task.status is not TaskStatus.IN_PROGRESS or task.lease_owner is None:
            raise Conflict(f"task {task.id} is {task.status.value}, not in progress")
        return await self.nodes.get(_OPERATOR, task.lease_owner)

    async def get(self, task_id: str) -> Task:
        """One of the profile's tasks, timed out first if its ``timeoutAt`` has passed."""
        task = await self.tasks.get(OWNER, task_id)
        return await self._expire(task, self.rt.clock.now())

    async def _expire(self, task: Task, now: datetime) -> Task:
        due = timeout_at(task)
        if task.status.is_terminal or due is None or due > now:
            return task
        try:
            return await self.tasks.timeout(_OPERATOR, task.id, "timeoutAt passed")
        except Conflict:
            return await self.tasks.get(OWNER, task.id)

    async def timed_out(self, task: Task) -> bool:
        """Whether a task just handed out had already passed its ``timeoutAt`` (now timed out)."""
        expired = await self._expire(task, self.rt.clock.now())
        return expired.status is TaskStatus.TIMEOUT

    async def timeout(self, task_id: str) -> Task:
        await self.tasks.get(OWNER, task_id)  # the profile's own tasks only
        return await self.tasks.timeout(_OPERATOR, task_id, "timed out by request")

    async def process_timeouts(self) -> int:
        """Time out every open task of the profile past its ``timeoutAt``."""
        now = self.rt.clock.now()
        flt = TaskFilter(status=[TaskStatus.PENDING, TaskStatus.IN_PROGRESS])
        overdue: list[Task] = []
        cursor: str | None = None
        while True:
            page, cursor = await self.tasks.list_tasks(OWNER, flt, cursor, PAGE)
            overdue += [t for t in page if (due := timeout_at(t)) is not None and due <= now]
            if cursor is None:
                break
        count = 0
        for task in overdue:
            if (await self._expire(task, now)).status is TaskStatus.TIMEOUT:
                count += 1
        return count

    async def retry_count(self, task: Task) -> int:
        """How many retries lie behind this task (its lineage's length)."""
        count, current = 0, task
        while current.original_task_id is not None and count < MAX_LINEAGE:
            count += 1
            try:
                current = await self.tasks.get(OWNER, current.original_task_id)
            except NotFound:
                break
        return count
