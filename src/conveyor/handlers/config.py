"""Settings of the built-in handlers, read from ``CONVEYOR_*`` on the worker machine."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_HOSTS = ["127.0.0.1", "::1", "localhost"]


class HandlerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONVEYOR_", extra="ignore")

    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_use_tls: bool = False
    smtp_validate_certs: bool = True
    smtp_ca_file: Path | None = None
    smtp_timeout: float = Field(default=30.0, gt=0)
    smtp_from: str = "conveyor@localhost"

    webhook_secret: SecretStr | None = None
    webhook_timeout: float = Field(default=10.0, gt=0)
    webhook_max_attempts: int = Field(default=3, ge=1, le=20)
    webhook_backoff_seconds: float = Field(default=0.5, ge=0)
    webhook_backoff_max_seconds: float = Field(default=10.0, ge=0)
    # Hosts webhooks may be posted to (exact, or ``*.example.com`` for subdomains);
    # empty: none, so a worker never posts into its own network until told where.
    webhook_allowed_hosts: list[str] = Field(default_factory=list)

    cleanup_root: Path = Path("./conveyor-data/tmp")

    # Fetching from arbitrary URLs would let any task submitter probe the worker's
    # network; only the hosts named here are reachable.
    fetch_allowed_hosts: list[str] = Field(default_factory=lambda: list(LOOPBACK_HOSTS))
    fetch_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    fetch_timeout: float = Field(default=30.0, gt=0)
    image_max_pixels: int = Field(default=40_000_000, ge=1)

    @model_validator(mode="after")
    def _one_tls_mode(self) -> HandlerSettings:
        if self.smtp_starttls and self.smtp_use_tls:
            raise ValueError("choose smtp_starttls or smtp_use_tls, not both")
        return self


@cache
def default_settings() -> HandlerSettings:
    """Read once, on first use: importing the handlers never touches the environment."""
    return HandlerSettings()
