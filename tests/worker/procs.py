"""Worker processes for tests: ``conveyor worker`` as a real subprocess."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
# Every task type tests/worker/sample_handlers.py registers.
TYPES = ["echo", "slow", "sync_slow", "boom", "refuse"]


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    async def wait_exit(self, timeout: float) -> int:
        deadline = asyncio.get_running_loop().time() + timeout
        while self.proc.poll() is None:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"worker still running; its log:\n{self.stderr()}")
            await asyncio.sleep(0.05)
        return int(self.proc.returncode)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_worker(
    base_url: str,
    node_id: str,
    secret: str,
    tmp: Path,
    *args: str,
    env: dict[str, str] | None = None,
    module: str = "tests.worker.sample_handlers",
) -> WorkerProcess:
    log = tmp / f"worker-{node_id}-{len(list(tmp.glob('worker-*')))}.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    environment.update(
        {
            "CONVEYOR_SERVER_URL": base_url,
            "CONVEYOR_NODE_ID": node_id,
            "CONVEYOR_NODE_SECRET": secret,
            "CONVEYOR_TEST_LOG": str(tmp / "runs.log"),
            "CONVEYOR_POLL_WAIT_SECONDS": "1",
            # This checkout's code, not whatever conveyor is installed (an editable
            # install may point at another worktree), and its tests package.
            "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
        }
    )
    environment.update(env or {})
    handle = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "conveyor.cli.main", "worker", module, *args],
        cwd=REPO,
        env=environment,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    handle.close()
    return WorkerProcess(proc, log)


def runs(tmp: Path) -> list[tuple[str, str, str]]:
    path = tmp / "runs.log"
    if not path.exists():
        return []
    return [tuple(line.split()) for line in path.read_text().splitlines() if line]  # type: ignore[misc]


def count(tmp: Path, event: str) -> Counter[str]:
    return Counter(task for ev, task, _ in runs(tmp) if ev == event)


async def task_states(
    http: httpx.AsyncClient, headers: dict[str, str], ids: list[str]
) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {}
    for task_id in ids:
        r = await http.get(f"/tasks/{task_id}", headers=headers)
        assert r.status_code == 200, r.text
        states[task_id] = r.json()
    return states


async def submit_tasks(
    http: httpx.AsyncClient, headers: dict[str, str], tasks: list[dict[str, Any]]
) -> list[str]:
    """Submit in batches of 500 (the API's bound); the new tasks' ids, in order."""
    ids: list[str] = []
    for start in range(0, len(tasks), 500):
        r = await http.post("/tasks", json={"tasks": tasks[start : start + 500]}, headers=headers)
        assert r.status_code == 201, r.text
        ids.extend(t["task_id"] for t in r.json()["tasks"])
    return ids


async def task_list(
    http: httpx.AsyncClient, headers: dict[str, str], ids: list[str]
) -> list[dict[str, Any]]:
    return list((await task_states(http, headers, ids)).values())
