"""The prefetch window: about ``seconds`` of expected work per slot, within [1, most]."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conveyor.worker.prefetch import FIRST_GUESS, PrefetchWindow

RUNS = st.lists(st.floats(min_value=0, max_value=3600, allow_nan=False), max_size=50)


def test_fast_tasks_fill_the_window_and_slow_ones_are_held_one_at_a_time() -> None:
    window = PrefetchWindow(most=32, seconds=0.1, concurrency=1)
    assert window.size() == FIRST_GUESS  # nothing has run yet
    for _ in range(20):
        window.observe(0.0002)  # a noop
    assert window.size() == 32
    for _ in range(30):
        window.observe(0.01)  # the workload turns to 10 ms tasks
    assert window.size() == 10
    for _ in range(30):
        window.observe(60.0)  # one-minute tasks: never more than one held
    assert window.size() == 1


def test_more_slots_hold_more_and_zero_turns_prefetch_off() -> None:
    window = PrefetchWindow(most=100, seconds=0.1, concurrency=8)
    window.observe(0.01)
    assert window.size() == 80
    off = PrefetchWindow(most=0, seconds=0.1, concurrency=8)
    off.observe(0.001)
    assert off.size() == 0


@given(
    most=st.integers(0, 1000),
    seconds=st.floats(0, 3600, allow_nan=False),
    concurrency=st.integers(1, 10000),
    runs=RUNS,
)
def test_the_window_stays_within_its_bounds(
    most: int, seconds: float, concurrency: int, runs: list[float]
) -> None:
    window = PrefetchWindow(most=most, seconds=seconds, concurrency=concurrency)
    for run in runs:
        window.observe(run)
        size = window.size()
        assert (size == 0) if most == 0 else (1 <= size <= most)


@given(runs=RUNS, slower=st.floats(0, 3600, allow_nan=False))
def test_slower_tasks_never_widen_the_window(runs: list[float], slower: float) -> None:
    window = PrefetchWindow(most=64, seconds=0.1, concurrency=2)
    for run in runs:
        window.observe(run)
    if window.mean_run is None or slower < window.mean_run:
        return
    before = window.size()
    window.observe(slower)
    assert window.size() <= before
