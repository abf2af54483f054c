"""The worker's result buffer: every result goes out once, oldest first, in requests
of at most BATCH results and BATCH_BYTES of JSON (a larger result alone)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.worker.results import BATCH, BATCH_BYTES, ResultBuffer


def _payload(n: int, size: int) -> dict[str, Any]:
    return {"task_id": f"t{n}", "version": 1, "outcome": "completed", "result": "x" * size}


sizes = st.lists(
    st.one_of(st.integers(0, 2_000), st.integers(100_000, 1_200_000)), min_size=1, max_size=60
)


@settings(max_examples=150, deadline=None)
@given(sizes, st.lists(st.booleans(), max_size=20))
def test_every_result_goes_once_in_order_within_the_bounds(
    result_sizes: list[int], fail: list[bool]
) -> None:
    async def scenario() -> None:
        buffer = ResultBuffer(hold_seconds=0.05)
        for n, size in enumerate(result_sizes):
            buffer.push(_payload(n, size))
        sent: list[str] = []
        failures = iter(fail)
        while len(buffer):
            taken = buffer.take()
            assert 1 <= len(taken) <= BATCH
            encoded = sum(len(json.dumps(p)) for p in taken)
            assert len(taken) == 1 or encoded <= BATCH_BYTES
            if next(failures, False):
                buffer.requeue(taken)  # a failed request: back in front, sent again
                continue
            sent.extend(p["task_id"] for p in taken)
        assert sent == [f"t{n}" for n in range(len(result_sizes))]
        assert buffer.hold_left() is None

    asyncio.run(scenario())


def test_small_results_fill_a_request_to_the_count() -> None:
    async def scenario() -> None:
        buffer = ResultBuffer(hold_seconds=0.05)
        for n in range(BATCH + 5):
            buffer.push(_payload(n, 10))
        assert len(buffer.take()) == BATCH
        assert len(buffer.take()) == 5

    asyncio.run(scenario())
