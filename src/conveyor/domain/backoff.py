"""Retry delays: exponential growth with jitter, so failed tasks do not retry in lockstep."""

from __future__ import annotations

import random


def backoff_seconds(
    attempt: int, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Delay before retry number ``attempt`` (1-based), "equal jitter".

    Half of the exponential step is kept so that a retry never comes back almost
    at once; the other half is random so that a burst of failures spreads out.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    ceiling = min(cap, base * 2 ** min(attempt - 1, 62))
    draw = (rng or random).random()
    return float(ceiling / 2 + draw * ceiling / 2)
