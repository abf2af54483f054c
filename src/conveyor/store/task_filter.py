"""Which tasks a listing returns: the filter and its SQL conditions.

Only ``GET /tasks`` and the services' own listings use these; the claim, finish and
create paths never do, so a search option added here costs them nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_

from conveyor.domain.states import TaskStatus
from conveyor.store.schema import tasks


@dataclass(frozen=True, slots=True)
class TaskFilter:
    owner_id: str | None = None
    node_id: str | None = None
    status: Sequence[TaskStatus] = ()
    task_type: str | None = None
    original_task_id: str | None = None
    # The dashboard's search box: a task id or its first characters, and part of a type.
    id_prefix: str | None = None
    type_contains: str | None = None


def filter_conditions(flt: TaskFilter) -> list[Any]:
    conditions: list[Any] = []
    if flt.owner_id is not None:
        conditions.append(tasks.c.owner_id == flt.owner_id)
    if flt.node_id is not None:
        conditions.append(
            or_(tasks.c.assigned_node_id == flt.node_id, tasks.c.lease_owner == flt.node_id)
        )
    if flt.status:
        conditions.append(tasks.c.status.in_([s.value for s in flt.status]))
    if flt.task_type is not None:
        conditions.append(tasks.c.task_type == flt.task_type)
    if flt.original_task_id is not None:
        conditions.append(tasks.c.original_task_id == flt.original_task_id)
    # autoescape: a "_" or "%" typed in the box is that character, not a wildcard.
    if flt.id_prefix:
        conditions.append(tasks.c.id.startswith(flt.id_prefix, autoescape=True))
    if flt.type_contains:
        conditions.append(tasks.c.task_type.icontains(flt.type_contains, autoescape=True))
    return conditions
