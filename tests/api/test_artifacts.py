"""Artifacts over real HTTP, on SQLite and PostgreSQL: upload, read back, who may see."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests import server
from tests.server import Api, serve_app

SMALL_CAP = 4096


@pytest.fixture
async def small_api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The app with a tiny artifact cap, to see both 413 paths cheaply."""
    settings = server.test_settings(database_url, tmp_path, artifact_max_bytes=SMALL_CAP)
    async with serve_app(settings, run_duties=False) as base_url:
        client = Api(base_url)
        try:
            yield client
        finally:
            await client.close()


async def _upload(api: Api, headers: dict[str, str], data: bytes, **form: str) -> dict[str, object]:
    files = {"file": ("report ü.csv", data, "text/csv")}
    r = await api.http.post("/artifacts", files=files, data=form, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_upload_and_download_roundtrip(api: Api) -> None:
    alice = await api.user_headers("alice")
    data = b"a,b\n1,2\n" * 50_000  # past the 1 MiB body limit of other routes
    meta = await _upload(api, alice, data)
    assert meta["size"] == len(data)
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["name"] == "report ü.csv"

    info = await api.http.get(f"/artifacts/{meta['id']}", headers=alice)
    assert info.status_code == 200
    assert info.json() == meta

    got = await api.http.get(f"/artifacts/{meta['id']}/content", headers=alice)
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"].startswith("text/csv")
    disposition = got.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''report%20%C3%BC.csv" in disposition


async def test_strangers_get_404_and_admins_see_all(api: Api) -> None:
    alice = await api.user_headers("alice")
    bob = await api.user_headers("bob")
    meta = await _upload(api, alice, b"secret")
    for path in (f"/artifacts/{meta['id']}", f"/artifacts/{meta['id']}/content"):
        r = await api.http.get(path, headers=bob)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
        assert (await api.http.get(path, headers=await api.admin_headers())).status_code == 200
    missing = await api.http.get("/artifacts/no-such-id", headers=alice)
    assert missing.status_code == 404
    assert (await api.http.get(f"/artifacts/{meta['id']}")).status_code == 401


async def test_task_artifacts_are_shared_by_owner_and_node(api: Api) -> None:
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    bob = await api.user_headers("bob")
    _, node = await api.new_node(admin, node_id="n1", task_types=["report_generate"])
    task = await api.submit(alice, task_type="report_generate", params={})
    claimed = await api.claim(node)
    assert claimed["tasks"][0]["task_id"] == task["task_id"]

    meta = await _upload(api, node, b"output", task_id=task["task_id"])
    assert meta["task_id"] == task["task_id"]
    assert (await api.http.get(f"/artifacts/{meta['id']}", headers=alice)).status_code == 200
    assert (await api.http.get(f"/artifacts/{meta['id']}", headers=bob)).status_code == 404

    # Nobody attaches files to a task they cannot see.
    r = await api.http.post(
        "/artifacts", files={"file": ("x", b"x")}, data={"task_id": task["task_id"]}, headers=bob
    )
    assert r.status_code == 404


async def test_missing_file_is_400(api: Api) -> None:
    alice = await api.user_headers("alice")
    r = await api.http.post("/artifacts", data={"task_id": "x"}, headers=alice)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_input"
    r = await api.http.post("/artifacts", files={"file": ("", b"abc")}, headers=alice)
    assert r.status_code == 400


async def test_too_large_upload_is_413(small_api: Api) -> None:
    alice = await small_api.user_headers("alice")
    # Just over the cap: passes the body limit's slack, refused while stored.
    r = await small_api.http.post(
        "/artifacts", files={"file": ("big", b"x" * (SMALL_CAP + 1))}, headers=alice
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    # Far over it: refused from the Content-Length alone, before a byte is read;
    # httpx will not send a lying header, so this client speaks raw HTTP.
    url = httpx.URL(small_api.base_url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = (
        "POST /api/v1/artifacts HTTP/1.1\r\n"
        f"Host: {url.host}\r\nAuthorization: {alice['Authorization']}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {10**9}\r\n\r\n"
    )
    writer.write(head.encode())
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"413"
    exact = await small_api.http.post(
        "/artifacts", files={"file": ("ok", b"x" * SMALL_CAP)}, headers=alice
    )
    assert exact.status_code == 201
