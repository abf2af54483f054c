"""Which hosts a built-in handler may reach.

Fetching from, or posting to, whatever URL a task names would let anyone who can
submit tasks probe the worker's network (server-side request forgery): the
metadata service of a cloud VM, an admin port on localhost, a database on the LAN.
So each handler that makes requests has an allow-list set by the worker's operator.
Redirects are never followed, since one could lead to a host the list never saw.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from conveyor.worker.context import HandlerError


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """``host`` is listed exactly, or under a ``*.domain`` entry (not the domain itself)."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        pattern = entry.strip().lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False


def check_url(url: str, allowed: Iterable[str], setting: str) -> httpx.URL:
    """The parsed URL if it is http(s) to an allowed host; otherwise a final refusal
    that names the setting (``CONVEYOR_…``) the operator would change."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise HandlerError(f"not a URL: {exc}", retryable=False, code="invalid_params") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise HandlerError(
            "only http and https URLs are allowed", retryable=False, code="url_not_allowed"
        )
    if not host_allowed(parsed.host, allowed):
        raise HandlerError(
            f"host {parsed.host!r} is not in {setting}", retryable=False, code="url_not_allowed"
        )
    return parsed
