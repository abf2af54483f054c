"""The built-in task handlers, by task type.

``build_handlers(settings)`` wires them to explicit settings (tests point them at
local servers); ``BUILTIN_HANDLERS`` reads ``CONVEYOR_*`` lazily, on first use.
"""

from __future__ import annotations

from conveyor.handlers.base import Handler
from conveyor.handlers.cleanup_temp import make_cleanup_temp
from conveyor.handlers.config import HandlerSettings
from conveyor.handlers.email_send import make_email_send
from conveyor.handlers.noop import make_noop
from conveyor.handlers.notification_send import make_notification_send
from conveyor.handlers.report_generate import make_report_generate
from conveyor.handlers.resize_image import make_resize_image


def build_handlers(settings: HandlerSettings | None = None) -> dict[str, Handler]:
    return {
        "email_send": make_email_send(settings),
        "notification_send": make_notification_send(settings),
        "report_generate": make_report_generate(settings),
        "resize_image": make_resize_image(settings),
        "cleanup_temp": make_cleanup_temp(settings),
        "noop": make_noop(settings),
    }


BUILTIN_HANDLERS: dict[str, Handler] = build_handlers()

__all__ = ["BUILTIN_HANDLERS", "Handler", "HandlerSettings", "build_handlers"]
