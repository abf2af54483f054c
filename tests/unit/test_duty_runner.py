"""The duty loop outlives failing duties: each failure is counted and retried with backoff."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

from conveyor.clock import ManualClock
from conveyor.duties.base import Backoff, DutyRunner
from conveyor.observability.metrics import Metrics
from conveyor.store.database import Database
from conveyor.store.leader import LeaderLock
from tests.server import wait_until


class Flaky:
    """Fails its first ``failures`` runs, then works."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.left = failures
        self.runs = 0

    async def run_once(self, now: datetime) -> int:
        self.runs += 1
        if self.left > 0:
            self.left -= 1
            raise ConnectionRefusedError("the database is down")
        return 7


class Steady:
    name = "steady"

    def __init__(self) -> None:
        self.runs = 0

    async def run_once(self, now: datetime) -> int:
        self.runs += 1
        return 1


def test_backoff_grows_to_its_cap_and_resets() -> None:
    backoff = Backoff(base=1.0, cap=5.0, rng=random.Random(1))
    delays = [backoff.failed(now=0.0) for _ in range(6)]
    assert all(0.5 <= d <= 5.0 for d in delays)
    assert delays[-1] >= 2.5  # at the cap, equal jitter keeps at least half of it
    assert not backoff.ready(now=0.0)
    backoff.succeeded()
    assert backoff.ready(now=0.0) and backoff.failures == 0


async def test_a_failing_duty_is_counted_retried_and_never_stops_the_others(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'duties.db'}")
    flaky, steady, metrics = Flaky(failures=3), Steady(), Metrics()
    runner = DutyRunner([flaky, steady], LeaderLock(db, "t"), ManualClock(), 0.02, metrics)
    runner.start()
    try:
        await wait_until(lambda: flaky.runs >= 4, 10, "the flaky duty to run again and work")
        assert runner.running
        sample = {"duty": "flaky"}
        assert metrics.registry.get_sample_value("conveyor_duty_tick_failures_total", sample) == 3
        # Backing off, the flaky duty ran less often than the steady one.
        assert steady.runs > flaky.runs
        assert await runner.tick() == {"flaky": 7, "steady": 1}
    finally:
        await runner.stop()
        await db.dispose()
