"""Delayed tasks wake long-polling claimers when they come due, not a poll later."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from conveyor.clock import ManualClock
from conveyor.domain.access import Principal
from conveyor.domain.states import Role
from conveyor.duties.due import DueWakeups
from conveyor.realtime.wakeup import Listener
from conveyor.services.runtime import Runtime
from conveyor.services.tasks import TaskService, TaskSpec
from tests.server import runtime

OWNER = Principal("owner-1", Role.USER, "owner")
INTERVAL = 2.0


@pytest.fixture
async def rt(database_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    async with runtime(database_url, tmp_path, ManualClock()) as started:
        yield started


async def _create(rt: Runtime, task_type: str, delay: float) -> None:
    await TaskService(rt).create(OWNER, [TaskSpec(task_type=task_type, delay_seconds=delay)])


async def _created(rt: Runtime, listener: Listener, task_type: str, delay: float) -> None:
    """Create a delayed task and swallow the wake-up its creation itself sends."""
    await _create(rt, task_type, delay)
    assert await listener.wait(5)


async def test_types_that_came_due_since_the_last_tick_are_woken(rt: Runtime) -> None:
    clock = rt.clock
    assert isinstance(clock, ManualClock)
    duty = DueWakeups(rt, interval=INTERVAL)
    await duty.run_once(clock.now())
    async with rt.waker.listen(["later"]) as listener:
        await _created(rt, listener, "later", delay=10)
        # Not due yet, and not within the next interval: no wake-up.
        await duty.run_once(clock.advance(1))
        assert not await listener.wait(0.2)
        # The leader was late (a tick took long): the task is already due.
        assert await duty.run_once(clock.advance(30)) == 1
        assert await listener.wait(5)
        # Told once: the next tick starts after it.
        assert await duty.run_once(clock.advance(1)) == 0
    await duty.close()


async def test_a_type_due_before_the_next_tick_is_woken_at_its_time(rt: Runtime) -> None:
    clock = rt.clock
    assert isinstance(clock, ManualClock)
    duty = DueWakeups(rt, interval=INTERVAL)
    await duty.run_once(clock.now())
    async with rt.waker.listen(["soon", "other"]) as listener:
        await _created(rt, listener, "soon", delay=0.6)
        started = time.monotonic()
        assert await duty.run_once(clock.now()) == 1
        assert await listener.wait(INTERVAL * 3)
        waited = time.monotonic() - started
        # Woken by the timer at run_at, well before the next tick would come.
        assert 0.4 <= waited < INTERVAL, waited
        # The next tick knows the timer covered it and does not wake again.
        assert await duty.run_once(clock.advance(INTERVAL)) == 0
        assert not await listener.wait(0.2)
    await duty.close()


async def test_distinct_types_and_times_make_one_wake_up_each(rt: Runtime) -> None:
    clock = rt.clock
    assert isinstance(clock, ManualClock)
    duty = DueWakeups(rt, interval=INTERVAL)
    await duty.run_once(clock.now())
    for _ in range(5):
        await _create(rt, "bulk", delay=5)
    await _create(rt, "solo", delay=5)
    assert await duty.run_once(clock.now() + timedelta(seconds=6)) == 2
    await duty.close()
