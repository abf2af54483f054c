"""The address a request really came from, for keying per-client limits.

``X-Forwarded-For`` is written by whoever sends the request, so it is believed only
as far as the operator's own proxies (``CONVEYOR_TRUSTED_PROXIES``) vouch for it:
starting from the connection's peer, each trusted hop's claim about who connected
to it is accepted, right to left, and the first address that is not a trusted
proxy is the client. With no trusted proxies (the default) the header is ignored.
Anything a client prepends to the header is left of the entries our proxies
append, so it is never reached while an untrusted hop stands in between.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.168.1.7, ::1"`` -> networks (a bare address is a /32 or /128)."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        return tuple(ipaddress.ip_network(part, strict=False) for part in parts)
    except ValueError as exc:
        raise ValueError(f"CONVEYOR_TRUSTED_PROXIES: {exc}") from exc


def is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in trusted)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[Network]
) -> str:
    """The client's address: the peer, or what trusted proxies say is behind them."""
    client = peer or "unknown"
    if not trusted or not is_trusted(client, trusted):
        return client
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    for hop in reversed([h for h in hops if h]):
        client = hop
        if not is_trusted(hop, trusted):
            break
    return client
