"""``conveyor nodes import FILE``: a fleet keeps its secrets, stored only hashed."""

from __future__ import annotations

import json
from pathlib import Path

from conveyor.store import nodes as node_store
from tests.cli.test_cli import conveyor
from tests.server import ADMIN, Api, runtime


async def test_cli_imports_seed000_nodes_with_their_secrets(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    fleet = tmp_path / "nodes.csv"
    fleet.write_text(
        "node_id,node_secret,is_active\n"
        "nodeA,secret-for-node-a,true\n"
        "nodeB,secret-for-node-b,true\n"
        "nodeC,secret-for-node-c,false\n"
    )
    server = ["--server", api.base_url]
    code, _, _ = await conveyor(
        tmp_path, "login", *server, "--username", ADMIN[0], "--password", ADMIN[1]
    )
    assert code == 0
    code, out, err = await conveyor(tmp_path, "nodes", "import", str(fleet), "--json")
    assert code == 0, err
    assert json.loads(out)["nodes"] == [
        {"node_id": "nodeA", "status": "active"},
        {"node_id": "nodeB", "status": "active"},
        {"node_id": "nodeC", "status": "disabled"},
    ]
    assert "secret-for" not in out
    for node_id, secret, expected in [
        ("nodeA", "secret-for-node-a", 200),
        ("nodeB", "secret-for-node-a", 401),
        ("nodeC", "secret-for-node-c", 401),
    ]:
        r = await api.http.post(
            "/auth/node/login", json={"node_id": node_id, "node_secret": secret}
        )
        assert r.status_code == expected, (node_id, r.text)
    # Again: all or nothing, and what is there stays as it was.
    code, out, _ = await conveyor(tmp_path, "nodes", "import", str(fleet), "--json")
    assert code != 0 and json.loads(out)["error"]["code"] == "conflict"
    async with runtime(database_url, tmp_path) as rt, rt.db.read() as conn:
        stored = await node_store.get_node(conn, "nodeA")
    assert stored is not None and stored.secret_hash.startswith("$argon2id$")
    assert "secret-for-node-a" not in stored.secret_hash


async def test_import_refuses_bad_fleets_and_non_admins(api: Api) -> None:
    admin = await api.admin_headers()
    short = {"nodes": [{"node_id": "n1", "node_secret": "short"}]}
    r = await api.http.post("/nodes/import", json=short, headers=admin)
    assert r.status_code == 400
    twice = {"nodes": [{"node_id": "n1", "node_secret": "long-enough-1"}] * 2}
    r = await api.http.post("/nodes/import", json=twice, headers=admin)
    assert r.status_code == 400 and "twice" in r.text
    user = await api.user_headers("importer")
    ok = {"nodes": [{"node_id": "n1", "node_secret": "long-enough-1"}]}
    assert (await api.http.post("/nodes/import", json=ok, headers=user)).status_code == 403
    assert (await api.http.get("/nodes/n1", headers=admin)).status_code == 404
