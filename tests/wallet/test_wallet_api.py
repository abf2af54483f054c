"""The wallet through the real server on SQLite and PostgreSQL (sandbox provider):
balances, deposits, withdrawals, history, idempotency, bad input and ownership."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.server import Api

Headers = dict[str, str]


async def user(api: Api) -> Headers:
    return await api.user_headers(f"u-{uuid.uuid4().hex[:10]}")


async def wallet(api: Api, headers: Headers, **params: str) -> dict[str, Any]:
    r = await api.http.get("/wallet", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def deposit(api: Api, headers: Headers, amount: Any, key: str | None = None) -> Any:
    extra = {"Idempotency-Key": key} if key else {}
    return await api.http.post(
        "/wallet/deposit", json={"amount": amount}, headers={**headers, **extra}
    )


async def ledger_rows(api: Api, headers: Headers) -> list[dict[str, Any]]:
    r = await api.http.get("/wallet/transactions", headers=headers, params={"limit": 500})
    assert r.status_code == 200, r.text
    return list(r.json()["transactions"])


async def test_a_deposit_is_credited_at_once_in_the_sandbox(api: Api) -> None:
    alice = await user(api)
    assert {k: v for k, v in (await wallet(api, alice)).items() if k != "user_id"} == {
        "available": 0,
        "reserved": 0,
        "earned": 0,
    }
    r = await deposit(api, alice, 250)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["provider"], body["status"], body["amount"]) == ("sandbox", "succeeded", 250)
    assert body["checkout_url"] is None
    assert body["wallet"]["available"] == 250
    assert (await wallet(api, alice))["available"] == 250


async def test_a_repeated_idempotency_key_credits_once(api: Api) -> None:
    alice = await user(api)
    first = await deposit(api, alice, 40, key="dep-1")
    again = await deposit(api, alice, 40, key="dep-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert (await wallet(api, alice))["available"] == 40
    changed = await deposit(api, alice, 41, key="dep-1")
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    # The same key for a withdrawal is another request, not a replay of the deposit.
    w = await api.http.post(
        "/wallet/withdraw", json={"amount": 40}, headers={**alice, "Idempotency-Key": "dep-1"}
    )
    assert w.status_code == 409
    assert (await wallet(api, alice))["available"] == 40


async def test_withdraw_and_its_shortfall(api: Api) -> None:
    alice = await user(api)
    assert (await deposit(api, alice, 100)).status_code == 201
    short = await api.http.post("/wallet/withdraw", json={"amount": 130}, headers=alice)
    assert short.status_code == 402
    assert short.json()["error"]["code"] == "insufficient_credits"
    assert short.json()["error"]["details"] == {"required": 130, "available": 100, "shortfall": 30}
    ok = await api.http.post(
        "/wallet/withdraw", json={"amount": 30}, headers={**alice, "Idempotency-Key": "w"}
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["direction"] == "withdrawal"
    repeat = await api.http.post(
        "/wallet/withdraw", json={"amount": 30}, headers={**alice, "Idempotency-Key": "w"}
    )
    assert repeat.json() == ok.json()
    assert (await wallet(api, alice))["available"] == 70


BAD_AMOUNTS = [1.0, "1", True, None, 0, -5, 10**18 + 1, 2**63, 2**64, [], {"a": 1}, 1.5]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
async def test_bad_amounts_are_400_and_write_nothing(api: Api, amount: Any) -> None:
    alice = await user(api)
    for path in ("/wallet/deposit", "/wallet/withdraw"):
        r = await api.http.post(path, json={"amount": amount}, headers=alice)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"]["code"] == "invalid_input"
    assert await ledger_rows(api, alice) == []
    assert (await wallet(api, alice))["available"] == 0


@pytest.mark.parametrize(
    "body", [{}, {"amount": 5, "extra": 1}, [5], "5"], ids=["missing", "extra", "list", "string"]
)
async def test_malformed_bodies_are_400(api: Api, body: Any) -> None:
    alice = await user(api)
    r = await api.http.post("/wallet/deposit", json=body, headers=alice)
    assert r.status_code == 400, r.text
    assert await ledger_rows(api, alice) == []


async def test_history_pages_newest_first(api: Api) -> None:
    alice = await user(api)
    for amount in range(1, 8):
        assert (await deposit(api, alice, amount)).status_code == 201
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = await api.http.get("/wallet/transactions", headers=alice, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [t["available"] for t in page["transactions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    first = (await ledger_rows(api, alice))[0]
    assert (first["kind"], first["reserved"], first["earned"]) == ("deposit", 0, 0)
    assert first["details"]["provider"] == "sandbox"


@pytest.mark.parametrize("cursor", ["nope", "0", "-1", "1.5", "1e5", "01", "1" * 19, " 1"])
async def test_a_bad_cursor_is_400(api: Api, cursor: str) -> None:
    alice = await user(api)
    r = await api.http.get("/wallet/transactions", headers=alice, params={"cursor": cursor})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"][0]["field"].endswith("cursor")


async def test_users_see_only_their_own_wallet(api: Api) -> None:
    alice, bob = await user(api), await user(api)
    assert (await deposit(api, alice, 9)).status_code == 201
    alice_id = (await wallet(api, alice))["user_id"]
    missing = str(uuid.uuid4())
    for target in (alice_id, missing):
        for path in ("/wallet", "/wallet/transactions"):
            r = await api.http.get(path, headers=bob, params={"user_id": target})
            assert r.status_code == 404, r.text
            assert r.json()["error"]["code"] == "not_found"
    # One's own id is one's own wallet.
    assert (await wallet(api, alice, user_id=alice_id))["available"] == 9


async def test_admin_reads_any_wallet(api: Api) -> None:
    admin, alice = await api.admin_headers(), await user(api)
    assert (await deposit(api, alice, 12)).status_code == 201
    alice_id = (await wallet(api, alice))["user_id"]
    assert (await wallet(api, admin, user_id=alice_id))["available"] == 12
    rows = (
        await api.http.get("/wallet/transactions", headers=admin, params={"user_id": alice_id})
    ).json()
    assert [t["available"] for t in rows["transactions"]] == [12]
    r = await api.http.get("/wallet", headers=admin, params={"user_id": str(uuid.uuid4())})
    assert r.status_code == 404


async def test_nodes_have_no_wallet(api: Api) -> None:
    admin = await api.admin_headers()
    _, node = await api.new_node(admin, node_id=f"n-{uuid.uuid4().hex[:8]}", task_types=["noop"])
    for method, path in [
        ("GET", "/wallet"),
        ("GET", "/wallet/transactions"),
        ("POST", "/wallet/deposit"),
        ("POST", "/wallet/withdraw"),
    ]:
        r = await api.http.request(method, path, headers=node, json={"amount": 5})
        assert r.status_code == 403, (path, r.text)


async def test_no_token_is_401(api: Api) -> None:
    assert (await api.http.get("/wallet")).status_code == 401
    assert (await api.http.post("/wallet/deposit", json={"amount": 1})).status_code == 401


async def test_the_sandbox_takes_no_webhooks(api: Api) -> None:
    r = await api.http.post("/wallet/stripe/webhook", content=b"{}")
    assert r.status_code == 404


async def test_concurrent_repeats_of_one_key_credit_once(api: Api) -> None:
    alice = await user(api)
    answers = await asyncio.gather(*(deposit(api, alice, 10, key="same") for _ in range(12)))
    # The first request's twins either replay its answer or, still racing it, are told
    # 409 "in flight" (safe to retry); none credits again.
    assert {r.status_code for r in answers} <= {201, 409}
    bodies = {r.json()["payment_id"] for r in answers if r.status_code == 201}
    assert len(bodies) == 1
    assert (await wallet(api, alice))["available"] == 10
    assert len(await ledger_rows(api, alice)) == 1


async def test_concurrent_withdrawals_never_overdraw(api: Api) -> None:
    alice = await user(api)
    assert (await deposit(api, alice, 50)).status_code == 201

    async def take() -> int:
        r = await api.http.post("/wallet/withdraw", json={"amount": 10}, headers=alice)
        return r.status_code

    codes = await asyncio.gather(*(take() for _ in range(12)))
    assert sorted(codes) == [201] * 5 + [402] * 7
    assert (await wallet(api, alice))["available"] == 0
