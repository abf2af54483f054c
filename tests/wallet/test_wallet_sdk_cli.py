"""The wallet from the SDK (async and sync) and the ``conveyor wallet`` commands,
against the real server on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from conveyor.client import AsyncClient, Client, NotFound, PaymentRequired, PermissionDenied
from conveyor.client.errors import BadRequest
from tests.cli.test_cli import conveyor
from tests.server import ADMIN, Api

PASSWORD = "user-password-1"


async def test_the_async_client_moves_and_lists_credits(api: Api) -> None:
    await api.user_headers("alice")
    await api.user_headers("bob")
    async with AsyncClient(api.base_url, username="alice", password=PASSWORD) as alice:
        paid = await alice.deposit(120, idempotency_key="d1")
        assert (paid.status, paid.amount, paid.wallet.available) == ("succeeded", 120, 120)
        assert (await alice.deposit(120, idempotency_key="d1")) == paid
        out = await alice.withdraw(20)
        assert (out.direction, out.wallet.available) == ("withdrawal", 100)
        with pytest.raises(PaymentRequired) as short:
            await alice.withdraw(101)
        assert short.value.details == {"required": 101, "available": 100, "shortfall": 1}
        with pytest.raises(BadRequest):
            await alice.deposit(0)
        wallet = await alice.wallet()
        assert (wallet.available, wallet.reserved, wallet.earned) == (100, 0, 0)
        first, cursor = await alice.transactions(limit=1)
        rest, end = await alice.transactions(cursor=cursor, limit=10)
        assert [(t.kind, t.available) for t in first + rest] == [
            ("withdraw", -20),
            ("deposit", 120),
        ]
        assert end is None
    async with AsyncClient(api.base_url, username="bob", password=PASSWORD) as bob:
        with pytest.raises(NotFound):
            await bob.wallet(wallet.user_id)
    async with AsyncClient(api.base_url, username=ADMIN[0], password=ADMIN[1]) as admin:
        assert (await admin.wallet(wallet.user_id)).available == 100


async def test_the_sync_client_has_the_same_calls(api: Api) -> None:
    await api.user_headers("carol")

    def use() -> tuple[int, int, list[str]]:
        with Client(api.base_url, username="carol", password=PASSWORD) as carol:
            carol.deposit(7)
            carol.withdraw(2, idempotency_key="w")
            page, _ = carol.transactions()
            return carol.wallet().available, len(page), [t.kind for t in page]

    assert await asyncio.to_thread(use) == (5, 2, ["withdraw", "deposit"])


async def test_nodes_are_refused_a_wallet(api: Api) -> None:
    admin = await api.admin_headers()
    node_id, secret = await api.create_node(admin, node_id="wallet-node", task_types=["noop"])
    async with AsyncClient(api.base_url, node_id=node_id, secret=secret) as node:
        with pytest.raises(PermissionDenied):
            await node.wallet()


async def test_the_wallet_commands(api: Api, tmp_path: Path) -> None:
    await api.user_headers("dave")
    server = ["--server", api.base_url]
    code, _, err = await conveyor(
        tmp_path, "login", *server, "--username", "dave", "--password", PASSWORD
    )
    assert code == 0, err
    code, out, err = await conveyor(tmp_path, "wallet", "deposit", "50", "--key", "k", "--json")
    assert code == 0, err
    assert json.loads(out)["wallet"]["available"] == 50
    code, out, _ = await conveyor(tmp_path, "wallet", "deposit", "50", "--key", "k", "--json")
    assert json.loads(out)["wallet"]["available"] == 50, "the key made the repeat a replay"
    code, out, _ = await conveyor(tmp_path, "wallet", "withdraw", "80", "--json")
    assert code == 9
    assert json.loads(out)["error"]["code"] == "insufficient_credits"
    assert "30 short" in json.loads(out)["error"]["message"]
    code, out, _ = await conveyor(tmp_path, "wallet", "withdraw", "15")
    assert code == 0 and "succeeded" in out
    code, out, _ = await conveyor(tmp_path, "wallet", "balance", "--json")
    assert (code, json.loads(out)["available"]) == (0, 35)
    code, out, _ = await conveyor(tmp_path, "wallet", "balance")
    assert code == 0 and "35" in out
    code, out, _ = await conveyor(tmp_path, "wallet", "history", "--json", "--limit", "1")
    page = json.loads(out)
    assert code == 0 and [t["kind"] for t in page["transactions"]] == ["withdraw"]
    code, out, _ = await conveyor(tmp_path, "wallet", "history", "--cursor", page["next_cursor"])
    assert code == 0 and "deposit" in out and "+50" in out
    code, _, _ = await conveyor(tmp_path, "wallet", "deposit", "1.5")
    assert code == 2, "typer refuses a non-integer amount"
    code, _, _ = await conveyor(tmp_path, "wallet", "deposit", "0")
    assert code == 2
