"""Budgets per kind of caller. Workers claim often; logins are guessed at, so they are tight."""

from __future__ import annotations

from conveyor.ratelimit.base import Preset

DEFAULT_PRESETS: dict[str, Preset] = {
    "api": Preset(limit=6000, period_seconds=60, burst=600),
    "claim": Preset(limit=60000, period_seconds=60, burst=5000),
    "auth": Preset(limit=60, period_seconds=60, burst=30),
}
