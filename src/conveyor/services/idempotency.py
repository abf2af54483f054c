"""``Idempotency-Key`` handling: a repeat gets the first answer, a changed body a 409."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from conveyor.domain.access import Principal
from conveyor.errors import Conflict
from conveyor.services.unit import Unit
from conveyor.store import idempotency as idem_store
from conveyor.store.idempotency import StoredResponse

T = TypeVar("T")


def request_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IdempotencyRequest(Generic[T]):
    key: str
    request_hash: str
    status_code: int
    render: Callable[[T], Any]


async def replay(
    unit: Unit, who: Principal, idem: IdempotencyRequest[Any] | None
) -> StoredResponse | None:
    if idem is None:
        return None
    found = await idem_store.find(unit.conn, who.id, idem.key)
    if found is not None and found.request_hash != idem.request_hash:
        raise Conflict(
            "this idempotency key was used with a different request",
            code="idempotency_key_reused",
        )
    return found


async def remember(
    unit: Unit, who: Principal, idem: IdempotencyRequest[T] | None, outcome: T, now: datetime
) -> StoredResponse | None:
    if idem is None:
        return None
    stored = StoredResponse(idem.request_hash, idem.status_code, idem.render(outcome))
    await idem_store.remember(unit.conn, who.id, idem.key, stored, now)
    return stored
