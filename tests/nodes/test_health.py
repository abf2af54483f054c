"""Node health under a driven clock, drain, capacity and label placement."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conveyor.api.app import build_runtime
from conveyor.clock import ManualClock
from conveyor.domain.access import Principal
from conveyor.domain.states import NodeHealth, NodeStatus, Role, TaskStatus
from conveyor.services.health import HealthService
from conveyor.services.nodes import NodeChanges, NodeService, NodeSpec
from conveyor.services.runtime import Runtime
from conveyor.services.tasks import TaskService, TaskSpec
from conveyor.services.worker import ClaimInput, Finish, WorkerService
from tests import server

ADMIN = Principal("admin-1", Role.ADMIN, "admin")
OWNER = Principal("owner-1", Role.USER, "owner")


async def _runtime(url: str, tmp_path: Path) -> Runtime:
    settings = server.test_settings(
        url,
        tmp_path,
        node_unhealthy_after_seconds=30,
        node_dead_after_seconds=120,
        argon2_memory_kib=1024,
        argon2_time_cost=1,
    )
    rt = build_runtime(settings, ManualClock())
    await rt.bus.start()
    return rt


@pytest.fixture
async def rt(database_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = await _runtime(database_url, tmp_path)
    try:
        yield runtime
    finally:
        await runtime.bus.close()
        await runtime.db.dispose()


def clock(rt: Runtime) -> ManualClock:
    assert isinstance(rt.clock, ManualClock)
    return rt.clock


async def _node(rt: Runtime, node_id: str, **spec: object) -> None:
    await NodeService(rt).register(ADMIN, NodeSpec(name=node_id, node_id=node_id, **spec))  # type: ignore[arg-type]


async def _submit(rt: Runtime, n: int, **spec: object) -> None:
    specs = [TaskSpec(task_type="noop", **spec) for _ in range(n)]  # type: ignore[arg-type]
    await TaskService(rt).create(OWNER, specs)


async def _health(rt: Runtime, node_id: str) -> NodeHealth:
    return (await NodeService(rt).get(ADMIN, node_id)).health


async def test_silent_pull_node_goes_unhealthy_then_dead_and_loses_its_leases(
    rt: Runtime,
) -> None:
    await _node(rt, "n1")
    await _submit(rt, 2, max_attempts=3)
    worker, health = WorkerService(rt), HealthService(rt)
    node = await NodeService(rt).get(ADMIN, "n1")
    claimed, _ = await worker.claim(node, ClaimInput(max_tasks=2))
    assert len(claimed) == 2
    await health.check_pull_nodes(clock(rt).advance(10))
    assert await _health(rt, "n1") is NodeHealth.HEALTHY
    await health.check_pull_nodes(clock(rt).advance(25))
    assert await _health(rt, "n1") is NodeHealth.UNHEALTHY
    # Leases are 300 s: without the dead-node rule they would still be held.
    dead = await health.check_pull_nodes(clock(rt).advance(90))
    assert dead == ["n1"]
    assert await _health(rt, "n1") is NodeHealth.DEAD
    for task in claimed:
        after = await TaskService(rt).get(ADMIN, task.id)
        assert after.status is TaskStatus.PENDING
        assert after.attempts == 1  # charged like a lapsed lease
        assert after.lease_owner is None
    # A sign of life makes it healthy again.
    await worker.heartbeat(node, None, None)
    assert await _health(rt, "n1") is NodeHealth.HEALTHY
    await health.close()


async def test_draining_node_claims_nothing_new_but_finishes_what_it_holds(rt: Runtime) -> None:
    await _node(rt, "n1")
    await _submit(rt, 2)
    worker, nodes = WorkerService(rt), NodeService(rt)
    (held,), _ = await worker.claim(await nodes.get(ADMIN, "n1"), ClaimInput(max_tasks=1))
    await nodes.update(ADMIN, "n1", NodeChanges(status=NodeStatus.DRAINING))
    node = await nodes.get(ADMIN, "n1")
    again, _ = await worker.claim(node, ClaimInput(max_tasks=5))
    assert again == []
    done = await worker.finish(node, Finish(held.id, held.version, "completed", result=1))
    assert done.status is TaskStatus.COMPLETED
    view = (await nodes.list(ADMIN))[0]
    assert (view.in_flight, view.finished) == (0, 1)


async def test_label_placement(rt: Runtime) -> None:
    await _node(rt, "cpu", labels={"gpu": "false"})
    await _node(rt, "gpu", labels={"gpu": "true"})
    await _submit(rt, 3, required_labels={"gpu": "true"})
    worker, nodes = WorkerService(rt), NodeService(rt)
    got, _ = await worker.claim(await nodes.get(ADMIN, "cpu"), ClaimInput(max_tasks=10))
    assert got == []
    got, _ = await worker.claim(await nodes.get(ADMIN, "gpu"), ClaimInput(max_tasks=10))
    assert len(got) == 3


async def test_capacity_holds_under_concurrent_claims_on_postgres(
    postgres_url: str, tmp_path: Path
) -> None:
    rt = await _runtime(postgres_url, tmp_path)
    try:
        await _node(rt, "n1", max_concurrency=5)
        await _submit(rt, 50)
        worker = WorkerService(rt)
        node = await NodeService(rt).get(ADMIN, "n1")
        results = await asyncio.gather(
            *(worker.claim(node, ClaimInput(max_tasks=3)) for _ in range(30))
        )
        assert sum(len(claimed) for claimed, _ in results) == 5
        view = await NodeService(rt).view(ADMIN, "n1")
        assert view.in_flight == 5
    finally:
        await rt.bus.close()
        await rt.db.dispose()
