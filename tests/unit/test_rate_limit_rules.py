"""Pure rate-limit rules: who the client is behind proxies, budgets, the headers' numbers."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.ratelimit.base import Preset, gcra
from conveyor.ratelimit.client_ip import client_address, parse_networks
from conveyor.ratelimit.presets import NAMED_PRESETS, parse_preset

TRUSTED = parse_networks("10.0.0.0/8, 127.0.0.1, ::1")
ipv4 = st.ip_addresses(v=4).map(str)
untrusted = ipv4.filter(lambda a: not ipaddress.ip_address(a).is_private)
proxy = st.integers(0, 2**24 - 1).map(lambda n: str(ipaddress.ip_address(0x0A000000 + n)))
junk = st.one_of(ipv4, st.text(alphabet="abc:.,1 ", max_size=12))


@given(
    spoofed=st.lists(junk, max_size=4),
    client=untrusted,
    chain=st.lists(proxy, max_size=3),
)
def test_spoofed_hops_never_replace_the_client_a_trusted_proxy_saw(
    spoofed: list[str], client: str, chain: list[str]
) -> None:
    # The client sends its own header; each of our proxies appends who connected to it.
    header = ", ".join([*spoofed, client, *chain])
    assert client_address("127.0.0.1", [header], TRUSTED) == client


@given(peer=untrusted, header=st.text(max_size=40))
def test_an_untrusted_peer_is_the_client_whatever_it_claims(peer: str, header: str) -> None:
    assert client_address(peer, [header], TRUSTED) == peer
    assert client_address(peer, [header], ()) == peer


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address("127.0.0.1", ["203.0.113.5"], ()) == "127.0.0.1"


def test_named_and_custom_presets() -> None:
    assert parse_preset("Strict") == NAMED_PRESETS["strict"] == Preset.bucket(3, 0.1)
    assert parse_preset("50,2.5") == Preset.bucket(50, 2.5)
    for bad in ("lenient", "0,1", "5,0", "5,-1", "5", "x,y", ""):
        with pytest.raises(ValueError):
            parse_preset(bad)


@given(burst=st.integers(1, 50), rate=st.floats(0.01, 100), hits=st.integers(1, 60))
def test_remaining_counts_down_to_the_refusal(burst: int, rate: float, hits: int) -> None:
    preset = Preset.bucket(burst, rate)
    tat, now = 0.0, 1000.0
    allowed = 0
    for _ in range(hits):
        decision, tat = gcra(tat, now, preset)
        if decision.allowed:
            allowed += 1
            assert decision.remaining == burst - allowed
        else:
            assert decision.remaining == 0 and decision.retry_after > 0
    assert allowed == min(hits, burst)
