"""Events gathered during a unit of work and published only after it commits.

Publishing inside the transaction would let a subscriber see a change that is then
rolled back; collecting them here and flushing after commit makes the bus say only
what the database already holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from conveyor.domain.states import TaskStatus
from conveyor.domain.tasks import Progress, Task
from conveyor.realtime.bus import EventBus
from conveyor.realtime.wakeup import WAKE_CHANNEL

FIREHOSE = "tasks:firehose"


def task_channel(task_id: str) -> str:
    return f"task:{task_id}"


def job_channel(job_id: str) -> str:
    return f"job:{job_id}"


def status_payload(task: Task) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "task_id": task.id,
        "task_type": task.task_type,
        "status": task.status.value,
        "version": task.version,
        "timestamp": task.updated_at.isoformat(),
    }
    if task.status is TaskStatus.COMPLETED:
        payload["result"] = task.result
    if task.error is not None:
        payload["error"] = task.error
    if task.job_id is not None:
        payload["job_id"] = task.job_id
        payload["chunk_index"] = task.chunk_index
        payload["node_id"] = task.lease_owner
    return payload


def progress_payload(progress: Progress) -> dict[str, Any]:
    return {
        "task_id": progress.task_id,
        "seq": progress.seq,
        "data": progress.data,
        "timestamp": progress.created_at.isoformat(),
    }


@dataclass
class Outbox:
    messages: list[tuple[list[str], dict[str, Any]]] = field(default_factory=list)
    wake_types: set[str] = field(default_factory=set)

    def status_changed(self, tasks: Iterable[Task]) -> None:
        for task in tasks:
            message = {"event": "status_change", **status_payload(task)}
            channels = [task_channel(task.id), FIREHOSE]
            if task.job_id is not None:
                channels.append(job_channel(task.job_id))
            self.messages.append((channels, message))
            if task.status is TaskStatus.PENDING:
                self.wake_types.add(task.task_type)
            elif task.job_id is not None and task.status is not TaskStatus.IN_PROGRESS:
                # A chunk that ended freed one of its job's slots: claimers parked
                # on the job's full slots may take the next chunk now.
                self.wake_types.add(task.task_type)

    def job_changed(self, job_id: str, status: str) -> None:
        self.messages.append(([job_channel(job_id)], {"event": "job", "status": status}))

    def progressed(self, progress: Progress) -> None:
        message = {"event": "progress", **progress_payload(progress)}
        self.messages.append(([task_channel(progress.task_id)], message))

    def created(self, tasks: Iterable[Task]) -> None:
        self.wake_types.update(task.task_type for task in tasks)

    def flush(self, bus: EventBus) -> None:
        """Hand everything to the bus's background sender, in one piece."""
        batch = list(self.messages)
        if self.wake_types:
            batch.append(([WAKE_CHANNEL], {"types": sorted(self.wake_types)}))
        self.messages.clear()
        self.wake_types.clear()
        bus.post(batch)
