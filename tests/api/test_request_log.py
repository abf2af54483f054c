"""One JSON log line per request, and a request id that ties a client's answer to the
server's logs (api/edge.py): real server subprocess, JSON logs, both databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.server import Api, ServerProcess, process_settings


async def test_each_request_logs_one_line_with_its_request_id(
    database_url: str, tmp_path: Path
) -> None:
    env = process_settings(
        database_url, tmp_path / "data", CONVEYOR_LOG_LEVEL="INFO", CONVEYOR_LOG_JSON="true"
    )
    server = ServerProcess(env, log_path=tmp_path / "server.log")
    await server.start()
    api = Api(server.url)
    try:
        user = await api.user_headers("erin")
        token = user["Authorization"].split()[1]
        task = await api.submit(user)
        mine = await api.http.get(
            f"/tasks/{task['task_id']}", headers={**user, "X-Request-ID": "client-id.42"}
        )
        missing = await api.http.get(
            "/tasks/nope?secret_query=hunter2", headers={**user, "X-Request-ID": "bad id\tx"}
        )
        anonymous = await api.http.get("/tasks")
    finally:
        await api.close()
        server.stop()
    assert mine.headers["x-request-id"] == "client-id.42"
    # A client id that could forge a log line or header is replaced, not echoed.
    generated = missing.headers["x-request-id"]
    assert generated != "bad id\tx" and len(generated) == 32
    assert missing.json()["error"]["request_id"] == generated
    assert anonymous.json()["error"]["request_id"] == anonymous.headers["x-request-id"]

    log = server.log_path.read_text() if server.log_path else ""
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    requests: dict[str, dict[str, Any]] = {
        r["request_id"]: r for r in records if r.get("event") == "request"
    }
    line = requests["client-id.42"]
    assert line["method"] == "GET" and line["route"] == "/api/v1/tasks/{task_id}"
    assert line["status"] == 200 and line["duration_ms"] >= 0
    assert line["principal_id"] and line["level"] == "info"
    assert requests[generated]["status"] == 404
    assert requests[anonymous.headers["x-request-id"]]["principal_id"] is None
    assert requests[anonymous.headers["x-request-id"]]["status"] == 401
    # Every request is there exactly once; no token and no query string anywhere.
    ids = [r["request_id"] for r in records if r.get("event") == "request"]
    assert len(ids) == len(set(ids)) and len(ids) >= 6
    assert token not in log and "hunter2" not in log
