"""The credential cache: trusted for its TTL, dropped by an announcement, never stale
because of a read that raced an invalidation."""

from __future__ import annotations

from conveyor.realtime.memory import InProcessBus
from conveyor.services.credentials import AUTH_CHANNEL, CredentialCache


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_is_trusted_for_its_ttl_and_then_read_again() -> None:
    clock = FakeMonotonic()
    cache: CredentialCache[str] = CredentialCache(5.0, clock)
    cache.remember_principal("user:a", 3, "alice", cache.epoch)
    entry = cache.principal("user:a")
    assert entry is not None and (entry.credential_version, entry.value) == (3, "alice")
    clock.now += 4.9
    assert cache.principal("user:a") is not None
    clock.now += 0.2
    assert cache.principal("user:a") is None


def test_a_read_that_started_before_an_invalidation_is_not_stored() -> None:
    cache: CredentialCache[str] = CredentialCache(5.0, FakeMonotonic())
    epoch = cache.epoch
    cache.handle(AUTH_CHANNEL, {"principal": "user:a"})
    cache.remember_principal("user:a", 1, "stale", epoch)
    assert cache.principal("user:a") is None
    cache.remember_session("s1", False, epoch)
    assert cache.session_revoked("s1") is None


def test_a_revoked_session_stays_revoked_past_the_ttl() -> None:
    clock = FakeMonotonic()
    cache: CredentialCache[str] = CredentialCache(5.0, clock)
    cache.remember_session("live", False, cache.epoch)
    cache.handle(AUTH_CHANNEL, {"session": "gone"})
    clock.now += 3600
    assert cache.session_revoked("gone") is True
    assert cache.session_revoked("live") is None


def test_ttl_zero_caches_nothing_but_revocations() -> None:
    cache: CredentialCache[str] = CredentialCache(0.0, FakeMonotonic())
    cache.remember_principal("user:a", 1, "alice", cache.epoch)
    cache.remember_session("s", False, cache.epoch)
    assert cache.principal("user:a") is None and cache.session_revoked("s") is None
    cache.remember_session("s", True, cache.epoch)
    assert cache.session_revoked("s") is True


async def test_an_announcement_reaches_every_cache_on_the_bus() -> None:
    bus = InProcessBus()
    here: CredentialCache[str] = CredentialCache(60.0)
    there: CredentialCache[str] = CredentialCache(60.0)
    here.attach(bus)
    there.attach(bus)
    there.remember_principal("node:n", 7, "node", there.epoch)
    here.announce(bus, principal="node:n", session="fam")
    await bus.drain()
    assert there.principal("node:n") is None
    assert there.session_revoked("fam") is True
