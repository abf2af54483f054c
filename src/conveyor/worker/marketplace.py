"""The marketplace worker's node: a user's own pull node, registered or reused.

``conveyor worker --marketplace`` runs on the user's credentials (its saved
login), not a node secret an admin handed out. It registers a node the user owns
(``POST /nodes``: up to ``CONVEYOR_MAX_NODES_PER_USER``, paid for the chunks it
runs) or reuses it, and keeps the node's secret in a 0600 file of its own, since
the server shows a secret only once. It advertises what it can run: the task type
``conveyor.sandbox`` and a ``runtime:<name>=true`` label per runtime whose probe
worked; labels it lost (Node.js uninstalled) are removed, others the user set kept.

Several processes of one machine (``conveyor workers N --marketplace``) enroll
one after another under a file lock, so they share one node and one secret
instead of rotating it away from each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from conveyor.client.async_client import AsyncClient
from conveyor.client.errors import AuthenticationError, Conflict, NotFound
from conveyor.client.models import Node
from conveyor.domain.jobs import SANDBOX_TASK_TYPE

T = TypeVar("T")
# Runs one call with the user's client (and keeps the tokens it ends with).
UserCall = Callable[[Callable[[AsyncClient], Awaitable[T]]], Awaitable[T]]
RUNTIME_PREFIX = "runtime:"
MARKET_TASK_TYPES = [SANDBOX_TASK_TYPE]


class MarketplaceError(RuntimeError):
    """Why this machine cannot run as the user's marketplace node."""


@dataclass(frozen=True, slots=True)
class NodeCredentials:
    node_id: str
    secret: str


def default_node_id() -> str:
    """``market-<hostname>``: one node per machine unless told otherwise."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()) or "host"
    return f"market-{host}"[:64]


class SecretFile:
    """Node secrets this machine keeps, by server and node id, readable by its user only."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    @staticmethod
    def _key(server: str, node_id: str) -> str:
        return f"{server.rstrip('/')} {node_id}"

    def get(self, server: str, node_id: str) -> str | None:
        return self._read().get(self._key(server, node_id))

    def put(self, server: str, node_id: str, secret: str) -> None:
        data = {**self._read(), self._key(server, node_id): secret}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_suffix(".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        os.replace(temp, self.path)

    def locked(self) -> contextlib.AbstractAsyncContextManager[None]:
        return file_lock(self.path.with_suffix(".lock"))


@contextlib.asynccontextmanager
async def file_lock(path: Path) -> AsyncIterator[None]:
    """Held by one process of this machine at a time (an flock on ``path``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def merged_labels(current: Mapping[str, str], runtimes: Mapping[str, str]) -> dict[str, str]:
    """The node's labels with its ``runtime:*`` ones replaced by what it has now."""
    kept = {k: v for k, v in current.items() if not k.startswith(RUNTIME_PREFIX)}
    return {**kept, **runtimes}


async def _secret_works(server: str, node_id: str, secret: str) -> bool:
    async with AsyncClient(server, node_id=node_id, secret=secret) as client:
        try:
            await client.login()
        except AuthenticationError:
            return False
    return True


async def enroll(
    call: UserCall[Any],
    server: str,
    node_id: str,
    runtime_labels: Mapping[str, str],
    secrets: SecretFile,
    name: str | None = None,
) -> NodeCredentials:
    """Register the user's node or bring the existing one up to date; its credentials."""
    async with secrets.locked():
        stored = secrets.get(server, node_id)
        if stored is not None and not await _secret_works(server, node_id, stored):
            stored = None  # rotated or the node re-created elsewhere: get a new one

        async def register(client: AsyncClient) -> str:
            try:
                node = await client.get_node(node_id)
            except NotFound:
                return await _create(client, node_id, name, runtime_labels)
            rotated = await _update(client, node, runtime_labels, rotate=stored is None)
            secret = rotated or stored
            assert secret is not None  # rotated whenever nothing usable was stored
            return secret

        secret = await call(register)
        secrets.put(server, node_id, secret)
    return NodeCredentials(node_id, secret)


async def _create(
    client: AsyncClient, node_id: str, name: str | None, labels: Mapping[str, str]
) -> str:
    try:
        node = await client.create_node(
            name or node_id, node_id=node_id, task_types=MARKET_TASK_TYPES, labels=dict(labels)
        )
    except Conflict as exc:
        # Taken by another account (its nodes are invisible to us), or the node limit.
        raise MarketplaceError(f"cannot register node {node_id}: {exc}") from exc
    assert node.secret is not None
    return node.secret


async def _update(
    client: AsyncClient, node: Node, labels: Mapping[str, str], *, rotate: bool
) -> str | None:
    if node.status != "active":
        raise MarketplaceError(
            f"your node {node.id} is {node.status}; enable it "
            f'(PATCH /api/v1/nodes/{node.id} {{"status": "active"}}) or pick another --node-id'
        )
    changes: dict[str, Any] = {}
    wanted = merged_labels(node.labels, labels)
    if wanted != node.labels:
        changes["labels"] = wanted
    if node.task_types != MARKET_TASK_TYPES:
        changes["task_types"] = MARKET_TASK_TYPES
    if rotate:
        changes["rotate_secret"] = True
    if not changes:
        return None
    updated = await client.update_node(node.id, **changes)
    return updated.secret
