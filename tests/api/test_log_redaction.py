"""Logs never carry secrets, even at DEBUG where SQLAlchemy and aiosqlite log every
statement (issue 10, item 10): a real server at DEBUG with JSON logs, on both
databases, driven through login, node registration and a claim; then its whole log
is searched for every secret it handled."""

from __future__ import annotations

import json
from pathlib import Path

from tests.server import Api, ServerProcess, process_settings

PASSWORD = "correct-horse-battery-9"


async def test_a_debug_log_holds_no_password_hash_token_or_secret(
    database_url: str, tmp_path: Path
) -> None:
    env = process_settings(
        database_url, tmp_path / "data", CONVEYOR_LOG_LEVEL="DEBUG", CONVEYOR_LOG_JSON="true"
    )
    server = ServerProcess(env, log_path=tmp_path / "server.log")
    await server.start()
    api = Api(server.url)
    secrets: list[str] = [PASSWORD]
    try:
        r = await api.http.post("/auth/register", json={"username": "dana", "password": PASSWORD})
        assert r.status_code == 201, r.text
        tokens = await api.login("dana", PASSWORD)
        secrets += [tokens["access_token"], tokens["refresh_token"]]
        admin = await api.admin_headers()
        secrets.append(admin["Authorization"].split()[1])
        node_id, node_secret = await api.create_node(admin, node_id="logged")
        node = await api.node_headers(node_id, node_secret)
        secrets += [node_secret, node["Authorization"].split()[1]]
        user = {"Authorization": f"Bearer {tokens['access_token']}"}
        await api.submit(user)
        assert len((await api.claim(node))["tasks"]) == 1
        r = await api.http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert r.status_code == 200, r.text
        secrets += [r.json()["access_token"], r.json()["refresh_token"]]
    finally:
        await api.close()
        server.stop()
    log = server.log_path.read_text() if server.log_path else ""
    lines = [line for line in log.splitlines() if line.strip()]
    # The log is there and verbose: statements logged, by the stdlib loggers too.
    records = [json.loads(line) for line in lines]  # every line JSON, foreign ones too
    assert any(r.get("logger", "").startswith("sqlalchemy") for r in records), lines[:5]
    assert any("INSERT INTO users" in r.get("event", "") for r in records)
    for secret in secrets:
        assert secret not in log
    assert "$argon2" not in log
