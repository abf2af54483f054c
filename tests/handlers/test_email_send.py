"""``email_send`` against a real SMTP server (aiosmtpd), plain, with AUTH, and STARTTLS."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr

from conveyor.handlers import HandlerSettings, build_handlers
from conveyor.worker.context import HandlerError
from tests.handlers.conftest import make_run
from tests.server import free_port


class Inbox:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def message(self, index: int = 0) -> Message:
        content = self.envelopes[index].content
        assert isinstance(content, bytes)
        return message_from_bytes(content)


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"mailer",
        b"hunter2",
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def settings(port: int, **extra: Any) -> HandlerSettings:
    return HandlerSettings(
        smtp_host="127.0.0.1", smtp_port=port, smtp_from="noreply@conveyor.test", **extra
    )


PARAMS = {
    "to": "alice@example.com",
    "cc": ["bob@example.com"],
    "bcc": ["audit@example.com"],
    "reply_to": "help@example.com",
    "subject": "Your report",
    "body": "Hello Alice,\nyour report is ready.",
    "html": "<p>Hello <b>Alice</b></p>",
}


async def test_sends_a_multipart_message(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    run = make_run("email_send")
    result = await build_handlers(settings(port))["email_send"](PARAMS, run.ctx)

    assert result["accepted"] == ["alice@example.com", "bob@example.com", "audit@example.com"]
    assert result["refused"] == []
    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "noreply@conveyor.test"
    assert sorted(envelope.rcpt_tos) == sorted(result["accepted"])
    msg = inbox.message()
    assert msg["Subject"] == "Your report"
    assert msg["To"] == "alice@example.com"
    assert msg["Cc"] == "bob@example.com"
    assert msg["Bcc"] is None
    assert msg["Reply-To"] == "help@example.com"
    assert msg["Message-ID"] == result["message_id"]
    assert msg["X-Conveyor-Task-Id"] == "task-1"
    parts = {p.get_content_type(): p.get_payload(decode=True) for p in msg.walk()}
    assert b"your report is ready." in parts["text/plain"]
    assert b"<b>Alice</b>" in parts["text/html"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({**PARAMS, "to": []}, "to"),
        ({**PARAMS, "to": ["not-an-address"]}, "to.0"),
        ({**PARAMS, "subject": "hi\r\nBcc: victim@example.com"}, "subject"),
        ({k: v for k, v in PARAMS.items() if k != "body"}, "body"),
        ({**PARAMS, "surprise": 1}, "surprise"),
    ],
)
async def test_bad_params_fail_for_good(
    smtp: tuple[Inbox, int], params: dict[str, Any], field: str
) -> None:
    inbox, port = smtp
    with pytest.raises(HandlerError) as caught:
        await build_handlers(settings(port))["email_send"](params, make_run("email_send").ctx)
    assert caught.value.code == "invalid_params" and not caught.value.retryable
    assert f"{field}:" in caught.value.message
    assert inbox.envelopes == []


async def test_unreachable_server_is_retryable() -> None:
    handler = build_handlers(settings(free_port(), smtp_timeout=5))["email_send"]
    with pytest.raises(HandlerError) as caught:
        await handler(PARAMS, make_run("email_send").ctx)
    assert caught.value.retryable and caught.value.code == "smtp_unavailable"


@pytest.fixture
def smtp_auth() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticator,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_logs_in_when_asked(smtp_auth: tuple[Inbox, int]) -> None:
    inbox, port = smtp_auth
    good = settings(port, smtp_username="mailer", smtp_password=SecretStr("hunter2"))
    await build_handlers(good)["email_send"](PARAMS, make_run("email_send").ctx)
    assert len(inbox.envelopes) == 1

    bad = settings(port, smtp_username="mailer", smtp_password=SecretStr("wrong"))
    with pytest.raises(HandlerError) as caught:
        await build_handlers(bad)["email_send"](PARAMS, make_run("email_send").ctx)
    assert caught.value.code == "smtp_auth" and not caught.value.retryable, caught.value.message
    assert len(inbox.envelopes) == 1


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command += ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_starttls_with_a_trusted_certificate(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        cfg = settings(
            port,
            smtp_starttls=True,
            smtp_ca_file=cert,
            smtp_username="mailer",
            smtp_password=SecretStr("hunter2"),
        )
        await build_handlers(cfg)["email_send"](PARAMS, make_run("email_send").ctx)
    finally:
        controller.stop()
    assert len(inbox.envelopes) == 1
