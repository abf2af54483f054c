"""Who may see or do what. Callers turn a refusal into 404 (unseen) or 403 (wrong role)."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.domain.states import Role
from conveyor.domain.tasks import Task


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    role: Role
    name: str

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_node(self) -> bool:
        return self.role is Role.NODE


def can_view_task(principal: Principal, task: Task) -> bool:
    """Users see their own tasks; nodes see tasks pinned to or leased by themselves."""
    if principal.role is Role.ADMIN:
        return True
    if principal.role is Role.NODE:
        return principal.id in (task.assigned_node_id, task.lease_owner)
    return task.owner_id == principal.id


def can_manage_task(principal: Principal, task: Task) -> bool:
    """Cancel and retry: the owner or an admin, never a node."""
    if principal.role is Role.ADMIN:
        return True
    return principal.role is Role.USER and task.owner_id == principal.id
