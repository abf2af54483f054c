"""``conveyor workers N`` as a real process tree: prefixed output, restarts, clean stop."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from tests.server import Api, serve_api, wait_until
from tests.server import test_settings as settings_for
from tests.worker.procs import REPO, TYPES, submit_tasks, task_states

STARTED = re.compile(r"^\[(w\d+)\] started \(pid (\d+)\)$", re.M)


@pytest.fixture
async def sqlite_api(sqlite_factory: object, tmp_path: Path) -> AsyncIterator[Api]:
    url = await sqlite_factory.new()  # type: ignore[attr-defined]
    async with serve_api(settings_for(url, tmp_path)) as client:
        yield client


def _started(log: Path) -> dict[str, list[int]]:
    pids: dict[str, list[int]] = {}
    for name, pid in STARTED.findall(log.read_text(errors="replace")):
        pids.setdefault(name, []).append(int(pid))
    return pids


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def test_launcher_restarts_a_dead_worker_and_stops_all(
    sqlite_api: Api, tmp_path: Path
) -> None:
    api = sqlite_api
    admin, alice = await api.admin_headers(), await api.user_headers("alice")
    node_id, secret = await api.create_node(admin, node_id="pool", task_types=TYPES)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env |= {
        "CONVEYOR_SERVER_URL": api.base_url,
        "CONVEYOR_NODE_ID": node_id,
        "CONVEYOR_NODE_SECRET": secret,
        "CONVEYOR_POLL_WAIT_SECONDS": "1",
        "CONVEYOR_TEST_LOG": str(tmp_path / "runs.log"),
        "PYTHONPATH": str(REPO),
    }
    log = tmp_path / "launcher.log"
    with log.open("wb") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "conveyor.cli.main", "workers", "2",
             "tests.worker.sample_handlers", "--grace", "3", "--max-backoff", "0.5"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        first = await wait_until(
            lambda: (p := _started(log)) and len(p) == 2 and p, 20, "two workers started"
        )
        victim = first["w1"][0]
        os.kill(victim, signal.SIGKILL)
        again = await wait_until(
            lambda: len(_started(log).get("w1", [])) == 2 and _started(log), 20, "w1 restarted"
        )
        assert again["w1"][1] != victim and not _alive(victim)
        assert again["w2"] == first["w2"], "the other worker was left alone"

        def serving(name: str) -> bool:
            return re.search(rf"^\[{name}\] .*worker started", log.read_text(), re.M) is not None

        await wait_until(lambda: serving("w1") and serving("w2"), 30, "both workers serving")
        ids = await submit_tasks(api.http, alice, [{"task_type": "echo"} for _ in range(10)])

        async def served() -> bool:
            states = await task_states(api.http, alice, ids)
            return all(t["status"] == "completed" for t in states.values())

        await wait_until(served, 30, "the restarted pool serves tasks")
        text = log.read_text()
        assert "[w1] " in text and "[w2] " in text and "restarting in" in text
        launcher.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(launcher.wait, 20)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert code == 0, log.read_text()[-3000:]
    children = [again["w1"][1], again["w2"][0]]
    assert not any(_alive(pid) for pid in children), "every worker stopped with the launcher"
    assert "[w1] stopped (exit 0)" in log.read_text()
