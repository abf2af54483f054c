"""API errors as typed exceptions carrying the server's error code."""

from __future__ import annotations

from typing import Any

import httpx


class ConveyorClientError(Exception):
    """Base of everything the SDK raises."""


class ConnectionFailed(ConveyorClientError):
    """The server could not be reached, after the configured retries."""


class ApiError(ConveyorClientError):
    status_code: int = 0

    def __init__(
        self, status_code: int, code: str, message: str, details: Any = None, retry_after: float = 0
    ) -> None:
        super().__init__(f"{status_code} {code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details
        self.retry_after = retry_after


class BadRequest(ApiError):
    pass


class AuthenticationError(ApiError):
    pass


class PaymentRequired(ApiError):
    pass


class PermissionDenied(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class PayloadTooLarge(ApiError):
    pass


class RateLimited(ApiError):
    pass


class ServerError(ApiError):
    pass


class ServiceUnavailable(ServerError):
    pass


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: AuthenticationError,
    402: PaymentRequired,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: RateLimited,
    502: ServiceUnavailable,
    503: ServiceUnavailable,
    504: ServiceUnavailable,
}


def retry_after_seconds(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "0")))
    except ValueError:
        return 0.0


def error_from_response(response: httpx.Response) -> ApiError:
    code, message, details = "http_error", response.reason_phrase or "error", None
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code = str(error.get("code", code))
            message = str(error.get("message", message))
            details = error.get("details")
    except ValueError:
        pass
    cls = _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = ServerError if response.status_code >= 500 else ApiError
    return cls(response.status_code, code, message, details, retry_after_seconds(response))
