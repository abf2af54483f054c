"""Hostile values at every entry point: the same answer on SQLite and PostgreSQL,
in the documented error shape, and the database exactly as it was.

Each case is sent to a real server on each backend in turn (the ``api`` fixture);
the expected status is written down per case, so both backends giving it is both
giving the same. Before and after every case the rows of every table are counted
and the tasks' contents dumped: a refused request must leave no trace.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from conveyor.api.app import create_app
from conveyor.api.input import CheckedRoute
from conveyor.settings import normalise_database_url
from conveyor.store.database import Database
from conveyor.store.schema import metadata, tasks
from tests.server import Api
from tests.server import test_settings as settings_for

TASK = "00000000-0000-4000-8000-000000000001"


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    who: str = "user"  # user, node or admin
    body: Any = None
    raw: bytes | None = None  # sent as is, instead of ``body``
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 400


def _cursor(created: str, task_id: str = TASK) -> str:
    raw = json.dumps([created, task_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _escaped(template: str) -> bytes:
    # json.dumps would refuse to write a lone surrogate; the escape is what a client sends.
    return template.encode()


CASES = [
    # Lone surrogates, escaped in JSON, in strings and keys, nested or not.
    Case(
        "surrogate in params value",
        "POST",
        "/tasks",
        raw=_escaped('{"task_type": "ok", "params": {"a": "\\ud800"}}'),
    ),
    Case(
        "surrogate in nested params key",
        "POST",
        "/tasks",
        raw=_escaped('{"task_type": "ok", "params": {"a": [{"\\udfff": 1}]}}'),
    ),
    Case(
        "surrogate in metadata",
        "POST",
        "/tasks",
        raw=_escaped('{"task_type": "ok", "metadata": {"m": "x\\ud83dy"}}'),
    ),
    Case(
        "surrogate in a batch's second task",
        "POST",
        "/tasks",
        raw=_escaped(
            '{"tasks": [{"task_type": "ok"}, {"task_type": "ok", "params": {"\\ud800": 0}}]}'
        ),
    ),
    Case(
        "surrogate in a username",
        "POST",
        "/auth/register",
        who="anonymous",
        raw=_escaped('{"username": "ab\\ud800c", "password": "long enough password"}'),
    ),
    Case(
        "surrogate in progress data",
        "POST",
        f"/tasks/{TASK}/progress",
        who="node",
        raw=_escaped('{"data": {"note": "\\udc00"}}'),
    ),
    Case(
        "surrogate in a finish result",
        "POST",
        "/worker/claim",
        who="node",
        raw=_escaped(
            '{"max_tasks": 0, "finishes": [{"task_id": "'
            + TASK
            + '", "version": 2, "status": "completed", "result": {"r": "\\ud800"}}]}'
        ),
    ),
    # NUL in path, query and body values.
    Case("NUL in a path value", "GET", "/tasks/abc%00def"),
    Case("NUL in a query value", "GET", "/tasks?task_type=ok%00"),
    Case("NUL in a query name", "GET", "/tasks?x%00=1"),
    Case("NUL in a node path value", "GET", "/nodes/n%001", who="admin"),
    Case(
        "NUL in a body string",
        "POST",
        "/tasks",
        body={"task_type": "ok", "params": {"s": "a\u0000b"}},
    ),
    # Integers past what the columns hold.
    Case("after_seq past 64 bits", "GET", f"/tasks/{TASK}/progress?after_seq={2**63}"),
    Case("after_seq of 5,000 digits", "GET", f"/tasks/{TASK}/progress?after_seq={'9' * 5000}"),
    Case(
        "Last-Event-ID past 64 bits",
        "GET",
        f"/tasks/{TASK}/events",
        headers={"Last-Event-ID": str(2**63)},
    ),
    Case(
        "Last-Event-ID of 5,000 digits",
        "GET",
        f"/tasks/{TASK}/events",
        headers={"Last-Event-ID": "9" * 5000},
    ),
    Case("priority past 64 bits", "POST", "/tasks", body={"task_type": "ok", "priority": 2**64}),
    Case(
        "a float that is not an integer",
        "POST",
        "/tasks",
        body={"task_type": "ok", "max_attempts": 2.5},
    ),
    # Datetimes at the edges of the calendar.
    Case(
        "run_at at year 1",
        "POST",
        "/tasks",
        body={"task_type": "ok", "run_at": "0001-01-01T00:00:00+00:00"},
    ),
    Case(
        "run_at at year 9999 west of UTC",
        "POST",
        "/tasks",
        body={"task_type": "ok", "run_at": "9999-12-31T23:59:59-12:00"},
    ),
    Case("cursor at year 1", "GET", f"/tasks?cursor={_cursor('0001-01-01T00:00:00+14:00')}"),
    Case("cursor at year 9999", "GET", f"/tasks?cursor={_cursor('9999-12-31T23:59:59-14:00')}"),
    Case("cursor without a time zone", "GET", f"/tasks?cursor={_cursor('2026-01-01T00:00:00')}"),
    # Malformed cursors.
    Case("cursor not base64", "GET", "/tasks?cursor=%%%%"),
    Case(
        "cursor of one element", "GET", f"/tasks?cursor={base64.urlsafe_b64encode(b'[1]').decode()}"
    ),
    Case("cursor not JSON", "GET", f"/tasks?cursor={base64.urlsafe_b64encode(b'{{').decode()}"),
    Case(
        "cursor with a surrogate id",
        "GET",
        "/tasks?cursor="
        + base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", "\\ud800"]').decode(),
    ),
    # JSON that is not UTF-8 (RFC 8259 section 8.1), or not JSON.
    Case(
        "latin-1 body",
        "POST",
        "/tasks",
        raw='{"task_type": "ok", "params": {"s": "caf\u00e9"}}'.encode("latin-1"),
    ),
    Case("UTF-16 body", "POST", "/tasks", raw='{"task_type": "ok"}'.encode("utf-16")),
    Case("NaN in a body", "POST", "/tasks", raw=b'{"task_type": "ok", "params": {"n": NaN}}'),
    Case(
        "a number of 5,000 digits",
        "POST",
        "/tasks",
        raw=b'{"task_type": "ok", "params": {"n": ' + b"9" * 5000 + b"}}",
    ),
]


@pytest.fixture
async def actors(api: Api) -> AsyncIterator[dict[str, dict[str, str]]]:
    admin = await api.admin_headers()
    user = await api.user_headers("alice")
    _, node = await api.new_node(admin, node_id="n1", task_types=["ok"])
    # One task of the user's, leased to the node, so the task paths are real ones.
    r = await api.http.post("/tasks", json={"task_type": "ok", "task_id": TASK}, headers=user)
    assert r.status_code == 201, r.text
    claimed = await api.claim(node, task_types=["ok"])
    assert [t["task_id"] for t in claimed["tasks"]] == [TASK]
    yield {"admin": admin, "user": user, "node": node, "anonymous": {}}


async def _snapshot(database_url: str) -> dict[str, Any]:
    """Every table's row count, and every task row in full."""
    db = Database(normalise_database_url(database_url))
    try:
        async with db.read() as conn:
            counts = {
                t.name: (await conn.execute(select(func.count()).select_from(t))).scalar_one()
                for t in metadata.sorted_tables
            }
            rows = (await conn.execute(select(tasks).order_by(tasks.c.id))).mappings().all()
        return {"counts": counts, "tasks": [dict(r) for r in rows]}
    finally:
        await db.dispose()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_hostile_value_is_refused_alike_and_leaves_nothing(
    api: Api, database_url: str, actors: dict[str, dict[str, str]], case: Case
) -> None:
    before = await _snapshot(database_url)
    headers = {**actors[case.who], **case.headers}
    if case.raw is not None or case.body is not None:
        content = case.raw if case.raw is not None else json.dumps(case.body).encode()
        headers["Content-Type"] = case.content_type
        r = await api.http.request(case.method, case.path, content=content, headers=headers)
    else:
        r = await api.http.request(case.method, case.path, headers=headers)
    assert r.status_code == case.status, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_input" and error["message"]
    assert await _snapshot(database_url) == before, "a refused request changed the database"
    # The owner's listing and the admin's still render (a stored lone surrogate broke them).
    for who in ("user", "admin"):
        listed = await api.http.get("/tasks", headers=actors[who])
        assert listed.status_code == 200, listed.text


def test_every_api_route_checks_its_input(tmp_path: Path) -> None:
    """New routers must use CheckedRoute too, or their input skips the one validation
    place. The dashboard's routes serve fixed files by exact name and store nothing;
    the API docs pages (/docs, /redoc) take no input at all."""
    app = create_app(settings_for("sqlite:///:memory:", tmp_path))
    unchecked = [
        route.path
        for route in app.routes
        if isinstance(route, APIRoute)
        and not isinstance(route, CheckedRoute)
        and not route.endpoint.__module__.startswith(
            ("conveyor.dashboard.", "conveyor.api.docs", "fastapi_offline.")
        )
    ]
    assert unchecked == []
