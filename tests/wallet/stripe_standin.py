"""A local stand-in for the part of Stripe's API Conveyor calls, and webhook payloads
signed the way Stripe signs them (``t=…,v1=`` HMAC-SHA256 over ``t.payload``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.server import serve_asgi

SECRET_KEY = "sk_test_conveyor"
WEBHOOK_SECRET = "whsec_conveyor_test"


@dataclass
class StripeStandIn:
    url: str = ""
    requests: list[dict[str, str]] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_idempotency_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Set to make the next calls fail the way Stripe does: (status, error type).
    fail_with: tuple[int, str] | None = None

    async def create_session(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {SECRET_KEY}":
            return _error(401, "invalid_request_error", "bad key")
        form = dict(parse_qsl((await request.body()).decode()))
        self.requests.append(form)
        if self.fail_with is not None:
            return _error(self.fail_with[0], self.fail_with[1], "refused by the stand-in")
        key = request.headers.get("idempotency-key", "")
        if key in self.by_idempotency_key:
            return JSONResponse(self.by_idempotency_key[key])
        session_id = f"cs_test_{uuid.uuid4().hex}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "mode": form.get("mode"),
            "amount_total": int(form["line_items[0][price_data][unit_amount]"]),
            "currency": form["line_items[0][price_data][currency]"],
            "payment_status": "unpaid",
            "status": "open",
            "client_reference_id": form.get("client_reference_id"),
            "metadata": {
                "payment_id": form.get("metadata[payment_id]"),
                "user_id": form.get("metadata[user_id]"),
            },
        }
        self.sessions[session_id] = session
        self.by_idempotency_key[key] = session
        return JSONResponse(session)

    def event(
        self, session_id: str, event_type: str = "checkout.session.completed", **changes: Any
    ) -> dict[str, Any]:
        session = {**self.sessions[session_id], "payment_status": "paid", "status": "complete"}
        session.update(changes)
        return {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "api_version": "2025-01-27.acacia",
            "created": int(time.time()),
            "type": event_type,
            "data": {"object": session},
        }


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def sign(payload: str, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    timestamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def signed(event: dict[str, Any], **how: Any) -> tuple[bytes, dict[str, str]]:
    payload = json.dumps(event)
    return payload.encode(), {"Stripe-Signature": sign(payload, **how)}


@asynccontextmanager
async def stripe_standin() -> AsyncIterator[StripeStandIn]:
    standin = StripeStandIn()
    app = Starlette(
        routes=[Route("/v1/checkout/sessions", standin.create_session, methods=["POST"])]
    )
    async with serve_asgi(app) as url:
        standin.url = url
        yield standin
