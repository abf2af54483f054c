"""Other names for the built-in task types, as the seeds' clients and workers spell them.

One table, used by the native API and every seed profile alike (docs/compat.md):
a task submitted as ``send_email`` is stored, claimed and run as ``email_send``.
Only names that mean exactly one built-in handler are here; anything else is kept
as given (custom handlers register whatever names they like).
"""

from __future__ import annotations

BUILTIN_TYPES = frozenset(
    {"email_send", "notification_send", "report_generate", "resize_image", "cleanup_temp"}
)

ALIASES: dict[str, str] = {
    # seed 003's worker (internal/worker/proc.go)
    "send_email": "email_send",
    "generate_report": "report_generate",
    # seed 003's API types
    "IMAGE_RESIZE": "resize_image",
    "REPORT_GENERATE": "report_generate",
    # An export is a report of the caller's data: the same CSV/JSON file handler.
    "DATA_EXPORT": "report_generate",
}

# Types a seed documents that no built-in handler runs: a clear 400 beats a task
# that waits forever for a worker that will never come.
UNSUPPORTED: dict[str, str] = {
    "VIDEO_PROCESS": "no video handler ships with this server (no kept video library)",
}


def canonical_task_type(name: str) -> str:
    """The built-in type an alias names, or the name itself."""
    return ALIASES.get(name, name)


def unsupported_reason(name: str) -> str | None:
    reason = UNSUPPORTED.get(name)
    if reason is None:
        return None
    runs = ", ".join(sorted(BUILTIN_TYPES | set(ALIASES)))
    return f"task type {name} is not supported: {reason}; this server runs {runs}"
