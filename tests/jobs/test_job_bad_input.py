"""Bad job input is a 400 (or 402) in the error shape and writes nothing: no job row,
no chunk, no ledger transaction, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

from tests.jobs.helpers import Ledger, fund, wallet
from tests.server import Api

BASE: dict[str, Any] = {
    "task_type": "noop",
    "chunk_size": 2,
    "max_concurrency": 2,
    "price_per_chunk": 5,
    "items": [1, 2, 3],
}

BAD_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("price as a string", {"price_per_chunk": "5"}),
    ("fractional price", {"price_per_chunk": 1.5}),
    ("negative price", {"price_per_chunk": -1}),
    ("price past 64 bits", {"price_per_chunk": 2**64}),
    ("price as a boolean", {"price_per_chunk": True}),
    ("chunk_size 0", {"chunk_size": 0}),
    ("negative chunk_size", {"chunk_size": -3}),
    ("max_concurrency 0", {"max_concurrency": 0}),
    ("no items", {"items": []}),
    ("neither items nor a dataset", {"items": None}),
    ("both items and a dataset", {"dataset_artifact_id": "0" * 8 + "-0000-0000-0000-" + "0" * 12}),
    ("an item past 64 bits", {"items": [1, 2**70]}),
    ("a NUL in an item", {"items": ["a\u0000b"]}),
    ("code without a runtime", {"code_artifact_id": "0" * 8 + "-0000-0000-0000-" + "0" * 12}),
    ("an unknown runtime", {"runtime": "cobol"}),
    ("a budget past 64 bits", {"price_per_chunk": 2**62, "chunk_size": 1}),
    ("an unknown field", {"bucket": 3}),
]

BAD_DATASETS: list[tuple[str, str, bytes]] = [
    ("plain text", "data.json", b"this is not json"),
    ("a truncated array", "data.json", b'[1, 2, {"a": '),
    ("trailing garbage", "data.json", b"[1, 2] and more"),
    ("NaN in an array", "data.json", b"[1, NaN]"),
    ("a bad JSONL line", "data.jsonl", b'{"a": 1}\n{"a": \n{"b": 2}\n'),
    ("not UTF-8", "data.jsonl", b'"\xff\xfe"\n'),
    ("an integer past 64 bits", "data.jsonl", b"1\n" + str(2**70).encode() + b"\n"),
    ("nesting too deep", "data.json", b"[" + b"[" * 40 + b"]" * 40 + b"]"),
    ("an empty array", "data.json", b"[]"),
    ("an empty file", "data.jsonl", b"   \n"),
]


def _assert_error_shape(body: Any) -> None:
    assert set(body) == {"error"}
    assert body["error"]["code"] == "invalid_input"
    assert isinstance(body["error"]["message"], str)


async def test_bad_bodies_are_400_and_write_nothing(api: Api, books: Ledger) -> None:
    alice = await api.user_headers("alice")
    await fund(api, alice, 10**6)
    before = await books.counts()
    for name, change in BAD_BODIES:
        body = {**BASE, **change}
        r = await api.http.post("/jobs", json=body, headers=alice)
        assert r.status_code == 400, (name, r.status_code, r.text)
        _assert_error_shape(r.json())
        assert await books.counts() == before, name
    assert (await wallet(api, alice))["reserved"] == 0


async def test_bad_datasets_are_400_and_write_nothing(api: Api, books: Ledger) -> None:
    alice = await api.user_headers("alice")
    await fund(api, alice, 10**6)
    before = await books.counts()
    for name, filename, content in BAD_DATASETS:
        up = await api.http.post(
            "/artifacts",
            files={"file": (filename, content, "application/octet-stream")},
            headers=alice,
        )
        assert up.status_code == 201, up.text
        body = {**BASE, "items": None, "dataset_artifact_id": up.json()["id"]}
        r = await api.http.post("/jobs", json=body, headers=alice)
        assert r.status_code == 400, (name, r.status_code, r.text)
        _assert_error_shape(r.json())
        assert await books.counts() == before, name


async def test_a_short_balance_is_402_with_the_shortfall_and_writes_nothing(
    api: Api, books: Ledger
) -> None:
    alice = await api.user_headers("alice")
    await fund(api, alice, 7)
    before = await books.counts()
    r = await api.http.post("/jobs", json=BASE, headers=alice)
    assert r.status_code == 402, r.text
    error = r.json()["error"]
    assert error["code"] == "insufficient_credits"
    assert error["details"] == {"required": 10, "available": 7, "shortfall": 3}
    assert await books.counts() == before
    assert (await wallet(api, alice))["available"] == 7


async def test_another_users_dataset_is_not_found(api: Api, books: Ledger) -> None:
    alice = await api.user_headers("alice")
    mallory = await api.user_headers("mallory")
    up = await api.http.post(
        "/artifacts", files={"file": ("d.json", b"[1,2,3]", "application/json")}, headers=alice
    )
    body = {**BASE, "items": None, "dataset_artifact_id": up.json()["id"]}
    r = await api.http.post("/jobs", json=body, headers=mallory)
    assert r.status_code == 404
    assert (await books.counts())[0] == 0
