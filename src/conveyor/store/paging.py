"""Keyset paging, newest first: the cursor codec and the page query that tasks and
jobs listings share."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, and_, or_, select

from conveyor.domain.validation import datetime_problem, text_problem
from conveyor.errors import InvalidInput
from conveyor.store.types import timestamp


def encode_key(created_at: datetime, row_id: str) -> str:
    """A keyset cursor (newest-first listings of tasks and jobs)."""
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """A cursor is client input like any other: what it decodes to must be storable."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw.decode("utf-8"))
        if not (isinstance(decoded, list) and len(decoded) == 2):
            raise ValueError("not a pair")
        created, task_id = decoded
        if not (isinstance(created, str) and isinstance(task_id, str)):
            raise ValueError("not strings")
        when = datetime.fromisoformat(created)
        if datetime_problem(when) or text_problem(task_id) or len(task_id) > 64:
            raise ValueError("unstorable")
    except (ValueError, TypeError, RecursionError) as exc:
        raise InvalidInput("invalid cursor", details=[{"field": "cursor"}]) from exc
    return when, task_id


def newest_first(
    table: Table, conditions: list[Any], cursor: str | None, limit: int
) -> Select[Any]:
    """A page of ``table`` newest first after ``cursor`` (one row more than ``limit``,
    which tells whether another page follows); tasks and jobs list alike."""
    stmt = select(table).order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit + 1)
    for condition in conditions:
        stmt = stmt.where(condition)
    if cursor:
        created, row_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                table.c.created_at < timestamp(created),
                and_(table.c.created_at == timestamp(created), table.c.id < row_id),
            )
        )
    return stmt
