"""The guest side of a Python chunk: read items from stdin, call ``process``, answer.

Runs as ``python3 -I run.py CODE_DIR ENTRY`` inside the sandbox. stdin holds the
items as JSON; the one JSON answer goes to the original stdout, which nothing else
may write to: fd 1 is pointed at stderr before the customer's code is imported, so
its prints (and its children's) land in the log. The answer is
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": {"kind", "type",
"message", "traceback"}}``, where ``kind`` tells the worker which error code applies.
"""

from __future__ import annotations

import asyncio
import errno
import importlib.util
import inspect
import json
import os
import sys
import traceback
from typing import Any

MAX_TEXT = 4000


def main() -> None:
    code_dir, entry = sys.argv[1], sys.argv[2]
    answer_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    here = os.getpid()
    try:
        items = json.loads(sys.stdin.buffer.read())
        sys.path[:0] = [code_dir, os.path.dirname(os.path.abspath(__file__))]
        result = _call(_load(os.path.join(code_dir, entry)), items)
        answer = _encode({"ok": True, "result": result})
    except BaseException as exc:
        if os.getpid() != here:
            # A child the customer forked unwound into us: it has no answer to give.
            os._exit(1)
        answer = _encode({"ok": False, "error": _describe(exc)})
    if os.getpid() != here:
        os._exit(0)
    _write_all(answer_fd, answer)
    os.close(answer_fd)
    sys.stderr.flush()
    # Threads or atexit hooks the customer left behind must not hold the chunk open.
    os._exit(0)


def _load(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("__bundle__", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["__bundle__"] = module
    spec.loader.exec_module(module)
    return module


def _call(module: Any, items: Any) -> Any:
    process = getattr(module, "process", None)
    if not callable(process):
        raise TypeError("the bundle defines no process(items) function")
    result = process(items)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _encode(answer: dict[str, Any]) -> bytes:
    try:
        return json.dumps(answer, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        error = {"kind": "bad_result", "type": type(exc).__name__, "message": str(exc)[:MAX_TEXT]}
        return json.dumps({"ok": False, "error": error}).encode()


def _describe(exc: BaseException) -> dict[str, Any]:
    return {
        "kind": _kind(exc),
        "type": type(exc).__name__,
        "message": str(exc)[:MAX_TEXT],
        "traceback": "".join(traceback.format_exception(exc))[-MAX_TEXT:],
    }


def _kind(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, OSError) and exc.errno in (errno.EFBIG, errno.ENOSPC, errno.EDQUOT):
        return "file_size"
    return "code"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


if __name__ == "__main__":
    main()
