"""``notification_send`` against a real local webhook receiver that checks signatures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conveyor.handlers import HandlerSettings, build_handlers
from conveyor.handlers.urls import host_allowed
from conveyor.security.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    verify,
)
from conveyor.worker.context import HandlerError
from tests.handlers.conftest import make_run
from tests.server import free_port, serve_asgi

SECRET = "webhook-secret-" + "y" * 20


@dataclass
class Receiver:
    base_url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    failures_left: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path}"


def receiver_app(rx: Receiver) -> Starlette:
    async def hook(request: Request) -> Response:
        body = await request.body()
        # A bad signature is answered 401, which the handler must treat as final.
        try:
            verify(
                SECRET,
                body,
                request.headers.get(TIMESTAMP_HEADER),
                request.headers.get(SIGNATURE_HEADER),
            )
        except SignatureError:
            return JSONResponse({"error": "bad signature"}, status_code=401)
        mode = request.path_params["mode"]
        rx.received.append({"mode": mode, "body": json.loads(body), "headers": request.headers})
        left = rx.failures_left.get(mode, 0)
        if left:
            rx.failures_left[mode] = left - 1
            status = 429 if mode == "throttled" else 503
            return JSONResponse({"try": "later"}, status_code=status, headers={"Retry-After": "0"})
        if mode == "bad":
            return JSONResponse({"error": "no"}, status_code=400)
        return JSONResponse({"ok": True}, status_code=202)

    return Starlette(routes=[Route("/hook/{mode}", hook, methods=["POST"])])


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rx = Receiver()
    async with serve_asgi(receiver_app(rx)) as base_url:
        rx.base_url = base_url
        yield rx


def handler(**extra: Any) -> Any:
    values: dict[str, Any] = {
        "webhook_secret": SecretStr(SECRET),
        "webhook_max_attempts": 3,
        "webhook_backoff_seconds": 0.01,
        "webhook_allowed_hosts": ["127.0.0.1"],
    }
    cfg = HandlerSettings(**{**values, **extra})
    return build_handlers(cfg)["notification_send"]


async def test_posts_a_signed_envelope(receiver: Receiver) -> None:
    run = make_run("notification_send", task_id="t-42")
    params = {"url": receiver.url("hook/ok"), "event": "report.ready", "payload": {"n": 1}}
    result = await handler()(params, run.ctx)
    assert result == {"status_code": 202, "attempts": 1}
    (got,) = receiver.received
    assert got["body"] == {"event": "report.ready", "task_id": "t-42", "data": {"n": 1}}
    assert got["headers"]["content-type"] == "application/json"
    assert got["headers"]["x-conveyor-event"] == "report.ready"


@pytest.mark.parametrize("mode", ["flaky", "throttled"])
async def test_retries_transient_failures(receiver: Receiver, mode: str) -> None:
    receiver.failures_left[mode] = 2
    run = make_run("notification_send")
    result = await handler()({"url": receiver.url(f"hook/{mode}")}, run.ctx)
    assert result == {"status_code": 202, "attempts": 3}
    assert len(receiver.received) == 3
    assert [e["attempt"] for e in run.progress] == [1, 2]


async def test_gives_up_retryably_after_max_attempts(receiver: Receiver) -> None:
    receiver.failures_left["flaky"] = 10
    with pytest.raises(HandlerError) as caught:
        await handler()({"url": receiver.url("hook/flaky")}, make_run("notification_send").ctx)
    assert caught.value.retryable and caught.value.code == "webhook_unavailable"
    assert len(receiver.received) == 3


async def test_a_4xx_is_final(receiver: Receiver) -> None:
    with pytest.raises(HandlerError) as caught:
        await handler()({"url": receiver.url("hook/bad")}, make_run("notification_send").ctx)
    assert not caught.value.retryable and caught.value.code == "webhook_rejected"
    assert len(receiver.received) == 1


async def test_a_wrong_secret_is_refused_by_the_receiver(receiver: Receiver) -> None:
    wrong = handler(webhook_secret=SecretStr("not-the-secret"))
    with pytest.raises(HandlerError) as caught:
        await wrong({"url": receiver.url("hook/ok")}, make_run("notification_send").ctx)
    assert not caught.value.retryable and caught.value.code == "webhook_rejected"
    assert receiver.received == []


@pytest.mark.parametrize(
    "allowed",
    [
        [],  # the default: no host at all
        ["localhost"],  # the same machine under another name is another host
        ["*.127.0.0.1", "hooks.example.com"],
    ],
)
async def test_only_allowed_hosts_are_posted_to(receiver: Receiver, allowed: list[str]) -> None:
    """A task names the URL; the worker's operator decides where it may go (SSRF)."""
    with pytest.raises(HandlerError) as caught:
        await handler(webhook_allowed_hosts=allowed)(
            {"url": receiver.url("hook/ok")}, make_run("notification_send").ctx
        )
    assert caught.value.code == "url_not_allowed" and not caught.value.retryable
    assert "CONVEYOR_WEBHOOK_ALLOWED_HOSTS" in str(caught.value)
    assert receiver.received == []


@pytest.mark.parametrize(
    ("host", "allowed", "expected"),
    [
        ("hooks.example.com", ["hooks.example.com"], True),
        ("HOOKS.example.com.", ["hooks.example.com"], True),
        ("a.hooks.example.com", ["*.example.com"], True),
        ("example.com", ["*.example.com"], False),
        ("evilexample.com", ["*.example.com"], False),
        ("example.com.evil.net", ["example.com"], False),
        ("10.0.0.1", [], False),
    ],
)
def test_host_patterns(host: str, allowed: list[str], expected: bool) -> None:
    assert host_allowed(host, allowed) is expected


async def test_connection_refused_is_retried_then_retryable() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    run = make_run("notification_send")
    with pytest.raises(HandlerError) as caught:
        await handler()({"url": url}, run.ctx)
    assert caught.value.retryable
    assert len(run.progress) == 3


@pytest.mark.parametrize(
    "params", [{}, {"url": "ftp://example.com/x"}, {"url": "http://x", "payload": [1]}]
)
async def test_bad_params(params: dict[str, Any]) -> None:
    with pytest.raises(HandlerError) as caught:
        await handler()(params, make_run("notification_send").ctx)
    assert caught.value.code == "invalid_params" and not caught.value.retryable


async def test_refuses_to_send_unsigned(receiver: Receiver) -> None:
    unsigned = build_handlers(HandlerSettings(webhook_secret=None))["notification_send"]
    with pytest.raises(HandlerError) as caught:
        await unsigned({"url": receiver.url("hook/ok")}, make_run("notification_send").ctx)
    assert caught.value.code == "not_configured"


LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
DOMAIN = st.lists(LABEL, min_size=1, max_size=4).map(".".join)


@given(host=DOMAIN, domain=DOMAIN, sub=LABEL)
def test_a_wildcard_admits_exactly_the_subdomains(host: str, domain: str, sub: str) -> None:
    """``*.d`` admits every name under ``d`` and nothing else: not ``d`` itself, not a
    name that merely ends with the same letters."""
    assert host_allowed(f"{sub}.{domain}", [f"*.{domain}"])
    assert host_allowed(host.upper() + ".", [host])
    assert not host_allowed(domain, [f"*.{domain}"])
    assert host_allowed(host, [f"*.{domain}"]) == host.endswith("." + domain)
