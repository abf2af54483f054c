"""``Idempotency-Key`` handling: a repeat gets the first answer, a changed body a 409."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from conveyor.domain.access import Principal
from conveyor.errors import Conflict, ConveyorError
from conveyor.services.runtime import Runtime
from conveyor.services.unit import Unit, unit_of_work
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


@dataclass(frozen=True, slots=True)
class Once(Generic[T]):
    fresh: T | None  # what the work produced, if it ran to a commit
    stored: StoredResponse | None  # the answer kept under the key (None without one)


class _KeyTaken(Exception):
    """The key already holds a first answer: roll the work back and replay it."""


async def once(
    rt: Runtime,
    who: Principal,
    idem: IdempotencyRequest[T] | None,
    work: Callable[[Unit], Awaitable[T]],
    now: datetime,
) -> Once[T]:
    """Run ``work`` in one transaction, remembered under the request's key if it has one.

    A first request, the common case, costs
    one insert and no lookup: the key row goes in after the work and only if the
    key is new. A key already taken (a repeat, or a racing first request that
    committed first), or work refused while the key holds an answer, rolls the work
    back and answers with the stored first response, or 409 if the body differs.
    """
    if idem is None:
        async with unit_of_work(rt) as unit:
            return Once(await work(unit), None)
    try:
        async with unit_of_work(rt) as unit:
            outcome = await work(unit)
            stored = StoredResponse(idem.request_hash, idem.status_code, idem.render(outcome))
            if not await idem_store.insert_if_new(unit.conn, who.id, idem.key, stored, now):
                raise _KeyTaken
        return Once(outcome, stored)
    except (_KeyTaken, ConveyorError) as exc:
        found = await stored_answer(rt, who, idem)
        if found is not None:
            return Once(None, found)
        if isinstance(exc, _KeyTaken):
            raise in_flight() from None
        raise


async def stored_answer(
    rt: Runtime, who: Principal, idem: IdempotencyRequest[Any]
) -> StoredResponse | None:
    """The first answer kept under the key (409 if this body differs from its)."""
    async with rt.db.read() as conn:
        return _matching(await idem_store.find(conn, who.id, idem.key), idem)


def in_flight() -> Conflict:
    # A key found taken, yet gone by the time we looked: purged in between. Rare
    # enough that asking the client to try again is the honest answer.
    return Conflict("a request with this idempotency key is already in flight")


def _matching(found: StoredResponse | None, idem: IdempotencyRequest[Any]) -> StoredResponse | None:
    if found is not None and found.request_hash != idem.request_hash:
        raise Conflict(
            "this idempotency key was used with a different request",
            code="idempotency_key_reused",
        )
    return found


async def replay(
    unit: Unit, who: Principal, idem: IdempotencyRequest[Any] | None
) -> StoredResponse | None:
    """The stored first answer for a repeat (within the caller's own transaction)."""
    if idem is None:
        return None
    return _matching(await idem_store.find(unit.conn, who.id, idem.key), idem)


async def remember(
    unit: Unit, who: Principal, idem: IdempotencyRequest[T] | None, outcome: T, now: datetime
) -> StoredResponse | None:
    if idem is None:
        return None
    stored = StoredResponse(idem.request_hash, idem.status_code, idem.render(outcome))
    await idem_store.remember(unit.conn, who.id, idem.key, stored, now)
    return stored
