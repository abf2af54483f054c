"""``conveyor worker`` reads seed 001's worker-runner variables (WORKER_ID, API_BASE,
POLL_INTERVAL and HEARTBEAT_INTERVAL in milliseconds) where the options and the
CONVEYOR_* names do not say: a real worker process configured only by them runs a
task as the node WORKER_ID names."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import pytest

from conveyor.worker.config import WorkerConfig, seed_001_settings
from tests.server import Api, wait_until
from tests.worker.procs import REPO


def test_seed_names_fill_in_below_the_conveyor_names() -> None:
    seed = {
        "WORKER_ID": "worker-1",
        "API_BASE": "http://localhost:4000",
        "POLL_INTERVAL": "2500",
        "HEARTBEAT_INTERVAL": "5000",
    }
    assert seed_001_settings(seed) == {
        "node_id": "worker-1",
        "server_url": "http://localhost:4000",
        "poll_wait_seconds": 2.5,
        "heartbeat_seconds": 5.0,
    }
    both = {**seed, "CONVEYOR_NODE_ID": "n-7", "CONVEYOR_HEARTBEAT_SECONDS": "3"}
    assert seed_001_settings(both) == {
        "server_url": "http://localhost:4000",
        "poll_wait_seconds": 2.5,
    }
    with pytest.raises(ValueError, match="POLL_INTERVAL must be a number of milliseconds"):
        seed_001_settings({"POLL_INTERVAL": "fast"})
    # The values land in the config the worker runs with.
    config = WorkerConfig(**seed_001_settings(seed))
    assert (config.node_id, config.poll_wait_seconds) == ("worker-1", 2.5)


async def _run(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "conveyor.cli.main", "worker", *args,
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


async def test_a_worker_configured_by_seed_names_runs_tasks(api: Api) -> None:
    admin, alice = await api.admin_headers(), await api.user_headers("alice")
    node_id, secret = await api.create_node(admin, node_id="worker-1", task_types=["echo"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env |= {
        "WORKER_ID": node_id,
        "API_BASE": api.base_url,
        "POLL_INTERVAL": "500",
        "HEARTBEAT_INTERVAL": "1000",
        "CONVEYOR_NODE_SECRET": secret,
        "PYTHONPATH": str(REPO),
    }
    bad = await _run({**env, "HEARTBEAT_INTERVAL": "soon"}, "tests.worker.sample_handlers")
    out, _ = await asyncio.wait_for(bad.communicate(), 60)
    assert await bad.wait() == 2 and b"HEARTBEAT_INTERVAL must be a number" in out

    proc = await _run(env, "tests.worker.sample_handlers")
    try:
        task = await api.submit(alice, task_type="echo", params={"x": 1})

        async def done() -> dict[str, Any] | None:
            got = (await api.http.get(f"/tasks/{task['task_id']}", headers=alice)).json()
            return got if got["status"] == "completed" else None

        finished = await wait_until(done, 30, "the echo task completed")
        assert finished["lease_owner"] == node_id
        assert finished["result"]["echo"] == {"x": 1}
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 30)
