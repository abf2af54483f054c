"""``CONVEYOR_WALLET_INITIAL_CREDITS`` (seed 001's DEV_INITIAL_WALLET): each new user
starts with it, once, as a ledger transaction from the world account."""

from __future__ import annotations

from pathlib import Path

from conveyor.settings import normalise_database_url
from conveyor.store import ledger
from conveyor.store.database import Database
from tests.server import serve_api
from tests.server import test_settings as make_settings


async def test_new_users_start_with_the_grant_once(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, wallet_initial_credits=500)
    async with serve_api(settings) as api:
        alice = await api.user_headers("alice")
        # Logging in again (user_headers registers, gets 409, logs in) grants nothing more.
        alice = await api.user_headers("alice")
        wallet = (await api.http.get("/wallet", headers=alice)).json()
        rows = (await api.http.get("/wallet/transactions", headers=alice)).json()["transactions"]
        admin = (await api.http.get("/wallet", headers=await api.admin_headers())).json()
    assert (wallet["available"], wallet["reserved"], wallet["earned"]) == (500, 0, 0)
    assert [(t["kind"], t["ref"], t["available"]) for t in rows] == [
        ("initial", wallet["user_id"], 500)
    ]
    # The grant is for users; the admin from the environment gets none.
    assert admin["available"] == 0
    db = Database(normalise_database_url(database_url))
    try:
        async with db.read() as conn:
            assert await ledger.audit(conn) == ledger.Audit(0, [], [], [])
    finally:
        await db.dispose()
