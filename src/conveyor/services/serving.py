"""Whether any live node could run a pending task: the ``waiting_for_worker`` reason.

A task of a type no worker serves waits forever without a word; ``GET /tasks/{id}``
says so instead. What a node serves is what it was registered with (types, labels,
status, health); a node registered without types counts as serving every type, as
the claim treats it, although its worker may claim fewer.
"""

from __future__ import annotations

from datetime import datetime

from conveyor.domain.nodes import Node
from conveyor.domain.states import NodeHealth, NodeStatus, TaskStatus
from conveyor.domain.tasks import Task
from conveyor.services.runtime import Runtime
from conveyor.store import nodes as node_store


def is_live(node: Node) -> bool:
    return node.status is NodeStatus.ACTIVE and node.health is not NodeHealth.DEAD


def runs(node: Node, task: Task) -> bool:
    """Whether the node's registration covers the task, live or not."""
    if task.assigned_node_id is not None and task.assigned_node_id != node.id:
        return False
    return node.claimable_types([task.task_type]) is not None and node.has_labels(
        task.required_labels
    )


def could_serve(node: Node, task: Task) -> bool:
    return is_live(node) and runs(node, task)


def served_until(nodes: list[Node], task: Task, now: datetime) -> datetime | None:
    """The last moment some node that runs the task was there for it: now while one
    is live, else the last time one was seen; None if none ever was."""
    seen = None
    for node in nodes:
        if not runs(node, task):
            continue
        if is_live(node):
            return now
        if node.last_seen is not None and (seen is None or node.last_seen > seen):
            seen = node.last_seen
    return seen


async def waiting_for_worker(rt: Runtime, task: Task) -> str | None:
    """Why a pending task has no one to run it, or None when some live node could."""
    if task.status is not TaskStatus.PENDING:
        return None
    async with rt.db.read() as conn:
        nodes = await node_store.list_nodes(conn)
    if any(could_serve(node, task) for node in nodes):
        return None
    if task.assigned_node_id is not None:
        return f"waiting_for_worker: node {task.assigned_node_id} is not live and active"
    return f"waiting_for_worker: no live node runs {task.task_type} tasks with its labels"
