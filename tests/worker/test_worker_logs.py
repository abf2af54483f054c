"""The worker's own logs (cli/worker_cmd.py): CONVEYOR_LOG_JSON and CONVEYOR_LOG_LEVEL
as the server reads them, and no HTTP client line per request burying them unless
at DEBUG. Real server, real ``conveyor worker`` processes, both databases."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from conveyor.domain.jobs import SANDBOX_TASK_TYPE
from tests.sandbox.test_worker_sandbox import SANDBOX_ENV
from tests.server import Api, wait_until
from tests.worker.procs import TYPES, WorkerProcess, start_worker, submit_tasks

KEYS = {"event", "level", "timestamp", "logger"}


async def _run_tasks(
    api: Api, tmp: Path, node_id: str, tasks: list[dict[str, Any]], env: dict[str, str]
) -> tuple[WorkerProcess, str]:
    """One worker runs ``tasks`` to an end and is stopped; it and its node secret."""
    admin, user = await api.admin_headers(), await api.user_headers("alice")
    _, secret = await api.create_node(admin, node_id=node_id, task_types=TYPES)
    ids = await submit_tasks(api.http, user, tasks)
    worker = start_worker(api.base_url, node_id, secret, tmp, "--concurrency", "4", env=env)
    try:

        async def ended() -> bool:
            for task_id in ids:
                r = await api.http.get(f"/tasks/{task_id}", headers=user)
                if r.json()["status"] not in ("completed", "failed"):
                    return False
            return True

        await wait_until(ended, 30, f"{len(ids)} tasks ended")
    finally:
        worker.proc.send_signal(signal.SIGTERM)
        assert await worker.wait_exit(20) == 0, worker.stderr()
    return worker, secret


async def test_json_logs_are_json_lines_with_no_secret(api: Api, tmp_path: Path) -> None:
    tasks: list[dict[str, Any]] = [{"task_type": "echo", "params": {"i": i}} for i in range(12)]
    tasks.append({"task_type": "boom", "params": {"x": 7}, "max_attempts": 1})
    worker, secret = await _run_tasks(api, tmp_path, "json-w", tasks, {"CONVEYOR_LOG_JSON": "true"})
    text = worker.log.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line it printed is JSON
    for record in records:
        assert record.keys() >= KEYS, record
    events = [r["event"] for r in records]
    assert events[0] == "worker started" and events[-1] == "worker stopped", events
    started = records[0]
    assert started["logger"] == "conveyor.worker" and started["level"] == "info"
    assert started["server"] == api.base_url and started["concurrency"] == 4
    failed = [r for r in records if r["event"] == "task failed"]
    assert len(failed) == 1 and failed[0]["error"] == "bad value 7", failed
    assert records[-1]["completed"] == 12 and records[-1]["failed"] == 1
    # Neither the node secret nor the access token it logged in for (a JWT).
    assert secret not in text and "eyJ" not in text
    assert "HTTP Request:" not in text


async def test_http_client_lines_only_at_debug(api: Api, tmp_path: Path) -> None:
    tasks = [{"task_type": "echo", "params": {"i": i}} for i in range(10)]
    worker, _ = await _run_tasks(api, tmp_path, "quiet-w", tasks, {})
    text = worker.log.read_text()
    assert "worker started" in text and "worker stopped" in text, text
    assert "HTTP Request:" not in text, "httpx/httpcore are WARNING unless DEBUG"

    worker, secret = await _run_tasks(
        api, tmp_path, "debug-w", tasks[:2], {"CONVEYOR_LOG_LEVEL": "DEBUG"}
    )
    text = worker.log.read_text()
    assert "HTTP Request: POST " + api.base_url in text, "DEBUG shows every request"
    assert secret not in text and "eyJ" not in text


async def test_a_bad_log_setting_is_a_usage_error(api: Api, tmp_path: Path) -> None:
    worker = start_worker(
        api.base_url, "w", "secret", tmp_path, env={"CONVEYOR_LOG_JSON": "sometimes"}
    )
    try:
        assert await worker.wait_exit(20) == 2
    finally:
        worker.stop()
    assert "log_json" in worker.stderr() and "Traceback" not in worker.stderr()


async def test_sandbox_notices_are_log_events_in_json_mode(api: Api, tmp_path: Path) -> None:
    # What --sandbox tells its operator (the probe, the labels) are events too, so
    # even this worker's output is JSON lines throughout.
    admin = await api.admin_headers()
    node_id, secret = await api.create_node(admin, node_id="box", task_types=[SANDBOX_TASK_TYPE])
    home = tmp_path / "home"
    home.mkdir()
    env = {**SANDBOX_ENV, "HOME": str(home), "CONVEYOR_LOG_JSON": "1"}
    worker = start_worker(api.base_url, node_id, secret, tmp_path, "--sandbox", env=env, module="")
    try:

        def running() -> bool:
            # Logged once its SIGTERM handler is in place, after the labels.
            return '"worker started"' in worker.log.read_text()

        await wait_until(running, 30, "the worker started")
    finally:
        worker.proc.send_signal(signal.SIGTERM)
        assert await worker.wait_exit(20) == 0, worker.stderr()
    text = worker.log.read_text()
    records = {r["event"]: r for r in map(json.loads, text.splitlines()) if r}
    # Which runtimes pass their probe depends on the machine (and its load).
    runtimes = records["sandbox ready"]["labels"]
    assert runtimes and set(runtimes.values()) == {"true"}, runtimes
    assert records["node labels"]["node_id"] == node_id
    assert records["node labels"]["labels"] == runtimes
    assert list(records)[-1] == "worker stopped"
    assert secret not in text and "eyJ" not in text
