"""The node record: pull workers and push servers in one registry (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conveyor.domain.states import NodeHealth, NodeKind, NodeStatus


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    name: str
    kind: NodeKind
    url: str | None
    task_types: list[str]
    labels: dict[str, str]
    max_concurrency: int
    owner_id: str | None
    status: NodeStatus
    health: NodeHealth
    secret_hash: str
    credential_version: int
    last_seen: datetime | None
    load: dict[str, Any] | None
    consecutive_failures: int
    next_check_at: datetime | None
    created_at: datetime
    updated_at: datetime
    secret_version: int = 1

    @property
    def can_claim(self) -> bool:
        return self.status is NodeStatus.ACTIVE

    def has_labels(self, required: Mapping[str, str]) -> bool:
        """Whether every label a task requires is the node's, with the same value."""
        return all(self.labels.get(key) == value for key, value in required.items())

    def claimable_types(self, requested: Sequence[str]) -> list[str] | None:
        """Types this node may claim now; None means nothing it asked for is allowed.

        An empty list means any type: a node registered without types takes all
        work, and a claim without types asks for all the node may take.
        """
        if not self.task_types:
            return list(requested)
        if not requested:
            return list(self.task_types)
        allowed = [t for t in requested if t in self.task_types]
        return allowed or None
