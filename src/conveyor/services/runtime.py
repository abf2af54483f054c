"""Everything a service needs, built once at start-up and passed in."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from conveyor.clock import Clock
from conveyor.domain.nodes import Node
from conveyor.domain.transitions import RetryPolicy
from conveyor.observability.metrics import Metrics
from conveyor.realtime.bus import EventBus
from conveyor.realtime.wakeup import Waker
from conveyor.security.node_secrets import derive_node_secret
from conveyor.security.passwords import SecretHasher
from conveyor.security.tokens import TokenService
from conveyor.services.credentials import CredentialCache
from conveyor.services.job_presence import JobPresence
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
    # The key node secrets are derived from (the JWT key); empty: resolve from settings.
    server_key: str = field(default="", repr=False)
    # Principals' credential versions and sessions' revocation, trusted for a few
    # seconds (services/credentials.py); build_runtime attaches it to the bus.
    credentials: CredentialCache[Any] = field(default_factory=lambda: CredentialCache(0.0))
    jobs_running: JobPresence = field(default_factory=lambda: JobPresence(1.0))

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.settings.backoff_base_seconds, self.settings.backoff_max_seconds)

    def node_secret(self, node_id: str, secret_version: int) -> str:
        """The secret a node was handed (see security/node_secrets.py)."""
        if not self.server_key:
            self.server_key = self.settings.resolved_jwt_secret()
        return derive_node_secret(self.server_key, node_id, secret_version)

    def secret_of(self, node: Node) -> str:
        return self.node_secret(node.id, node.secret_version)
