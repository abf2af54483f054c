"""The environment variables each command really reads, for checking deploy files."""

from __future__ import annotations

from pydantic_settings import BaseSettings

from conveyor.handlers.config import HandlerSettings
from conveyor.settings import Settings
from conveyor.worker.config import WorkerConfig
from conveyor.worker.sandbox.config import SandboxConfig


def _names(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


# `conveyor serve` and `conveyor db`.
SERVER = frozenset(_names(Settings))
# `conveyor worker`: its config (CONVEYOR_LOG_LEVEL and CONVEYOR_LOG_JSON among it),
# the built-in handlers' and the sandbox's.
WORKER = frozenset(_names(WorkerConfig) | _names(HandlerSettings) | _names(SandboxConfig))


def read_by(command: str) -> frozenset[str]:
    """The variables the ``conveyor COMMAND`` process reads."""
    return WORKER if command == "worker" else SERVER
