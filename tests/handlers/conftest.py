"""Real counterparts for the handlers: the API server, local HTTP servers, an SMTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from conveyor.client.artifacts import AsyncArtifactClient
from conveyor.worker.context import TaskContext
from tests.server import Api


@dataclass
class Run:
    """A task context plus what its handler reported."""

    ctx: TaskContext
    progress: list[dict[str, Any]] = field(default_factory=list)


def make_run(
    task_type: str, task_id: str = "task-1", artifacts: AsyncArtifactClient | None = None
) -> Run:
    events: list[dict[str, Any]] = []

    async def sink(data: dict[str, Any]) -> None:
        events.append(data)

    ctx = TaskContext(
        task_id=task_id,
        task_type=task_type,
        attempt=1,
        metadata={},
        artifacts=artifacts,
        _progress=sink,
    )
    return Run(ctx, events)


@dataclass
class NodeSide:
    """A real task held by a real node, and an artifact client acting as that node."""

    api: Api
    owner: dict[str, str]
    node: dict[str, str]
    artifacts: AsyncArtifactClient
    task_id: str

    def run(self, task_type: str) -> Run:
        return make_run(task_type, self.task_id, self.artifacts)


async def held_task(api: Api, task_type: str) -> AsyncIterator[NodeSide]:
    admin = await api.admin_headers()
    owner = await api.user_headers("alice")
    _, node = await api.new_node(admin, node_id="n1", task_types=[task_type])
    task = await api.submit(owner, task_type=task_type, params={})
    (held,) = (await api.claim(node))["tasks"]
    assert held["task_id"] == task["task_id"]
    async with httpx.AsyncClient(base_url=api.http.base_url, headers=node, timeout=30) as http:
        yield NodeSide(api, owner, node, AsyncArtifactClient(http), task["task_id"])


@pytest.fixture
async def report_side(api: Api) -> AsyncIterator[NodeSide]:
    async for side in held_task(api, "report_generate"):
        yield side


@pytest.fixture
async def resize_side(api: Api) -> AsyncIterator[NodeSide]:
    async for side in held_task(api, "resize_image"):
        yield side
