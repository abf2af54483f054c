"""What both databases can store: the one rule for text, integers, datetimes and JSON.

Each entry point (a JSON body, a path or query value, a header, a decoded cursor)
asks this module before either database sees the value, so SQLite and PostgreSQL
accept and refuse exactly the same inputs:

- text: no NUL (PostgreSQL's text and jsonb refuse it) and no lone UTF-16
  surrogate (neither database can encode one as UTF-8; SQLite's JSON would store
  the escape and every later read of the row would fail to render);
- integers: within the signed 64-bit range (SQLite would store more, PostgreSQL's
  bigint cannot);
- datetimes: with a time zone, and far enough inside the years 1-9999 that moving
  to UTC or to any other offset cannot leave Python's calendar;
- JSON: numbers finite and, floats too, within the 64-bit range (JSON has one
  number type: ``1e19`` is the integer 10000000000000000000 to JSON Schema, so the
  OpenAPI document can state one bound for both only if the server keeps one), at
  most ``MAX_DEPTH`` levels of nesting, and the above for every string and key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 32
# A day inside Python's calendar at each end: the widest UTC offset is under a day.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)

_UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a value cannot be stored, and where in it (``("params", "a", 0)``)."""

    path: tuple[str | int, ...]
    message: str

    @property
    def field(self) -> str:
        return ".".join(str(part) for part in self.path)


def text_problem(value: str) -> str | None:
    found = _UNSTORABLE_TEXT.search(value)
    if found is None:
        return None
    return "NUL character in a string" if found.group() == "\x00" else "lone UTF-16 surrogate"


def int_problem(value: int) -> str | None:
    return None if INT64_MIN <= value <= INT64_MAX else "integer outside the 64-bit range"


def datetime_problem(value: datetime) -> str | None:
    if value.tzinfo is None or value.utcoffset() is None:
        return "a time zone is required"
    # Comparing needs no conversion, so it cannot overflow at the calendar's edges.
    if not EARLIEST <= value <= LATEST:
        return "outside 0001-01-02 to 9999-12-30 UTC"
    return None


def json_problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why ``value`` (decoded JSON) cannot be stored, or None when it can."""
    problem = find_problem(value, max_depth)
    return problem.message if problem else None


def find_problem(value: Any, max_depth: int = MAX_DEPTH) -> Problem | None:
    """The first unstorable part of ``value``; iterative, so any depth is safe to walk."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if len(path) > max_depth:
            return Problem(path, f"nested deeper than {max_depth} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                message = text_problem(key) if isinstance(key, str) else "keys must be strings"
                if message:
                    return Problem(path, f"{message} in a key")
                stack.append((child, (*path, key)))
        elif isinstance(item, list):
            stack.extend((child, (*path, index)) for index, child in enumerate(item))
        else:
            message = scalar_problem(item)
            if message:
                return Problem(path, message)
    return None


# --- a screen for JSON text ----------------------------------------------------
#
# Walking a decoded body node by node in Python cost four times what decoding it
# did (0.8 ms for a finish carrying four chunks' results). Most bodies hold nothing
# to refuse, and the JSON text shows it in C-speed byte operations: a string can
# hold NUL or a surrogate only as a ``\u`` escape (the decoder refuses raw control
# characters, and UTF-8 cannot encode a surrogate); a number can pass 64 bits only
# with 19 digits or more, or an exponent; and nesting is the brackets outside
# strings. A text the screen cannot clear is walked as before.

_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_DIGITS_ONLY = bytes(b if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_text_clears(raw: bytes, max_depth: int = MAX_DEPTH) -> bool:
    """True only if ``raw``, a valid JSON text, decodes to a value ``find_problem``
    accepts at ``max_depth``; False means "walk it", not "refuse it"."""
    if b"\\" in raw:
        if _SUSPECT_ESCAPE.search(raw):
            return False
        # Escaped backslashes and quotes out first, so every '"' left delimits a string.
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(raw.split(b'"')[::2])
    if max(map(len, outside.translate(_DIGITS_ONLY).split()), default=0) >= 19:
        return False
    words = outside.replace(b"true", b"").replace(b"false", b"")
    if b"e" in words or b"E" in words:
        return False
    brackets = outside.translate(None, _NOT_BRACKETS)
    # One nesting level peeled off per pass.
    for _ in range(max_depth):
        if not brackets:
            return True
        brackets = brackets.replace(b"{}", b"").replace(b"[]", b"")
    return not brackets


def scalar_problem(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return int_problem(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "non-finite number"
        return None if INT64_MIN <= value <= INT64_MAX else "number outside the 64-bit range"
    if isinstance(value, str):
        return text_problem(value)
    return f"unsupported type {type(value).__name__}"
