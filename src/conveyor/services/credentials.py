"""What a bearer token is checked against, cached in-process and invalidated over the bus.

Every authenticated request used to read the principal's row to compare its
credential version with the token's. Here the row is read once per principal and
trusted for ``ttl_seconds``; a credential change (password, disable, role, node
secret rotation, node update or delete) and a session's end (logout, refresh-token
reuse) are announced on the bus's ``auth`` channel, and every replica drops or
marks its entry at once. The TTL is the bound when such a message is lost (a bus
outage, a replica that was reconnecting): revocation takes effect everywhere
within ``CONVEYOR_AUTH_CACHE_SECONDS`` at worst, and within a bus round trip
normally.

Only good news is cached with the TTL: a principal found disabled or gone is not
cached at all, and a session found revoked stays revoked (it never comes back).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from conveyor.realtime.bus import EventBus, Message

AUTH_CHANNEL = "auth"
MAX_ENTRIES = 100_000
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Cached(Generic[T]):
    credential_version: int
    value: T
    expires_at: float


class CredentialCache(Generic[T]):
    def __init__(self, ttl_seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._now = monotonic
        self._principals: OrderedDict[str, Cached[T]] = OrderedDict()
        # session id -> (revoked, expires_at); a revoked one never expires.
        self._sessions: OrderedDict[str, tuple[bool, float]] = OrderedDict()
        # Bumped by every invalidation: a lookup that started before one must not
        # store what it read, which may predate the change it missed.
        self.epoch = 0

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0

    def principal(self, principal_id: str) -> Cached[T] | None:
        entry = self._principals.get(principal_id)
        if entry is None:
            return None
        if entry.expires_at <= self._now():
            del self._principals[principal_id]
            return None
        return entry

    def remember_principal(
        self, principal_id: str, credential_version: int, value: T, epoch: int
    ) -> None:
        if not self.enabled or epoch != self.epoch:
            return
        expires = self._now() + self.ttl_seconds
        self._principals[principal_id] = Cached(credential_version, value, expires)
        self._principals.move_to_end(principal_id)
        _trim(self._principals)

    def session_revoked(self, session_id: str) -> bool | None:
        """True or False when known, None when it must be looked up."""
        entry = self._sessions.get(session_id)
        if entry is None:
            return None
        revoked, expires = entry
        if not revoked and expires <= self._now():
            del self._sessions[session_id]
            return None
        return revoked

    def remember_session(self, session_id: str, revoked: bool, epoch: int) -> None:
        if revoked:
            self._mark_revoked(session_id)
        elif self.enabled and epoch == self.epoch:
            self._sessions[session_id] = (False, self._now() + self.ttl_seconds)
            self._sessions.move_to_end(session_id)
            _trim(self._sessions)

    def forget_principal(self, principal_id: str) -> None:
        self.epoch += 1
        self._principals.pop(principal_id, None)

    def _mark_revoked(self, session_id: str) -> None:
        self.epoch += 1
        self._sessions[session_id] = (True, float("inf"))
        self._sessions.move_to_end(session_id)
        _trim(self._sessions)

    def handle(self, channel: str, message: Message) -> None:
        """The bus handler: another replica (or this one) changed a credential."""
        principal, session = message.get("principal"), message.get("session")
        if isinstance(principal, str):
            self.forget_principal(principal)
        if isinstance(session, str):
            self._mark_revoked(session)

    def attach(self, bus: EventBus) -> None:
        bus.add_handler(AUTH_CHANNEL, self.handle)

    def announce(
        self, bus: EventBus, *, principal: str | None = None, session: str | None = None
    ) -> None:
        """Apply here at once, and tell every replica (after the change committed)."""
        message: Message = {}
        if principal is not None:
            message["principal"] = principal
        if session is not None:
            message["session"] = session
        self.handle(AUTH_CHANNEL, message)
        bus.post([([AUTH_CHANNEL], message)])


def user_key(user_id: str) -> str:
    return f"user:{user_id}"


def node_key(node_id: str) -> str:
    # Its own namespace: an admin may give a node any id, even a user's.
    return f"node:{node_id}"


def _trim(entries: OrderedDict[str, Any]) -> None:
    # The least recently stored entries go first; dropping one only costs a read.
    while len(entries) > MAX_ENTRIES:
        entries.popitem(last=False)
