"""SSE test helpers: a real server per test (SQLite and PostgreSQL) and a reader
that waits for events with a timeout instead of sleeping."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import EventSource, ServerSentEvent, aconnect_sse

from tests.server import Api, serve_api, test_settings

WAIT = 15.0
KEEPALIVE = 0.5


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The suite's ``api`` fixture with a short keep-alive, so idle streams show it."""
    settings = test_settings(database_url, tmp_path, sse_keepalive_seconds=KEEPALIVE)
    async with serve_api(settings) as client:
        yield client


async def _real_events(source: EventSource) -> AsyncIterator[ServerSentEvent]:
    """httpx-sse 0.4 turns a keep-alive comment into an empty ``message`` event once an
    ``id`` was seen (the spec says a blank line with no data dispatches nothing)."""
    async for event in source.aiter_sse():
        if event.event == "message" and not event.data:
            continue
        yield event


@dataclass
class Stream:
    source: EventSource
    _events: AsyncIterator[ServerSentEvent]

    @property
    def status_code(self) -> int:
        return self.source.response.status_code

    async def next(self, timeout: float = WAIT) -> ServerSentEvent:
        return await asyncio.wait_for(anext(self._events), timeout)

    async def take(self, count: int, timeout: float = WAIT) -> list[ServerSentEvent]:
        return [await self.next(timeout) for _ in range(count)]

    async def rest(self, timeout: float = WAIT) -> list[ServerSentEvent]:
        """Every event until the server closes the stream (fails if it does not)."""

        async def drain() -> list[ServerSentEvent]:
            return [event async for event in self._events]

        return await asyncio.wait_for(drain(), timeout)


@asynccontextmanager
async def open_stream(
    base_url: str,
    path: str,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> AsyncIterator[Stream]:
    """An SSE connection of its own; the body is only read when events are asked for."""
    async with (
        httpx.AsyncClient(base_url=base_url + "/api/v1", timeout=WAIT) as http,
        aconnect_sse(http, "GET", path, headers=dict(headers or {}), params=params) as source,
    ):
        yield Stream(source, _real_events(source))


def data(event: ServerSentEvent) -> dict[str, Any]:
    return dict(json.loads(event.data))


def seqs(events: list[ServerSentEvent]) -> list[int]:
    return [data(e)["seq"] for e in events if e.event == "progress"]


@dataclass
class Running:
    """A task claimed by a node, ready to report progress."""

    api: Api
    task_id: str
    user: dict[str, str]
    node: dict[str, str]
    version: int

    async def report(self, *values: int) -> None:
        for value in values:
            r = await self.api.http.post(
                f"/tasks/{self.task_id}/progress", json={"data": {"n": value}}, headers=self.node
            )
            assert r.status_code == 201, r.text

    async def complete(self, result: Any = None) -> None:
        r = await self.api.http.post(
            f"/tasks/{self.task_id}/complete",
            json={"version": self.version, "result": result},
            headers=self.node,
        )
        assert r.status_code == 200, r.text


async def running_task(api: Api, user_name: str = "watcher", node_id: str = "n1") -> Running:
    admin = await api.admin_headers()
    user = await api.user_headers(user_name)
    _, node = await api.new_node(admin, node_id=node_id, task_types=["sse"])
    task = await api.submit(user, task_type="sse")
    (held,) = (await api.claim(node, task_types=["sse"]))["tasks"]
    assert held["task_id"] == task["task_id"]
    return Running(api, task["task_id"], user, node, held["version"])
