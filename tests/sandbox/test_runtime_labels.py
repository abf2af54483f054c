"""Workers advertise the runtimes their sandbox runs as the node's ``runtime:*``
labels (``POST /nodes/runtimes``, which ``conveyor worker --sandbox`` calls after its
probe), so code chunks go only to nodes that can run them; other labels stay."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from conveyor.worker.sandbox.handler import TASK_TYPE
from tests.sandbox.test_worker_sandbox import SANDBOX_ENV
from tests.server import Api, wait_until
from tests.worker.procs import start_worker


async def test_a_node_sets_only_its_runtime_labels(api: Api) -> None:
    admin = await api.admin_headers()
    node_id, node = await api.new_node(
        admin, node_id="box", labels={"region": "eu", "runtime:node": "true"}
    )
    r = await api.http.post("/nodes/runtimes", json={"runtimes": ["python"]}, headers=node)
    assert r.status_code == 200, r.text
    assert r.json() == {"node_id": node_id, "labels": {"region": "eu", "runtime:python": "true"}}
    # What the claim uses: a chunk needing node no longer reaches it, python does.
    alice = await api.user_headers("alice")
    needs_node = await api.submit(alice, task_type="x", required_labels={"runtime:node": "true"})
    needs_py = await api.submit(alice, task_type="x", required_labels={"runtime:python": "true"})
    claimed = (await api.claim(node, task_types=["x"], max_tasks=5))["tasks"]
    assert [t["task_id"] for t in claimed] == [needs_py["task_id"]]
    assert needs_node["task_id"] not in {t["task_id"] for t in claimed}

    for bad in ({"runtimes": ["ruby"]}, {"runtimes": "python"}, {"labels": {"gpu": "yes"}}):
        r = await api.http.post("/nodes/runtimes", json=bad, headers=node)
        assert r.status_code == 400, (bad, r.text)
    user = await api.user_headers("bob")
    r = await api.http.post("/nodes/runtimes", json={"runtimes": ["python"]}, headers=user)
    assert r.status_code == 403
    got = (await api.http.get(f"/nodes/{node_id}", headers=admin)).json()
    assert got["labels"] == {"region": "eu", "runtime:python": "true"}, "refusals change nothing"


async def test_the_sandbox_worker_advertises_what_its_probe_found(api: Api, tmp_path: Path) -> None:
    admin = await api.admin_headers()
    node_id, secret = await api.create_node(admin, node_id="fresh", task_types=[TASK_TYPE])
    home = tmp_path / "home"
    home.mkdir()
    worker = start_worker(
        api.base_url, node_id, secret, tmp_path, "--sandbox",
        env={**SANDBOX_ENV, "HOME": str(home)}, module="",
    )  # fmt: skip
    try:

        async def labelled() -> dict[str, Any] | None:
            got = (await api.http.get(f"/nodes/{node_id}", headers=admin)).json()
            return got if got["labels"] else None

        node = await wait_until(labelled, 30, "the worker advertised its runtimes")
    finally:
        worker.proc.send_signal(signal.SIGTERM)
        await worker.wait_exit(20)
    # This machine has both (the sandbox tests run Node.js bundles too).
    assert node["labels"] == {"runtime:python": "true", "runtime:node": "true"}, node
    assert f"node {node_id} labels: runtime:node=true, runtime:python=true" in worker.stderr()
