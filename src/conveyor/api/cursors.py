"""The list cursor as HTTP clients see it: ``<microseconds since 1970 UTC>.<task id>``.

The store pages by (created_at, id) and encodes that pair as base64url JSON. That
form cannot be stated in JSON Schema: most strings of its alphabet decode to
nothing. This one can: every string matching ``CURSOR_PATTERN`` names a position
(17 digits reach the year 5138, inside the calendar every layer holds), so the
OpenAPI document's pattern is the whole rule and a client sees one opaque token.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from conveyor.store.paging import decode_cursor

CURSOR_PATTERN = r"^(?:[0-9]{1,17}\.[A-Za-z0-9_.:-]{1,64})?$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_http(store_cursor: str | None) -> str | None:
    if store_cursor is None:
        return None
    created, task_id = decode_cursor(store_cursor)
    return f"{(created - _EPOCH) // _MICROSECOND}.{task_id}"


def from_http(cursor: str) -> str | None:
    """The store's cursor for an HTTP one that matched ``CURSOR_PATTERN`` ("" is none)."""
    if not cursor:
        return None
    micros, _, task_id = cursor.partition(".")
    created = _EPOCH + int(micros) * _MICROSECOND
    # store.tasks.encode_cursor's form, from the pair instead of a whole task.
    raw = json.dumps([created.isoformat(), task_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
