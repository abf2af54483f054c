"""The error tree. Every failure a client can see is one of these.

Each subclass carries a stable machine-readable ``code`` and its HTTP status; the
API renders them all through one handler as ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

from typing import Any


class ConveyorError(Exception):
    status_code: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class InvalidInput(ConveyorError):
    status_code = 400
    code = "invalid_input"


class Unauthorized(ConveyorError):
    status_code = 401
    code = "unauthorized"


class PaymentRequired(ConveyorError):
    status_code = 402
    code = "insufficient_credits"


class Forbidden(ConveyorError):
    status_code = 403
    code = "forbidden"


class NotFound(ConveyorError):
    status_code = 404
    code = "not_found"


class Conflict(ConveyorError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(ConveyorError):
    status_code = 413
    code = "payload_too_large"


class RateLimited(ConveyorError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class Unavailable(ConveyorError):
    """A dependency (the database) cannot be reached; the same call may work later."""

    status_code = 503
    code = "unavailable"
    # A database restart takes seconds; clients are told to come back soon.
    retry_after: float = 1.0
