"""The marketplace end to end, as real processes (issue 13): a customer funds a
wallet, uploads a JSONL dataset and a Python bundle and creates a job; another user
logs in with ``conveyor login`` and runs ``conveyor workers 2 --marketplace``, which
registers that user's own node (advertising ``runtime:python``) and runs the chunks
in the sandbox; the job completes, the results download in chunk order, the
provider's wallet shows the earnings, the platform its fee, and the workers' output
the earnings lines. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from conveyor.settings import normalise_database_url
from conveyor.store.database import Database
from conveyor.store.schema import ledger_accounts
from conveyor.worker.marketplace import default_node_id
from tests.sandbox.payloads import GOOD
from tests.sandbox.test_worker_sandbox import SANDBOX_ENV
from tests.server import Api, wait_until
from tests.worker.procs import REPO

ITEMS = [{"n": n} for n in range(12)]
PRICE = 10
EARNINGS_LINE = re.compile(
    r"^\[(w\d)\] chunks done (\d+) · earned this session (\d+) credits · wallet earned (\d+)$",
    re.M,
)


async def _upload(api: Api, who: dict[str, str], name: str, data: bytes, **form: str) -> str:
    files = {"file": (name, data, "application/octet-stream")}
    r = await api.http.post("/artifacts", files=files, data=form, headers=who)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _platform_balance(database_url: str) -> int:
    db = Database(normalise_database_url(database_url))
    try:
        async with db.read() as conn:
            stmt = select(ledger_accounts.c.balance).where(ledger_accounts.c.id == "platform")
            return int((await conn.execute(stmt)).scalar() or 0)
    finally:
        await db.dispose()


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    # Not subprocess.run: the server under test runs in this event loop.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "conveyor.cli.main", *args,
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return await proc.wait(), out.decode(errors="replace")


async def test_marketplace_workers_of_another_user_run_a_code_job_and_earn(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    alice = await api.user_headers("alice")
    await api.user_headers("bob", "bob-password-1")
    r = await api.http.post(
        "/wallet/deposit", json={"amount": 100}, headers={"Idempotency-Key": "fund", **alice}
    )
    assert r.status_code == 201, r.text
    dataset = "".join(json.dumps(item) + "\n" for item in ITEMS).encode()
    data_id = await _upload(api, alice, "items.jsonl", dataset)
    code_id = await _upload(api, alice, "main.py", GOOD.sources["python"].encode(), purpose="code")
    r = await api.http.post(
        "/jobs",
        json={
            "code_artifact_id": code_id,
            "runtime": "python",
            "dataset_artifact_id": data_id,
            "chunk_size": 3,
            "max_concurrency": 2,
            "price_per_chunk": PRICE,
        },
        headers=alice,
    )
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["chunk_count"] == 4

    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env |= {
        **SANDBOX_ENV,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "CONVEYOR_POLL_WAIT_SECONDS": "1",
        "PYTHONPATH": str(REPO),
    }
    code, said = await _cli(
        env, "login", "--server", api.base_url, "--username", "bob", "--password", "bob-password-1"
    )
    assert code == 0, said
    log = tmp_path / "workers.log"
    with log.open("wb") as out:
        # No server named: the workers use the login's.
        launcher = subprocess.Popen(
            [sys.executable, "-m", "conveyor.cli.main", "workers", "2", "--grace", "5",
             "--marketplace", "--concurrency", "1"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:

        async def ended() -> dict[str, Any] | None:
            got = (await api.http.get(f"/jobs/{job['job_id']}", headers=alice)).json()
            return got if got["status"] != "running" else None

        done = await wait_until(ended, 90, "the job ended")

        async def lines_shown() -> list[tuple[str, ...]] | None:
            found = EARNINGS_LINE.findall(log.read_text(errors="replace"))
            done_by = {}
            for name, chunks, _, _ in found:
                done_by[name] = int(chunks)
            return found if sum(done_by.values()) == 4 else None

        shown = await wait_until(lines_shown, 30, "earnings lines for all four chunks")
    finally:
        launcher.send_signal(signal.SIGTERM)

        async def stopped() -> bool:
            return launcher.poll() is not None

        try:
            await wait_until(stopped, 30, "the launcher stopped")
        finally:
            if launcher.poll() is None:
                launcher.kill()
                launcher.wait()
    text = log.read_text(errors="replace")
    assert done["status"] == "completed", (done, text[-3000:])

    # The user's own node, registered by the workers, advertising what they run.
    bob = await api.user_headers("bob", "bob-password-1")
    nodes = (await api.http.get("/nodes", headers=bob)).json()["nodes"]
    assert [n["node_id"] for n in nodes] == [default_node_id()], nodes
    assert nodes[0]["owner_id"] is not None and nodes[0]["task_types"] == ["conveyor.sandbox"]
    assert nodes[0]["labels"]["runtime:python"] == "true"
    chunks = (await api.http.get(f"/jobs/{job['job_id']}/chunks", headers=alice)).json()["chunks"]
    assert {c["node_id"] for c in chunks} == {default_node_id()}

    results = await api.http.get(f"/jobs/{job['job_id']}/results", headers=alice)
    lines = [json.loads(line) for line in results.text.splitlines() if line]
    squares = [{"n": n, "square": n * n} for n in range(12)]
    assert lines == [squares[i : i + 3] for i in range(0, 12, 3)], lines

    fee = done["fee_percent"]
    share = PRICE - PRICE * fee // 100
    wallet_a = (await api.http.get("/wallet", headers=alice)).json()
    wallet_b = (await api.http.get("/wallet", headers=bob)).json()
    assert (wallet_a["available"], wallet_a["reserved"]) == (100 - 4 * PRICE, 0)
    assert wallet_b["earned"] == 4 * share
    assert await _platform_balance(database_url) == 4 * (PRICE - share)
    # Each worker's last line: its own chunks and credits; together, all of them.
    last: dict[str, tuple[int, int, int]] = {}
    for name, count, credits, total in shown:
        last[name] = (int(count), int(credits), int(total))
    assert sum(c for c, _, _ in last.values()) == 4
    assert sum(e for _, e, _ in last.values()) == 4 * share
    assert all(e == c * share for c, e, _ in last.values()), last
    assert max(t for _, _, t in last.values()) == 4 * share
    # Both processes enrolled as that one node; its secret stays in the 0600 file.
    assert text.count(f"marketplace node {default_node_id()} on {api.base_url}") == 2, text
    kept = home / ".config" / "conveyor" / "marketplace-nodes.json"
    assert kept.stat().st_mode & 0o777 == 0o600
    (secret,) = json.loads(kept.read_text()).values()
    assert secret not in text
