"""What every built-in handler shares: its type, params parsing, common refusals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from conveyor.client.artifacts import AsyncArtifactClient
from conveyor.handlers.config import HandlerSettings, default_settings
from conveyor.worker.context import HandlerError, TaskContext

Handler = Callable[[dict[str, Any], TaskContext], Awaitable[dict[str, Any]]]
M = TypeVar("M", bound=BaseModel)


def parse_params(model: type[M], params: dict[str, Any]) -> M:
    """Validate params; a bad field fails the task for good, naming every bad field."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err["loc"]) or "params"
            problems.append(f"{where}: {err['msg']}")
        raise HandlerError(
            "invalid params: " + "; ".join(problems), retryable=False, code="invalid_params"
        ) from exc


def resolve(settings: HandlerSettings | None) -> HandlerSettings:
    return settings if settings is not None else default_settings()


def artifacts_of(ctx: TaskContext) -> AsyncArtifactClient:
    if ctx.artifacts is None:
        raise HandlerError(
            "this worker has no artifact client", retryable=False, code="artifacts_unavailable"
        )
    return ctx.artifacts


def stop_if_cancelled(ctx: TaskContext) -> None:
    if ctx.cancelled:
        raise HandlerError("the task was cancelled", retryable=False, code="cancelled")
