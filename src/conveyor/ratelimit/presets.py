"""Budgets per kind of caller, and the named choices settings may pick from.

Workers claim often; logins are guessed at, so they are tight, per client address
(``auth``) and per account (``login``, so guesses spread over many addresses are
limited too).
"""

from __future__ import annotations

from conveyor.ratelimit.base import Preset

DEFAULT_PRESETS: dict[str, Preset] = {
    "api": Preset(limit=6000, period_seconds=60, burst=600),
    "claim": Preset(limit=60000, period_seconds=60, burst=5000),
    "auth": Preset(limit=60, period_seconds=60, burst=30),
    "login": Preset(limit=10, period_seconds=60, burst=10),
}

# Seed 003's token buckets: capacity and refill rate per second.
NAMED_PRESETS: dict[str, Preset] = {
    "strict": Preset.bucket(3, 0.1),
    "conservative": Preset.bucket(10, 5),
    "moderate": Preset.bucket(20, 10),
    "generous": Preset.bucket(100, 50),
}


def parse_preset(text: str) -> Preset:
    """A named preset, or ``CAPACITY,REFILL_PER_SECOND`` (``"50,2.5"``)."""
    name = text.strip().lower()
    if name in NAMED_PRESETS:
        return NAMED_PRESETS[name]
    capacity, sep, rate = name.partition(",")
    try:
        preset = Preset.bucket(int(capacity), float(rate)) if sep else None
    except (ValueError, ZeroDivisionError):
        preset = None
    if preset is None or preset.burst < 1 or not 0 < preset.period_seconds < float("inf"):
        choices = ", ".join(NAMED_PRESETS)
        raise ValueError(f"{text!r}: expected one of {choices}, or CAPACITY,REFILL_PER_SECOND")
    return preset
