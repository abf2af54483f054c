"""The Python SDK: sync and async clients for the Conveyor API (no server imports)."""

from conveyor.client.async_client import AsyncClient
from conveyor.client.errors import (
    ApiError,
    AuthenticationError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    ConveyorClientError,
    NotFound,
    PaymentRequired,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
)
from conveyor.client.models import (
    Attempt,
    ClaimResult,
    Event,
    Node,
    Payment,
    Progress,
    Task,
    Wallet,
    WalletTransaction,
)
from conveyor.client.retry import RetryPolicy
from conveyor.client.sync_client import Client

__all__ = [
    "ApiError",
    "AsyncClient",
    "Attempt",
    "AuthenticationError",
    "BadRequest",
    "ClaimResult",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "ConveyorClientError",
    "Event",
    "Node",
    "NotFound",
    "Payment",
    "PaymentRequired",
    "PermissionDenied",
    "Progress",
    "RateLimited",
    "RetryPolicy",
    "ServiceUnavailable",
    "Task",
    "Wallet",
    "WalletTransaction",
]
