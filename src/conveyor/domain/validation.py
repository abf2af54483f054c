"""Limits on client JSON that both databases must enforce identically.

PostgreSQL's jsonb refuses NUL characters and SQLite stores integers of any size;
checking here, before either sees the value, makes both accept and refuse exactly
the same inputs.
"""

from __future__ import annotations

import math
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 32


def json_problem(value: Any, depth: int = 0) -> str | None:
    """Why ``value`` cannot be stored, or None when it can."""
    if depth > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return None if INT64_MIN <= value <= INT64_MAX else "integer outside the 64-bit range"
    if isinstance(value, float):
        return None if math.isfinite(value) else "non-finite number"
    if isinstance(value, str):
        return "NUL character in a string" if "\x00" in value else None
    if isinstance(value, list):
        return _first(json_problem(item, depth + 1) for item in value)
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return "NUL character in a key"
            problem = json_problem(item, depth + 1)
            if problem:
                return problem
        return None
    return f"unsupported type {type(value).__name__}"


def text_problem(value: str) -> str | None:
    return "NUL character in a string" if "\x00" in value else None


def _first(problems: Any) -> str | None:
    for problem in problems:
        if problem:
            return str(problem)
    return None
