"""What a finished child's exit status, answer and log mean: a result or a SandboxError."""

from __future__ import annotations

import json
import signal
from typing import Any

from conveyor.domain.validation import json_problem
from conveyor.worker.sandbox.errors import SandboxError

# Lines a runtime prints when an allocation failed (CPython, V8, glibc).
MEMORY_SIGNS = (
    "MemoryError",
    "heap out of memory",
    "Allocation failed",
    "out of memory",
    "std::bad_alloc",
)
KIND_CODES = {
    "memory": "sandbox_memory",
    "file_size": "sandbox_file_too_large",
    "bad_result": "sandbox_bad_result",
    "code": "sandbox_code_error",
}


def exit_signal(returncode: int, through_bwrap: bool) -> int | None:
    """The signal that killed the code: subprocess reports ``-N``; bwrap exits ``128+N``."""
    if returncode < 0:
        return -returncode
    if through_bwrap and 128 < returncode < 128 + 65:
        return returncode - 128
    return None


def interpret(returncode: int, answer: bytes, log_tail: str, through_bwrap: bool) -> Any:
    sig = exit_signal(returncode, through_bwrap)
    if sig == signal.SIGXCPU:
        raise SandboxError("sandbox_cpu", "the code used up its CPU time", log_tail=log_tail)
    if sig == signal.SIGXFSZ:
        raise SandboxError(
            "sandbox_file_too_large", "the code wrote past the file size limit", log_tail=log_tail
        )
    parsed = _parse(answer)
    if parsed is not None:
        return _from_answer(parsed, log_tail)
    if any(sign in log_tail for sign in MEMORY_SIGNS):
        raise SandboxError("sandbox_memory", "the code ran out of memory", log_tail=log_tail)
    if sig is not None:
        name = signal.Signals(sig).name if sig in signal.valid_signals() else str(sig)
        hint = " (past a hard CPU or memory limit?)" if sig == signal.SIGKILL else ""
        raise SandboxError(
            "sandbox_crashed", f"the code was killed by {name}{hint}", log_tail=log_tail
        )
    if returncode != 0:
        raise SandboxError(
            "sandbox_crashed", f"the code exited with status {returncode}", log_tail=log_tail
        )
    raise SandboxError("sandbox_bad_result", "the code gave no answer on stdout", log_tail=log_tail)


def _parse(answer: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(answer)
    except (ValueError, RecursionError):
        return None
    if isinstance(parsed, dict) and isinstance(parsed.get("ok"), bool):
        return parsed
    return None


def _from_answer(answer: dict[str, Any], log_tail: str) -> Any:
    if answer["ok"]:
        result = answer.get("result")
        # What the server would refuse must fail here, alone, not the whole batch of
        # finishes it would travel in.
        problem = json_problem(result)
        if problem is not None:
            message = f"the result cannot be stored: {problem}"
            raise SandboxError("sandbox_bad_result", message, log_tail=log_tail)
        return result
    error = answer.get("error")
    error = error if isinstance(error, dict) else {}
    code = KIND_CODES.get(str(error.get("kind")), "sandbox_code_error")
    message = f"{error.get('type', 'Error')}: {error.get('message', '')}"
    raise SandboxError(code, message, log_tail=log_tail, detail=str(error.get("traceback", "")))
