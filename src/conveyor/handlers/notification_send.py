"""``notification_send``: POST a signed JSON body to a webhook, retrying what is transient.

Only hosts in ``CONVEYOR_WEBHOOK_ALLOWED_HOSTS`` are posted to (see handlers/urls.py).
The receiver checks ``X-Conveyor-Signature`` with ``conveyor.security.signing.verify``;
every attempt is signed afresh so a retry never looks like a replay.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from conveyor.handlers.base import Handler, parse_params, resolve, stop_if_cancelled
from conveyor.handlers.config import HandlerSettings
from conveyor.handlers.urls import check_url
from conveyor.security.signing import sign
from conveyor.worker.context import HandlerError, TaskContext

USER_AGENT = "conveyor-notification/1"
MAX_BODY_BYTES = 1024 * 1024


class NotificationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048)
    payload: dict[str, Any] = Field(default_factory=dict)
    event: str = Field(default="notification", min_length=1, max_length=100)

    @field_validator("url")
    @classmethod
    def _http_only(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a URL: {exc}") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an http(s) URL")
        return value


class _Transient(Exception):
    """An attempt failed in a way worth trying again."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


async def _attempt(
    client: httpx.AsyncClient, url: httpx.URL, body: bytes, secret: str, event: str
) -> int:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Conveyor-Event": event,
        **sign(secret, body),
    }
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.TransportError as exc:
        raise _Transient(f"{type(exc).__name__}: {exc}") from exc
    status = response.status_code
    if status == 429 or status >= 500:
        raise _Transient(f"HTTP {status}", _retry_after(response))
    if status >= 300:
        # Redirects are not followed: the signed body goes only where it was sent.
        raise HandlerError(
            f"the webhook refused the notification: HTTP {status}",
            retryable=False,
            code="webhook_rejected",
        )
    return status


def _delay(cfg: HandlerSettings, attempt: int, hint: float | None) -> float:
    backoff = cfg.webhook_backoff_seconds * 2 ** (attempt - 1)
    wanted = hint if hint is not None else backoff
    return min(wanted, cfg.webhook_backoff_max_seconds)


def _body(p: NotificationParams, ctx: TaskContext) -> bytes:
    envelope = {"event": p.event, "task_id": ctx.task_id, "data": p.payload}
    body = json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()
    if len(body) > MAX_BODY_BYTES:
        raise HandlerError("the payload is over 1 MiB", retryable=False, code="invalid_params")
    return body


def make_notification_send(settings: HandlerSettings | None = None) -> Handler:
    async def notification_send(params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        p = parse_params(NotificationParams, params)
        cfg = resolve(settings)
        if cfg.webhook_secret is None:
            raise HandlerError(
                "CONVEYOR_WEBHOOK_SECRET is not set on this worker",
                retryable=False,
                code="not_configured",
            )
        url = check_url(p.url, cfg.webhook_allowed_hosts, "CONVEYOR_WEBHOOK_ALLOWED_HOSTS")
        secret = cfg.webhook_secret.get_secret_value()
        body = _body(p, ctx)
        reason = ""
        async with httpx.AsyncClient(timeout=cfg.webhook_timeout, follow_redirects=False) as client:
            for attempt in range(1, cfg.webhook_max_attempts + 1):
                stop_if_cancelled(ctx)
                try:
                    status = await _attempt(client, url, body, secret, p.event)
                except _Transient as exc:
                    reason = exc.reason
                    await ctx.progress({"attempt": attempt, "error": reason})
                    if attempt < cfg.webhook_max_attempts:
                        await asyncio.sleep(_delay(cfg, attempt, exc.retry_after))
                    continue
                return {"status_code": status, "attempts": attempt}
        # Still transient: the task as a whole may be retried later by the server.
        raise HandlerError(
            f"webhook failed after {cfg.webhook_max_attempts} attempts: {reason}",
            code="webhook_unavailable",
        )

    return notification_send
