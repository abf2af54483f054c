"""Everything a service needs, built once at start-up and passed in."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from conveyor.clock import Clock
from conveyor.domain.transitions import RetryPolicy
from conveyor.observability.metrics import Metrics
from conveyor.realtime.bus import EventBus
from conveyor.realtime.wakeup import Waker
from conveyor.security.passwords import SecretHasher
from conveyor.security.tokens import TokenService
from conveyor.settings import Settings
from conveyor.store.database import Database


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    tokens: TokenService
    hasher: SecretHasher
    bus: EventBus
    waker: Waker
    metrics: Metrics
    rng: random.Random = field(default_factory=random.Random)

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.settings.backoff_base_seconds, self.settings.backoff_max_seconds)
