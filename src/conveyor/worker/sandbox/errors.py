"""Why a chunk failed in the sandbox: one code each, and whether a retry could help.

Only what might go differently on another try is retryable: a wall-clock timeout
(a loaded machine) and a sandbox that could not start. Customer code that crashes,
runs out of memory or CPU, writes too much or answers nonsense does the same again.
"""

from __future__ import annotations

from conveyor.worker.context import HandlerError

RETRYABLE = {
    "sandbox_timeout": True,
    "sandbox_unavailable": True,
    "sandbox_memory": False,
    "sandbox_cpu": False,
    "sandbox_file_too_large": False,
    "sandbox_output_too_large": False,
    "sandbox_input_too_large": False,
    "sandbox_crashed": False,
    "sandbox_code_error": False,
    "sandbox_bad_result": False,
    "sandbox_bad_bundle": False,
}


class SandboxError(HandlerError):
    """A chunk's failure; ``log_tail`` is the end of what the code wrote to stderr."""

    def __init__(self, code: str, message: str, *, log_tail: str = "", detail: str = "") -> None:
        extra = {"log_tail": log_tail} if log_tail else {}
        if detail:
            extra["code_traceback"] = detail
        super().__init__(message, retryable=RETRYABLE[code], code=code, extra=extra)
        self.log_tail = log_tail
        self.detail = detail
