"""Configuration from ``CONVEYOR_*`` environment variables, built once and passed in."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from conveyor.ratelimit.base import Preset
from conveyor.ratelimit.client_ip import Network, parse_networks
from conveyor.ratelimit.presets import DEFAULT_PRESETS, parse_preset

DEFAULT_DATA_DIR = Path("conveyor-data")
MIN_JWT_SECRET_BYTES = 32


def normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (``postgresql://``) and pick our async drivers."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONVEYOR_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    redis_url: str | None = None

    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "conveyor"
    jwt_audience: str = "conveyor-api"
    access_token_ttl_seconds: int = Field(default=900, ge=10)
    refresh_token_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    stream_ticket_ttl_seconds: int = Field(default=60, ge=5)
    # How long a replica trusts what it read of a principal's credentials (and of a
    # session's revocation) without reading again. Changes are pushed over the event
    # bus at once; this is the bound when such a message is lost. 0: read every time.
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=300)

    admin_username: str | None = None
    admin_password: SecretStr | None = None

    # argon2id cost; the defaults are OWASP's minimum (m=19 MiB, t=2, p=1).
    argon2_memory_kib: int = Field(default=19456, ge=1024)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_parallelism: int = Field(default=1, ge=1)
    # Who may create an account with POST /auth/register: anyone, nobody (admins
    # create accounts), or whoever holds an invite code an admin made.
    registration: Literal["open", "closed", "invite"] = "open"
    invite_ttl_seconds: int = Field(default=7 * 86400, ge=60)

    lease_seconds: int = Field(default=300, ge=1, description="default lease of a claim")
    max_lease_seconds: int = Field(default=24 * 3600, ge=1)
    default_max_attempts: int = Field(default=3, ge=1, le=100)
    backoff_base_seconds: float = Field(default=2.0, ge=0)
    backoff_max_seconds: float = Field(default=600.0, ge=0)
    max_wait_seconds: float = Field(default=30.0, ge=0)
    # A parked long-poll re-checks the database this often on its own: the safety
    # net for a wake-up that never comes (a replica without a shared bus).
    claim_recheck_seconds: float = Field(default=1.0, gt=0)
    max_batch: int = Field(default=1000, ge=1)
    # A repeat with the same Idempotency-Key returns the first answer for this long;
    # older keys are purged (as Stripe does, a day).
    idempotency_key_retention_seconds: int = Field(default=24 * 3600, ge=60)

    sweeper_interval_seconds: float = Field(default=2.0, gt=0)
    # Fail a pending task after it waited this long with no live node that runs it
    # (error code no_worker); unset: such a task waits, showing waiting_for_worker.
    unserved_task_timeout_seconds: float | None = Field(default=None, gt=0)
    node_unhealthy_after_seconds: float = Field(default=30.0, gt=0)
    node_dead_after_seconds: float = Field(default=120.0, gt=0)

    # Push nodes: health probes (``GET {url}/health``) and dispatch (``POST {url}/tasks``).
    push_probe_healthy_seconds: float = Field(default=15.0, gt=0)
    push_probe_failing_seconds: float = Field(default=2.0, gt=0)
    push_probe_dead_seconds: float = Field(default=10.0, gt=0)
    push_probe_timeout_seconds: float = Field(default=3.0, gt=0)
    push_unhealthy_after_failures: int = Field(default=2, ge=1)
    push_dead_after_failures: int = Field(default=6, ge=1)
    push_request_timeout_seconds: float = Field(default=30.0, gt=0)
    dispatch_concurrency: int = Field(default=64, ge=1, description="push requests in flight")

    # SSE keep-alive comments while a stream is idle; proxies close silent connections.
    sse_keepalive_seconds: float = Field(default=15.0, gt=0)

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # The whole request body must arrive within this (408 otherwise), so that slow
    # trickling clients (slowloris) cannot hold requests open; it bounds uploads too.
    body_read_timeout_seconds: float = Field(default=60.0, gt=0)
    # One log line per request (method, route template, status, duration, principal,
    # request id); off only to save its cost where a proxy logs requests already.
    access_log: bool = True
    artifact_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    # Code bundles (artifacts uploaded with purpose "code"; domain/bundles.py).
    code_bundle_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    code_bundle_max_unpacked_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    code_bundle_max_entries: int = Field(default=2000, ge=1)
    code_bundle_max_ratio: int = Field(default=200, ge=2)
    rate_limits_enabled: bool = True
    # Each budget: a named preset (strict, conservative, moderate, generous, after
    # seed 003) or "CAPACITY,REFILL_PER_SECOND"; unset keeps the built-in default
    # (ratelimit/presets.py). ``auth`` is per client address on /auth/*, ``login``
    # per account on the two logins, ``api`` per principal, ``claim`` per node.
    rate_limit_api: str | None = None
    rate_limit_claim: str | None = None
    rate_limit_auth: str | None = None
    rate_limit_login: str | None = None
    # Proxies whose X-Forwarded-For is believed (comma-separated addresses or CIDRs).
    # None by default: the header is ignored and the connection's peer is the client.
    trusted_proxies: str = ""
    platform_fee_percent: int = Field(default=10, ge=0, le=100)
    # How many nodes one user may register (providers, DESIGN §3).
    max_nodes_per_user: int = Field(default=5, ge=0)

    # Wallet and payments (docs/wallet.md). The sandbox credits deposits and pays
    # withdrawals at once, with no money involved: for development and demos only.
    wallet_sandbox: bool = False
    # Credits every new user gets once at registration (seed 001's DEV_INITIAL_WALLET).
    wallet_initial_credits: int = Field(default=0, ge=0, le=2**63 - 1)
    # Stripe Checkout for deposits: credits land only from the signed webhook.
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    # Another API host (a local stand-in in tests, stripe-mock); unset: Stripe's own.
    stripe_api_base: str | None = None
    # One credit is one minor unit (a cent) of this currency.
    stripe_currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")
    stripe_success_url: str = "http://localhost:8000/dashboard?deposit=done"
    stripe_cancel_url: str = "http://localhost:8000/dashboard?deposit=cancelled"
    # Seed-compatible API profiles (docs/compat.md): comma-separated seed numbers
    # ("000,001,002,003,004"); none by default. 001's paths are free (its prefix is
    # empty); 003 and 004 both own /api/v1/tasks, as we do, so they get prefixes.
    compat_profiles: str = ""
    compat_001_prefix: str = ""
    compat_003_prefix: str = "/compat/003"
    compat_004_prefix: str = "/compat/004"
    # Seed 004 has no authentication; its profile takes this key (X-API-Key or bearer).
    compat_004_api_key: SecretStr | None = None
    # Browser origins allowed by CORS, comma-separated; none by default.
    cors_origins: str = ""

    db_pool_size: int = Field(default=10, ge=1)
    log_level: str = "INFO"
    log_json: bool = False

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        return normalise_database_url(value) if value else value

    @field_validator("rate_limit_api", "rate_limit_claim", "rate_limit_auth", "rate_limit_login")
    @classmethod
    def _check_preset(cls, value: str | None) -> str | None:
        if value is not None:
            parse_preset(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        parse_networks(value)
        return value

    def rate_limit_presets(self) -> dict[str, Preset]:
        presets = dict(DEFAULT_PRESETS)
        for name in presets:
            chosen = getattr(self, f"rate_limit_{name}")
            if chosen is not None:
                presets[name] = parse_preset(chosen)
        return presets

    def trusted_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    def compat_profile_set(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.compat_profiles.split(",") if p.strip())

    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'conveyor.db'}"
        if self.jwt_secret is not None:
            raw = self.jwt_secret.get_secret_value()
            if len(raw.encode()) < MIN_JWT_SECRET_BYTES:
                raise ValueError(
                    f"CONVEYOR_JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes"
                )
        elif self.environment == "production":
            raise ValueError("CONVEYOR_JWT_SECRET is required in production")
        self._check_wallet()
        return self

    def _check_wallet(self) -> None:
        if self.wallet_sandbox and self.environment == "production":
            raise ValueError("CONVEYOR_WALLET_SANDBOX hands out free credits; not in production")
        if (self.stripe_secret_key is None) != (self.stripe_webhook_secret is None):
            # Without the webhook secret no deposit could ever be credited.
            raise ValueError(
                "CONVEYOR_STRIPE_SECRET_KEY and CONVEYOR_STRIPE_WEBHOOK_SECRET go together"
            )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def resolved_jwt_secret(self) -> str:
        """The configured secret, or the embedded default kept under ``data_dir``.

        The embedded default is generated once with 32 random bytes and reused on
        every start so that tokens survive a restart.
        """
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        path = self.data_dir / "jwt-secret"
        if path.exists():
            secret = path.read_text().strip()
            if len(secret.encode()) >= MIN_JWT_SECRET_BYTES:
                return secret
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        path.write_text(secret)
        path.chmod(0o600)
        return secret
