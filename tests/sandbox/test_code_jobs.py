"""Jobs with customer code end to end (issues 12 and 13 joined): a customer funds a
wallet, uploads a Python bundle and creates a job over items; its chunks are
``conveyor.sandbox`` tasks requiring ``runtime:python``, which a user-owned node of
another user runs under ``conveyor worker --sandbox``; the results download in
chunk order and the provider is paid, minus the platform fee. Both databases."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from conveyor.worker.sandbox.handler import TASK_TYPE, runtime_labels
from tests.sandbox.payloads import GOOD
from tests.sandbox.test_worker_sandbox import SANDBOX_ENV, _code
from tests.server import Api, wait_until
from tests.worker.procs import start_worker

ITEMS = [{"n": n} for n in range(12)]


async def test_a_code_job_runs_in_the_sandbox_and_pays_the_provider(
    api: Api, tmp_path: Path
) -> None:
    alice, bob = await api.user_headers("alice"), await api.user_headers("bob")
    r = await api.http.post(
        "/wallet/deposit", json={"amount": 100}, headers={"Idempotency-Key": "fund", **alice}
    )
    assert r.status_code in (200, 201), r.text
    r = await api.http.post(
        "/nodes",
        json={
            "name": "bob's box",
            "node_id": "bobs-sandbox",
            "task_types": [TASK_TYPE],
            "labels": runtime_labels(["python"]),
        },
        headers=bob,
    )
    assert r.status_code == 201, r.text
    node_id, secret = r.json()["node_id"], r.json()["node_secret"]
    code = await _code(api, alice, "python", GOOD.sources["python"])
    r = await api.http.post(
        "/jobs",
        json={
            "code_artifact_id": code,
            "runtime": "python",
            "items": ITEMS,
            "chunk_size": 5,
            "max_concurrency": 2,
            "price_per_chunk": 10,
        },
        headers=alice,
    )
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["task_type"] == TASK_TYPE
    chunks = (await api.http.get(f"/jobs/{job['job_id']}/chunks", headers=alice)).json()
    first = (await api.http.get(f"/tasks/{chunks['chunks'][0]['task_id']}", headers=alice)).json()
    assert first["required_labels"] == {"runtime:python": "true"}

    home = tmp_path / "home"
    home.mkdir()
    worker = start_worker(
        api.base_url, node_id, secret, tmp_path, "--sandbox", "--concurrency", "2",
        env={**SANDBOX_ENV, "HOME": str(home)}, module="",
    )  # fmt: skip
    try:

        async def ended() -> dict[str, Any] | None:
            got = (await api.http.get(f"/jobs/{job['job_id']}", headers=alice)).json()
            return got if got["status"] != "running" else None

        done = await wait_until(ended, 60, "the job ended")
    finally:
        worker.proc.send_signal(signal.SIGTERM)
        await worker.wait_exit(20)
    assert done["status"] == "completed", done
    results = await api.http.get(f"/jobs/{job['job_id']}/results", headers=alice)
    # One line per chunk, in chunk order: the code's answer for its items.
    lines = [json.loads(line) for line in results.text.splitlines() if line]
    squares = [{"n": n, "square": n * n} for n in range(12)]
    assert lines == [squares[0:5], squares[5:10], squares[10:12]], lines
    assert results.headers.get("conveyor-missing-count", "0") == "0"
    # 3 chunks x 10 credits: alice paid 30; bob earned them less the platform's fee.
    wallet_a = (await api.http.get("/wallet", headers=alice)).json()
    wallet_b = (await api.http.get("/wallet", headers=bob)).json()
    assert (wallet_a["available"], wallet_a["reserved"]) == (70, 0)
    fee = done["fee_percent"]
    assert wallet_b["earned"] == 3 * (10 - 10 * fee // 100)
