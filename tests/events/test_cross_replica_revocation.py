"""Revocation reaches every replica: two ``conveyor serve`` processes on one database.

A replica trusts its cached view of a credential for ``CONVEYOR_AUTH_CACHE_SECONDS``;
a change made on another replica reaches it over the event bus at once. With the
cache set far longer than the deadlines here, a prompt refusal can only come from
the bus; the SQLite pair (no shared bus between processes) shows the TTL bound that
holds when bus messages are lost.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.server import Api, replicas, wait_until

LONG_CACHE = 300.0
# Well under LONG_CACHE: a refusal this soon was pushed over the bus, not waited out.
PROMPT_SECONDS = 5.0
SHORT_CACHE = 1.0


@asynccontextmanager
async def two_replicas(
    database_url: str, data_dir: Path, cache_seconds: float
) -> AsyncIterator[tuple[Api, Api]]:
    async with replicas(
        database_url, data_dir, CONVEYOR_AUTH_CACHE_SECONDS=str(cache_seconds)
    ) as pair:
        yield pair


async def _refused_within(check_status: object, seconds: float, what: str) -> float:
    """Seconds until the request is refused (401); fails past ``seconds``."""
    started = time.monotonic()

    async def refused() -> bool:
        return await check_status() == 401  # type: ignore[operator]

    await wait_until(refused, seconds, what)
    return time.monotonic() - started


@pytest.mark.postgres
async def test_a_rotated_node_secret_is_refused_on_the_other_replica_promptly(
    postgres_url: str, tmp_path: Path
) -> None:
    async with two_replicas(postgres_url, tmp_path, LONG_CACHE) as (a, b):
        admin = await a.admin_headers()
        node_id, secret = await a.create_node(admin, node_id="rotated")
        node = await b.node_headers(node_id, secret)

        async def heartbeat_on_b() -> int:
            return (await b.http.post("/nodes/heartbeat", headers=node)).status_code

        # Served on B, so B's cache now holds the node's credential version.
        assert await heartbeat_on_b() == 200
        r = await a.http.patch(f"/nodes/{node_id}", json={"rotate_secret": True}, headers=admin)
        assert r.status_code == 200, r.text
        await _refused_within(heartbeat_on_b, PROMPT_SECONDS, "B to refuse the rotated node")


@pytest.mark.postgres
async def test_a_logged_out_session_is_refused_on_the_other_replica_promptly(
    postgres_url: str, tmp_path: Path
) -> None:
    async with two_replicas(postgres_url, tmp_path, LONG_CACHE) as (a, b):
        await a.user_headers("roamer")
        ending = await a.login("roamer", "user-password-1")
        staying = await a.login("roamer", "user-password-1")

        async def tasks_on_b(token: str) -> int:
            auth = {"Authorization": f"Bearer {token}"}
            return (await b.http.get("/tasks", headers=auth)).status_code

        async def ending_on_b() -> int:
            return await tasks_on_b(ending["access_token"])

        assert await ending_on_b() == 200
        r = await a.http.post("/auth/logout", json={"refresh_token": ending["refresh_token"]})
        assert r.status_code == 204
        await _refused_within(ending_on_b, PROMPT_SECONDS, "B to refuse the ended session")
        assert await tasks_on_b(staying["access_token"]) == 200


async def test_without_a_shared_bus_the_cache_ttl_bounds_revocation(
    sqlite_factory: object, tmp_path: Path
) -> None:
    """Two processes on one SQLite file have no bus between them: the worst case."""
    url = await sqlite_factory.new()  # type: ignore[attr-defined]
    async with two_replicas(url, tmp_path, SHORT_CACHE) as (a, b):
        admin = await a.admin_headers()
        node_id, secret = await a.create_node(admin, node_id="far-away")
        node = await b.node_headers(node_id, secret)

        async def heartbeat_on_b() -> int:
            return (await b.http.post("/nodes/heartbeat", headers=node)).status_code

        assert await heartbeat_on_b() == 200
        r = await a.http.delete(f"/nodes/{node_id}", headers=admin)
        assert r.status_code == 200, r.text
        # The TTL plus a margin for two processes sharing two CPUs.
        await _refused_within(heartbeat_on_b, SHORT_CACHE + 3.0, "B's cache entry to expire")
