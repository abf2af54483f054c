"""Code bundles uploaded over real HTTP (SQLite and PostgreSQL): checked, refused with 400."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.sandbox.zips import make_zip, zip_bomb
from tests.server import Api, serve_api
from tests.server import test_settings as settings_for

MAIN = b"def process(items):\n    return items\n"
CODE_CAP = 16 * 1024


@pytest.fixture
async def code_api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    settings = settings_for(database_url, tmp_path, code_bundle_max_bytes=CODE_CAP)
    async with serve_api(settings) as client:
        yield client


async def _upload(
    api: Api, headers: dict[str, str], name: str, data: bytes, purpose: str | None = "code"
) -> tuple[int, dict[str, object]]:
    form = {"purpose": purpose} if purpose else {}
    files = {"file": (name, data, "application/octet-stream")}
    r = await api.http.post("/artifacts", files=files, data=form, headers=headers)
    return r.status_code, r.json()


async def test_good_bundles_are_stored(api: Api) -> None:
    alice = await api.user_headers("alice")
    for name, data in [
        ("main.py", MAIN),
        ("code.zip", make_zip({"main.js": b"exports.process = (x) => x;"})),
    ]:
        status, body = await _upload(api, alice, name, data)
        assert status == 201, body
        got = await api.http.get(f"/artifacts/{body['id']}/content", headers=alice)
        assert got.content == data


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("evil.zip", make_zip({"../../etc/cron.d/x": MAIN}), "safe relative path"),
        ("evil.zip", make_zip({"/abs/main.py": MAIN}), "safe relative path"),
        ("link.zip", make_zip({"main.py": MAIN}, symlinks={"x": "/etc/shadow"}), "symlink"),
        ("bomb.zip", zip_bomb(8), "zip bomb"),
        ("big.py", b"#" * 20_000, "larger than"),
        ("photo.jpg", b"\xff\xd8\xff", "source file"),
    ],
)
async def test_bad_bundles_get_400_and_nothing_is_kept(
    code_api: Api, name: str, data: bytes, why: str, tmp_path: Path
) -> None:
    alice = await code_api.user_headers("alice")
    status, body = await _upload(code_api, alice, name, data)
    assert status == 400, body
    error = body["error"]
    assert isinstance(error, dict)
    assert error["code"] == "invalid_bundle"
    assert why in str(error["message"])
    assert error["details"][0]["field"] == "file"  # type: ignore[index]
    stored = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    assert stored == [], "a refused bundle leaves no bytes behind"


async def test_the_same_bytes_without_purpose_are_a_plain_artifact(api: Api) -> None:
    alice = await api.user_headers("alice")
    status, _ = await _upload(api, alice, "evil.zip", make_zip({"../x": b""}), purpose=None)
    assert status == 201
    status, body = await _upload(api, alice, "main.py", MAIN, purpose="firmware")
    assert status == 400 and body["error"]["code"] == "invalid_input"  # type: ignore[index]
