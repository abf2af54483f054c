"""structlog set-up: key-value logs for humans, JSON for machines, secrets redacted.

The redaction processors are the last line of defence: code should never pass a
secret to a log call, but if one slips through under a known key, or inside the
text of a library's log line (SQLAlchemy, aiosqlite, uvicorn and alembic log
through the stdlib), it is masked. Every stdlib record goes through the same
processors and renderer as our own events, so JSON logs are JSON throughout.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

SENSITIVE_KEYS = frozenset(
    {
        "password",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "authorization",
        "jwt_secret",
        "api_key",
        "cookie",
    }
)


# Secrets recognisable by their shape wherever they appear in a log line: argon2
# hashes (a stored password or node secret hash is as good as a guessable secret
# to an offline attacker), JWTs, and the value after "Bearer".
_SECRET_SHAPES = re.compile(
    r"\$argon2(?:id|i|d)\$[^\s'\"]+"
    r"|\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]+"
    r"|(?i:bearer)\s+[\w.~+/=-]+"
)
# aiosqlite's DEBUG lines repeat every statement with its parameters: noise that
# carries data, never useful to an operator.
_CAPPED_LOGGERS = {"aiosqlite": logging.INFO}
# The HTTP client logs a line per request at INFO ("HTTP Request: POST ..."): in a
# worker that is several lines a second burying its own. Shown at DEBUG only.
_QUIET_UNLESS_DEBUG = ("httpx", "httpcore")


def scrub(text: str) -> str:
    return _SECRET_SHAPES.sub("***", text)


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if key.lower() in SENSITIVE_KEYS:
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = scrub(value)
    return event


class _NamedPrintLogger(structlog.PrintLogger):
    """A PrintLogger that knows the name ``get_logger`` was given."""

    def __init__(self, file: TextIO, name: str | None) -> None:
        super().__init__(file)
        self.name = name


def _add_name(logger: Any, _: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # ``logger``, the key stdlib records get: every line, ours or a library's, says
    # where it came from.
    name = getattr(logger, "name", None)
    if name:
        event.setdefault("logger", name)
    return event


def configure_logging(level: str = "INFO", json: bool = False) -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            _add_name,
            redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda *args: _NamedPrintLogger(sys.stderr, args[0] if args else None),
        cache_logger_on_first_use=True,
    )
    # Exceptions are formatted before redaction here: a traceback quotes values too.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name, floor in _CAPPED_LOGGERS.items():
        logging.getLogger(name).setLevel(max(numeric, floor))
    for name in _QUIET_UNLESS_DEBUG:
        quiet = numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
        logging.getLogger(name).setLevel(quiet)
    if numeric <= logging.DEBUG:
        # DEBUG shows the SQL statements (SQLAlchemy keeps its loggers at WARNING
        # otherwise); the engines hide their parameters (store/database.py).
        logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
