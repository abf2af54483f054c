"""A pin and a node delete racing: the task never ends up pinned to a node that is gone.

Reassign used to check the node in one transaction and pin in another, so a delete
landing in between left the task pending for a node that no longer existed, forever.
Both databases, through the services, many rounds of the two calls at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from conveyor.domain.access import Principal
from conveyor.domain.states import Role, TaskStatus
from conveyor.errors import NotFound
from conveyor.services.nodes import NodeService, NodeSpec
from conveyor.services.tasks import TaskService, TaskSpec
from conveyor.store import nodes as node_store
from conveyor.store import tasks as task_store
from tests.server import runtime

ADMIN = Principal("admin-1", Role.ADMIN, "admin")
ROUNDS = 25


async def test_reassign_racing_a_node_delete_never_pins_to_a_ghost(
    database_url: str, tmp_path: Path
) -> None:
    async with runtime(database_url, tmp_path) as rt:
        tasks, nodes = TaskService(rt), NodeService(rt)
        outcomes = {"pinned then cancelled": 0, "refused": 0}
        for i in range(ROUNDS):
            node, _ = await nodes.register(ADMIN, NodeSpec(name=f"n{i}", node_id=f"n{i}"))
            (task,) = await tasks.create(ADMIN, [TaskSpec(task_type="x")])
            reassigned, deleted = await asyncio.gather(
                tasks.reassign(ADMIN, task.id, node.id),
                nodes.delete(ADMIN, node.id),
                return_exceptions=True,
            )
            assert not isinstance(deleted, BaseException), deleted
            async with rt.db.read() as conn:
                assert await node_store.get_node(conn, node.id) is None
                now = await task_store.get_task(conn, task.id)
            assert now is not None
            if isinstance(reassigned, NotFound):
                # The delete came first: the pin was refused, the task left as it was.
                assert now.assigned_node_id is None and now.status is TaskStatus.PENDING
                outcomes["refused"] += 1
            else:
                assert not isinstance(reassigned, BaseException), reassigned
                # The pin came first: the delete saw it and cancelled the task.
                assert now.status is TaskStatus.CANCELLED, now
                assert now.error is not None and now.error["code"] == "node_deleted"
                outcomes["pinned then cancelled"] += 1
        assert sum(outcomes.values()) == ROUNDS


async def test_a_pinned_create_racing_a_node_delete_never_pins_to_a_ghost(
    database_url: str, tmp_path: Path
) -> None:
    async with runtime(database_url, tmp_path) as rt:
        tasks, nodes = TaskService(rt), NodeService(rt)
        for i in range(ROUNDS):
            node, _ = await nodes.register(ADMIN, NodeSpec(name=f"c{i}", node_id=f"c{i}"))
            created, deleted = await asyncio.gather(
                tasks.create(ADMIN, [TaskSpec(task_type="x", assigned_node_id=node.id)]),
                nodes.delete(ADMIN, node.id),
                return_exceptions=True,
            )
            assert not isinstance(deleted, BaseException), deleted
            if isinstance(created, NotFound):
                continue
            assert not isinstance(created, BaseException), created
            async with rt.db.read() as conn:
                (task,) = created
                now = await task_store.get_task(conn, task.id)
            assert now is not None and now.status is TaskStatus.CANCELLED, now
