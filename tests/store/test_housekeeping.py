"""The housekeeping duty purges spent stream tickets and old idempotency keys, and
nothing that is still needed; on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from conveyor.duties.housekeeping import EVERY, Housekeeping
from conveyor.store import idempotency as idem_store
from conveyor.store import tickets as ticket_store
from conveyor.store.idempotency import StoredResponse
from tests.server import runtime

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


async def test_purges_what_expired_and_keeps_the_rest(database_url: str, tmp_path: Path) -> None:
    async with runtime(database_url, tmp_path) as rt:
        answer = StoredResponse("hash", 201, {"ok": True})
        async with rt.db.write() as conn:
            await idem_store.remember(conn, "u1", "old", answer, NOW - DAY - timedelta(seconds=1))
            await idem_store.remember(conn, "u1", "recent", answer, NOW - DAY + timedelta(hours=1))
            assert await ticket_store.use_once(conn, "spent", NOW - timedelta(seconds=1))
            assert await ticket_store.use_once(conn, "live", NOW + timedelta(seconds=30))
        duty = Housekeeping(rt)
        assert await duty.run_once(NOW) == 2
        async with rt.db.write() as conn:
            assert await idem_store.find(conn, "u1", "old") is None
            assert await idem_store.find(conn, "u1", "recent") == answer
            # Spent and still able to verify: the live ticket stays refused.
            assert not await ticket_store.use_once(conn, "live", NOW + timedelta(seconds=30))
            assert await ticket_store.use_once(conn, "spent", NOW + DAY)
        # Once a minute, not on every tick; then the live ticket's record goes too.
        assert await duty.run_once(NOW + EVERY - timedelta(seconds=1)) == 0
        later = NOW + EVERY
        assert await duty.run_once(later) == 1
        async with rt.db.write() as conn:
            assert await ticket_store.use_once(conn, "live", later + timedelta(seconds=30))
