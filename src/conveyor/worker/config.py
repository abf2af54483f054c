"""Worker settings, from arguments or ``CONVEYOR_*`` environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONVEYOR_", extra="ignore")

    server_url: str = "http://127.0.0.1:8080"
    node_id: str | None = None
    node_secret: SecretStr | None = None

    concurrency: int = Field(default=8, ge=1, le=10000)
    # Tasks claimed ahead of free slots and held until one frees (Celery's prefetch):
    # the next task starts without a round trip, and the refill carries the results.
    # At most ``prefetch`` of them, and only about ``prefetch_seconds`` of expected
    # work per slot (from this worker's recent run times; at least one).
    # prefetch 0: claim only for free slots.
    prefetch: int = Field(default=32, ge=0, le=1000)
    prefetch_seconds: float = Field(default=0.1, ge=0, le=3600)
    # How many tasks one claim may bring; by default the free slots.
    batch_size: int | None = Field(default=None, ge=1, le=1000)
    # Long-poll wait of an idle worker; short enough that shutdown is prompt.
    poll_wait_seconds: float = Field(default=10.0, ge=0, le=60)
    lease_seconds: int | None = Field(default=None, ge=1)
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    grace_seconds: float = Field(default=30.0, ge=0)
    # How sync handlers run: threads share memory, processes sidestep the GIL.
    sync_mode: Literal["thread", "process"] = "thread"
    # Results are held this long so several go out in one request.
    finish_coalesce_seconds: float = Field(default=0.005, ge=0)
    max_backoff_seconds: float = Field(default=5.0, gt=0)
    # The server's variables (CONVEYOR_LOG_LEVEL, CONVEYOR_LOG_JSON), read the same way.
    log_level: str = "INFO"
    log_json: bool = False


# Seed 001's worker runner is configured by these (its intervals in milliseconds).
# Each is used only where the CONVEYOR_* name is not set, and options beat both.
SEED_001_ENV: dict[str, tuple[str, float | None]] = {
    "WORKER_ID": ("node_id", None),
    "API_BASE": ("server_url", None),
    "POLL_INTERVAL": ("poll_wait_seconds", 1000.0),
    "HEARTBEAT_INTERVAL": ("heartbeat_seconds", 1000.0),
}


def seed_001_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """WorkerConfig values from seed 001's variable names; ValueError names a bad one."""
    found: dict[str, Any] = {}
    for name, (field, per_second) in SEED_001_ENV.items():
        raw = environ.get(name, "").strip()
        if not raw or environ.get(f"CONVEYOR_{field.upper()}"):
            continue
        if per_second is None:
            found[field] = raw
            continue
        try:
            found[field] = float(raw) / per_second
        except ValueError:
            raise ValueError(f"{name} must be a number of milliseconds, not {raw!r}") from None
    return found
