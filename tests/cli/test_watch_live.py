"""``conveyor watch`` prints each event as it happens, not when the task ends."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from tests.cli.test_cli import REPO, conveyor
from tests.server import Api

LIVE_WITHIN = 0.5


async def test_watch_prints_progress_while_the_task_runs(api: Api, tmp_path: Path) -> None:
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    _, node = await api.new_node(admin, node_id="w", task_types=["echo"])
    code, _, err = await conveyor(
        tmp_path,
        *("login", "--server", api.base_url, "--username", "alice"),
        *("--password", "user-password-1"),
    )
    assert code == 0, err
    await api.submit(alice, task_type="echo")
    (task,) = (await api.claim(node, max_tasks=1))["tasks"]

    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["CONVEYOR_SESSION_FILE"] = str(tmp_path / "session.json")
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "conveyor.cli.main", "watch", task["task_id"], "--json"),
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        await api.wait_metric("conveyor_sse_subscribers", 1, "watch to open its stream")
        for percent in (20, 70):
            r = await api.http.post(
                f"/tasks/{task['task_id']}/progress",
                json={"data": {"percent": percent}},
                headers=node,
            )
            assert r.status_code == 201, r.text
            posted = time.monotonic()
            line = await asyncio.wait_for(proc.stdout.readline(), LIVE_WITHIN)
            assert time.monotonic() - posted < LIVE_WITHIN
            event = json.loads(line)
            assert event["event"] == "progress" and event["data"]["data"] == {"percent": percent}
        assert proc.returncode is None, "watch is still following the running task"
        r = await api.http.post(
            f"/tasks/{task['task_id']}/complete",
            json={"version": task["version"], "result": {"ok": True}},
            headers=node,
        )
        assert r.status_code == 200, r.text
        rest, err_bytes = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err_bytes.decode()
        final = json.loads(rest.decode().splitlines()[-1])
        assert final["event"] == "status_change" and final["data"]["status"] == "completed"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
