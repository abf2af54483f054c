"""The ``conveyor`` command as a subprocess: output, ``--json`` and exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from tests.server import ADMIN, Api, free_port

REPO = Path(__file__).resolve().parents[2]


async def conveyor(tmp: Path, *args: str, timeout: float = 120) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["CONVEYOR_SESSION_FILE"] = str(tmp / "session.json")
    env["COLUMNS"] = "200"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "conveyor.cli.main",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def parsed(out: str) -> Any:
    return json.loads(out)


async def test_login_submit_status_list_with_json_and_exit_codes(api: Api, tmp_path: Path) -> None:
    await api.user_headers("alice")
    server = ["--server", api.base_url]
    code, out, _ = await conveyor(
        tmp_path,
        "login",
        *server,
        "--username",
        "alice",
        "--password",
        "user-password-1",
        "--json",
    )
    assert code == 0 and parsed(out)["username"] == "alice"
    session = tmp_path / "session.json"
    assert session.stat().st_mode & 0o777 == 0o600, "tokens are kept private"
    assert "user-password-1" not in session.read_text(), "the password is never stored"

    code, out, _ = await conveyor(tmp_path, "submit", "echo", "--params", '{"n": 1}', "--json")
    assert code == 0
    task = parsed(out)
    assert task["status"] == "pending" and task["params"] == {"n": 1}

    code, out, _ = await conveyor(tmp_path, "status", task["task_id"], "--json")
    assert code == 0 and parsed(out)["task_id"] == task["task_id"]
    code, out, _ = await conveyor(tmp_path, "status", task["task_id"])
    assert code == 0 and "echo" in out and "pending" in out, "a table for humans"

    code, out, _ = await conveyor(tmp_path, "list", "--status", "pending", "--json")
    assert code == 0 and [t["task_id"] for t in parsed(out)] == [task["task_id"]]

    code, out, _ = await conveyor(tmp_path, "cancel", task["task_id"], "--json")
    assert code == 0 and parsed(out)["status"] == "cancelled"
    code, out, _ = await conveyor(tmp_path, "cancel", task["task_id"], "--json")
    assert code == 5 and parsed(out)["error"]["code"] == "conflict"

    code, out, _ = await conveyor(tmp_path, "status", "no-such-task", "--json")
    assert code == 3 and parsed(out)["error"]["code"] == "not_found"
    code, out, _ = await conveyor(tmp_path, "submit", "echo", "--params", "{nope", "--json")
    assert code == 2 and parsed(out)["error"]["code"] == "invalid_input"
    # A user sees only the nodes it owns (it has none); the rest of the registry is unseen.
    code, out, _ = await conveyor(tmp_path, "nodes", "list", "--json")
    assert code == 0 and parsed(out) == [], "alice owns no node"


async def test_unreachable_server_exit_code(tmp_path: Path) -> None:
    code, out, _ = await conveyor(
        tmp_path, "status", "x", "--server", f"http://127.0.0.1:{free_port()}", "--json"
    )
    assert code == 6 and parsed(out)["error"]["code"] == "unreachable"


async def test_node_commands_for_admins(api: Api, tmp_path: Path) -> None:
    server = ["--server", api.base_url]
    code, _, _ = await conveyor(
        tmp_path, "login", *server, "--username", ADMIN[0], "--password", ADMIN[1]
    )
    assert code == 0
    code, out, _ = await conveyor(
        tmp_path,
        "nodes",
        "create",
        "gpu box",
        "--id",
        "gpu-1",
        "--type",
        "resize_image",
        "--label",
        "gpu=true",
        "--json",
    )
    assert code == 0
    node = parsed(out)
    assert node["node_id"] == "gpu-1" and node["node_secret"] and node["labels"] == {"gpu": "true"}
    code, out, _ = await conveyor(tmp_path, "nodes", "list", "--json")
    assert code == 0 and [n["node_id"] for n in parsed(out)] == ["gpu-1"]
    assert "node_secret" not in parsed(out)[0], "the secret is shown only once"
    code, out, _ = await conveyor(tmp_path, "nodes", "disable", "gpu-1", "--json")
    assert code == 0 and parsed(out)["status"] == "disabled"
    r = await api.http.post(
        "/auth/node/login", json={"node_id": "gpu-1", "node_secret": node["node_secret"]}
    )
    assert r.status_code == 401, "a disabled node cannot log in"


async def test_demo_runs_to_its_summary(tmp_path: Path) -> None:
    code, out, err = await conveyor(
        tmp_path,
        "demo",
        "--exit-after-summary",
        "--json",
        "--port",
        str(free_port()),
        "--data-dir",
        str(tmp_path / "demo"),
        timeout=240,
    )
    assert code == 0, err[-3000:]
    summary = parsed(out)
    by_label = {t["label"]: t for t in summary["tasks"]}
    assert summary["counts"] == {"completed": 9, "failed": 1}, summary["tasks"]
    assert by_label["flaky: fails twice, retries"]["attempts"] == 2
    assert by_label["flaky: out of attempts"]["status"] == "failed"
    assert by_label["count pinned to node 1"]["nodes"] == ["demo-node-1"]
    assert by_label["count pinned to node 2"]["nodes"] == ["demo-node-2"]
    assert len(summary["artifact_urls"]) >= 3, "report (csv, html) and the resized image"
    assert Path(summary["artifact_folder"]).is_dir()


async def _finish_when_claimed(api: Api, node: dict[str, str], outcome: str) -> None:
    """Play the worker: claim the task once it exists, report progress, finish it."""
    for _ in range(200):
        tasks = (await api.claim(node, wait_seconds=5))["tasks"]
        if tasks:
            break
    (task,) = tasks
    for percent in (25, 75):
        r = await api.http.post(
            f"/tasks/{task['task_id']}/progress",
            json={"data": {"percent": percent}},
            headers=node,
        )
        assert r.status_code == 201, r.text
    body = (
        {"version": task["version"], "result": {"ok": True}}
        if outcome == "complete"
        else {"version": task["version"], "error": {"message": "no"}, "retryable": False}
    )
    r = await api.http.post(f"/tasks/{task['task_id']}/{outcome}", json=body, headers=node)
    assert r.status_code == 200, r.text


async def test_watch_streams_events_and_submit_wait_exit_codes(api: Api, tmp_path: Path) -> None:
    admin = await api.admin_headers()
    await api.user_headers("alice")
    _, node = await api.new_node(admin, node_id="w", task_types=["echo"])
    code, _, _ = await conveyor(
        tmp_path,
        "login",
        "--server",
        api.base_url,
        "--username",
        "alice",
        "--password",
        "user-password-1",
    )
    assert code == 0

    task = await api.submit(await api.user_headers("alice"), task_type="echo")
    worker = asyncio.create_task(_finish_when_claimed(api, node, "complete"))
    code, out, err = await conveyor(tmp_path, "watch", task["task_id"], "--json", "--timeout", "60")
    await worker
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    progress = [e["data"]["data"]["percent"] for e in events if e["event"] == "progress"]
    assert progress == [25, 75]
    assert events[-1]["event"] == "status_change"
    assert events[-1]["data"]["status"] == "completed"

    worker = asyncio.create_task(_finish_when_claimed(api, node, "fail"))
    code, out, err = await conveyor(
        tmp_path, "submit", "echo", "--wait", "--json", "--timeout", "60"
    )
    await worker
    assert code == 7, err
    assert parsed(out)["status"] == "failed", "the task's final state is printed"

    code, out, _ = await conveyor(tmp_path, "submit", "echo", "--wait", "--json", "--timeout", "1")
    assert code == 8 and parsed(out)["error"]["code"] == "timeout"
