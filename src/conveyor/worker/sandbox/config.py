"""Sandbox settings, from ``CONVEYOR_SANDBOX_*`` environment variables.

Limits are per chunk. Memory is ``RLIMIT_DATA`` (the private writable memory a
process maps: heaps, arrays), which binds V8 and CPython alike; the address space
gets ``address_space_slack_mb`` on top, because V8 reserves gigabytes of address
space it never touches and a tighter ``RLIMIT_AS`` stops Node.js from starting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024
# Unprivileged uids for sandboxes, one per chunk running at once: distinct uids keep
# each chunk's process count (RLIMIT_NPROC counts per uid) and files its own. Far
# above login users, systemd's dynamic users and the usual subuid ranges.
DEFAULT_UID_BASE = 2_100_000_000


class SandboxConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONVEYOR_SANDBOX_", extra="ignore")

    # bwrap: namespaces (no network, private filesystem view), rlimits, uid drop.
    # rlimit: rlimits, uid drop and a scrubbed environment only; weaker, opt-in.
    mode: Literal["bwrap", "rlimit"] = "bwrap"
    bwrap: str = "bwrap"
    python: str = "/usr/bin/python3"
    node: str = "node"

    cpu_seconds: int = Field(default=60, ge=1)
    wall_seconds: float = Field(default=120.0, gt=0)
    memory_mb: int = Field(default=512, ge=16)
    address_space_slack_mb: int = Field(default=4096, ge=0)
    file_size_mb: int = Field(default=64, ge=1)
    tmpfs_mb: int = Field(default=128, ge=1)
    # Counted per uid, threads included: Node.js alone runs about ten.
    max_processes: int = Field(default=64, ge=1)
    max_open_files: int = Field(default=256, ge=16)

    max_input_bytes: int = Field(default=16 * MIB, ge=1024)
    # A result travels in a finish batch, one request the server bounds
    # (CONVEYOR_MAX_BODY_BYTES, 1 MiB): larger outputs belong in an artifact.
    max_output_bytes: int = Field(default=256 * 1024, ge=1024)
    # Non-progress stderr kept (its end) for the error of a failed chunk.
    log_tail_bytes: int = Field(default=8192, ge=256)
    # Progress lines relayed at most this often; the latest one wins.
    progress_interval_seconds: float = Field(default=0.5, ge=0)

    uid_base: int = Field(default=DEFAULT_UID_BASE, ge=1000)
    uid_count: int = Field(default=256, ge=1)
    # Where unpacked bundles and the guest runners live (a private temp dir if unset).
    work_dir: Path | None = None
    bundle_cache_entries: int = Field(default=32, ge=1)
