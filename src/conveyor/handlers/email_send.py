"""``email_send``: one message over SMTP, plain text with an optional HTML part."""

from __future__ import annotations

import re
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Annotated, Any

import aiosmtplib
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from conveyor.handlers.base import Handler, parse_params, resolve
from conveyor.handlers.config import HandlerSettings
from conveyor.worker.context import HandlerError, TaskContext

MAX_RECIPIENTS = 100
# Deliberately plain: a bare address, no display names, nothing a header could
# be smuggled through (CR/LF are whitespace, so they never match).
_ADDRESS = re.compile(r"^[^@\s<>,;:\"()\[\]\\]+@[A-Za-z0-9.-]+$")


def _address(value: str) -> str:
    value = value.strip()
    if not _ADDRESS.match(value):
        raise ValueError(f"not an email address: {value!r}")
    return value


def _single_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line")
    return value


Address = Annotated[str, AfterValidator(_address)]


class EmailParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: list[Address] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    subject: Annotated[str, AfterValidator(_single_line)] = Field(min_length=1, max_length=998)
    body: str = Field(max_length=1_000_000)
    html: str | None = Field(default=None, max_length=5_000_000)
    cc: list[Address] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    bcc: list[Address] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    reply_to: Address | None = None

    @field_validator("to", "cc", "bcc", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def build_message(p: EmailParams, sender: str, task_id: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(p.to)
    if p.cc:
        msg["Cc"] = ", ".join(p.cc)
    if p.reply_to:
        msg["Reply-To"] = p.reply_to
    msg["Subject"] = p.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg["X-Conveyor-Task-Id"] = task_id
    msg.set_content(p.body)
    if p.html is not None:
        msg.add_alternative(p.html, subtype="html")
    return msg


def _tls_context(cfg: HandlerSettings) -> ssl.SSLContext | None:
    if cfg.smtp_ca_file is None:
        return None
    return ssl.create_default_context(cafile=str(cfg.smtp_ca_file))


async def _send(cfg: HandlerSettings, msg: EmailMessage, rcpts: list[str]) -> set[str]:
    password = cfg.smtp_password.get_secret_value() if cfg.smtp_password else None
    try:
        refused, _reply = await aiosmtplib.send(
            msg,
            sender=cfg.smtp_from,
            recipients=rcpts,
            hostname=cfg.smtp_host,
            port=cfg.smtp_port,
            username=cfg.smtp_username,
            password=password,
            use_tls=cfg.smtp_use_tls,
            start_tls=cfg.smtp_starttls,
            validate_certs=cfg.smtp_validate_certs,
            tls_context=_tls_context(cfg),
            timeout=cfg.smtp_timeout,
        )
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise HandlerError(
            f"SMTP login refused: {exc.message}", retryable=False, code="smtp_auth"
        ) from exc
    except aiosmtplib.SMTPRecipientsRefused as exc:
        bad = ", ".join(r.recipient for r in exc.recipients)
        raise HandlerError(
            f"every recipient was refused: {bad}", retryable=False, code="smtp_refused"
        ) from exc
    except aiosmtplib.SMTPResponseException as exc:
        # 4xx is the server asking us to come back later; 5xx is a final no.
        transient = 400 <= exc.code < 500
        raise HandlerError(
            f"SMTP error {exc.code}: {exc.message}", retryable=transient, code="smtp_error"
        ) from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise HandlerError(f"SMTP server unreachable: {exc}", code="smtp_unavailable") from exc
    return set(refused)


def make_email_send(settings: HandlerSettings | None = None) -> Handler:
    async def email_send(params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        p = parse_params(EmailParams, params)
        cfg = resolve(settings)
        msg = build_message(p, cfg.smtp_from, ctx.task_id)
        rcpts = list(dict.fromkeys([*p.to, *p.cc, *p.bcc]))
        refused = await _send(cfg, msg, rcpts)
        await ctx.progress({"stage": "sent", "percent": 100})
        return {
            "message_id": msg["Message-ID"],
            "accepted": [r for r in rcpts if r not in refused],
            "refused": sorted(refused),
        }

    return email_send
