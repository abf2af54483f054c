"""How ``conveyor worker --marketplace`` finds its node (worker/marketplace.py), against
a real server: registered on first use, reused after, its ``runtime:*`` labels kept
true to the machine, a secret that stopped working replaced; and the refusals that
say what to do (another user's node id, a disabled node, no login)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from conveyor.client.async_client import AsyncClient
from conveyor.worker.marketplace import MarketplaceError, SecretFile, UserCall, enroll
from tests.server import Api
from tests.worker.procs import REPO

T = TypeVar("T")
PYTHON_ONLY = {"runtime:python": "true"}
BOTH = {"runtime:python": "true", "runtime:node": "true"}


def user_call(api: Api, headers: dict[str, str]) -> UserCall[Any]:
    token = headers["Authorization"].removeprefix("Bearer ")

    async def call(fn: Callable[[AsyncClient], Awaitable[T]]) -> T:
        async with AsyncClient(api.base_url, token=token) as client:
            return await fn(client)

    return call


async def test_registers_then_reuses_and_keeps_labels_true(api: Api, tmp_path: Path) -> None:
    bob = await api.user_headers("bob")
    secrets = SecretFile(tmp_path / "nodes.json")
    first = await enroll(user_call(api, bob), api.base_url, "bobs-box", BOTH, secrets)
    assert (tmp_path / "nodes.json").stat().st_mode & 0o777 == 0o600
    node = (await api.http.get("/nodes/bobs-box", headers=bob)).json()
    assert node["labels"] == BOTH and node["task_types"] == ["conveyor.sandbox"]
    assert node["owner_id"] is not None

    # The owner adds a label of its own; Node.js goes away; the worker starts again.
    r = await api.http.patch(
        "/nodes/bobs-box", json={"labels": {**BOTH, "region": "eu"}}, headers=bob
    )
    assert r.status_code == 200, r.text
    again = await enroll(user_call(api, bob), api.base_url, "bobs-box", PYTHON_ONLY, secrets)
    assert again == first, "the kept secret still works: reused, not rotated"
    node = (await api.http.get("/nodes/bobs-box", headers=bob)).json()
    assert node["labels"] == {"runtime:python": "true", "region": "eu"}
    await api.node_headers("bobs-box", first.secret)

    # Rotated elsewhere: the kept secret fails its login and is replaced.
    r = await api.http.patch("/nodes/bobs-box", json={"rotate_secret": True}, headers=bob)
    assert r.status_code == 200
    third = await enroll(user_call(api, bob), api.base_url, "bobs-box", PYTHON_ONLY, secrets)
    assert third.secret != first.secret
    await api.node_headers("bobs-box", third.secret)
    assert secrets.get(api.base_url, "bobs-box") == third.secret


async def test_refusals_say_what_to_do(api: Api, tmp_path: Path) -> None:
    alice, bob = await api.user_headers("alice"), await api.user_headers("bob")
    secrets = SecretFile(tmp_path / "nodes.json")
    await enroll(user_call(api, alice), api.base_url, "shared-name", BOTH, secrets)
    with pytest.raises(MarketplaceError, match="cannot register node shared-name"):
        await enroll(user_call(api, bob), api.base_url, "shared-name", BOTH, SecretFile(
            tmp_path / "bob.json"))  # fmt: skip
    r = await api.http.patch("/nodes/shared-name", json={"status": "disabled"}, headers=alice)
    assert r.status_code == 200
    with pytest.raises(MarketplaceError, match="is disabled"):
        await enroll(user_call(api, alice), api.base_url, "shared-name", BOTH, secrets)


async def test_without_a_login_the_command_says_so(api: Api, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env |= {"XDG_CONFIG_HOME": str(tmp_path), "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "conveyor.cli.main", "worker", "--marketplace",
        "--server", api.base_url,
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert await proc.wait() == 1
    assert f"not logged in to {api.base_url}" in out.decode(), out.decode()
    listed = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "conveyor.cli.main", "worker", "--marketplace", "--builtin",
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(listed.communicate(), 60)
    assert await listed.wait() == 2 and "customer code only" in out.decode()
