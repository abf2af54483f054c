"""Lease expiry as a periodic duty."""

from __future__ import annotations

from datetime import datetime

from conveyor.services.leases import expire_leases
from conveyor.services.runtime import Runtime


class LeaseExpiry:
    name = "lease_expiry"

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def run_once(self, now: datetime) -> int:
        return await expire_leases(self.rt, now)
