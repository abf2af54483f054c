"""The SDK's calls, grouped by who makes them; ``AsyncClient`` mixes them in.

Each group only needs ``request`` (the client's retrying, authenticated send)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JsonDict = dict[str, Any]


class Requester:
    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        timeout: float | None = None,
    ) -> Any:
        raise NotImplementedError
