"""Task statuses, and who moves a task into and out of each one.

- ``pending``: created (``POST /tasks``), released by its node, recovered after a
  lease expired with attempts left, failed retryably with attempts left (its
  ``run_at`` then lies in the future: backoff), or reassigned by an admin. Leaves
  by a claim or start (to ``in_progress``), cancel, or a manual timeout.
- ``in_progress``: leased to exactly one node (``lease_owner``) until
  ``lease_expires_at``; progress and heartbeats extend the lease. Leaves by
  complete, fail, release, lease expiry, cancel, manual timeout or reassign.
- ``completed``, ``failed``, ``timeout``, ``cancelled``: terminal, never left. A retry
  makes a new task whose ``original_task_id`` names the old one.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.CANCELLED}
)
RETRYABLE_STATUSES = frozenset({TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.CANCELLED})


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"
    NODE = "node"


class NodeStatus(StrEnum):
    ACTIVE = "active"
    DRAINING = "draining"
    DISABLED = "disabled"


class NodeKind(StrEnum):
    PULL = "pull"
    PUSH = "push"


class NodeHealth(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    DEAD = "dead"
