"""``conveyor worker --sandbox`` as a real process against a real server (both databases).

The tasks are what the jobs service will produce for chunks: task type
``conveyor.sandbox``, params naming a code artifact, a runtime and the items, and
the label ``runtime:<name>`` required.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from conveyor.worker.sandbox.handler import TASK_TYPE, runtime_labels
from tests.sandbox.payloads import FILE_NAMES, GOOD, GOOD_RESULT, INFINITE_LOOP, SNOOP
from tests.server import Api, wait_until
from tests.worker.procs import start_worker

SANDBOX_ENV = {
    "CONVEYOR_SANDBOX_WALL_SECONDS": "2",
    "CONVEYOR_SANDBOX_CPU_SECONDS": "2",
    "CONVEYOR_SANDBOX_MEMORY_MB": "128",
    "CONVEYOR_SANDBOX_MAX_PROCESSES": "32",
    "CONVEYOR_SANDBOX_PROGRESS_INTERVAL_SECONDS": "0",
}
TERMINAL = {"completed", "failed", "cancelled", "dead"}


async def _upload(api: Api, who: dict[str, str], name: str, data: bytes, **form: str) -> str:
    files = {"file": (name, data, "application/octet-stream")}
    r = await api.http.post("/artifacts", files=files, data=form, headers=who)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _code(api: Api, who: dict[str, str], runtime: str, source: str) -> str:
    return await _upload(api, who, FILE_NAMES[runtime], source.encode(), purpose="code")


def _chunk(code: str, runtime: str, **items: Any) -> dict[str, Any]:
    return {
        "task_type": TASK_TYPE,
        "params": {"code_artifact_id": code, "runtime": runtime, "entry": None, **items},
        "required_labels": runtime_labels([runtime]),
        "max_attempts": 1,
    }


async def _wait_done(api: Api, who: dict[str, str], ids: list[str]) -> list[dict[str, Any]]:
    async def finished() -> list[dict[str, Any]] | None:
        tasks = [(await api.http.get(f"/tasks/{i}", headers=who)).json() for i in ids]
        return tasks if all(t["status"] in TERMINAL for t in tasks) else None

    return list(await wait_until(finished, 60, "every chunk finished"))


async def test_worker_runs_chunks_in_the_sandbox_and_survives_hostile_ones(
    api: Api, tmp_path: Path
) -> None:
    admin, alice = await api.admin_headers(), await api.user_headers("alice")
    node_id, secret = await api.create_node(
        admin,
        node_id="sandboxed",
        task_types=[TASK_TYPE],
        labels=runtime_labels(["python", "node"]),
    )
    home = tmp_path / "home"
    (home / ".config" / "conveyor").mkdir(parents=True)
    credentials = home / ".config" / "conveyor" / "session.json"
    credentials.write_text(json.dumps({"node_id": node_id, "secret": secret}))
    credentials.chmod(0o600)

    loop = await _code(api, alice, "python", INFINITE_LOOP.sources["python"])
    snoop = await _code(api, alice, "python", SNOOP.sources["python"])
    good_py = await _code(api, alice, "python", GOOD.sources["python"])
    good_js = await _code(api, alice, "node", GOOD.sources["node"])
    lines = "\n".join(json.dumps(item) for item in GOOD.items).encode()
    items_file = await _upload(api, alice, "items.jsonl", lines)

    worker = start_worker(
        api.base_url, node_id, secret, tmp_path, "--sandbox", "--concurrency", "2",
        env={**SANDBOX_ENV, "HOME": str(home)}, module="",
    )  # fmt: skip
    try:
        r = await api.http.post(
            "/tasks",
            json={
                "tasks": [
                    _chunk(loop, "python", items=[]),
                    _chunk(snoop, "python", items=[str(credentials), worker.proc.pid]),
                    _chunk(good_py, "python", items=GOOD.items),
                    _chunk(good_js, "node", items_artifact_id=items_file),
                ]
            },
            headers=alice,
        )
        assert r.status_code == 201, r.text
        ids = [t["task_id"] for t in r.json()["tasks"]]
        hung, snooped, py, js = await _wait_done(api, alice, ids)
        assert worker.proc.poll() is None, worker.stderr()
    finally:
        worker.proc.send_signal(signal.SIGTERM)
        code = await worker.wait_exit(20)
    assert code == 0, worker.stderr()

    assert hung["status"] == "failed" and hung["error"]["code"] == "sandbox_timeout", hung
    assert snooped["status"] == "completed", snooped
    assert secret not in json.dumps(snooped["result"])
    assert not any(k.startswith("CONVEYOR_") for k in snooped["result"]["env"])
    assert py["status"] == "completed" and py["result"] == GOOD_RESULT, py
    assert js["status"] == "completed" and js["result"] == GOOD_RESULT, js
    progress = await api.http.get(f"/tasks/{py['task_id']}/progress", headers=alice)
    reports = [p["data"] for p in progress.json()["progress"]]
    assert {"percent": 100, "message": "5 done"} in reports, reports
