"""Report progress from customer code: ``import conveyor_sandbox``.

    def process(items):
        for i, item in enumerate(items):
            ...
            conveyor_sandbox.progress(100 * (i + 1) // len(items), f"{i + 1} done")

Each call writes one line ``CONVEYOR_PROGRESS {json}`` to stderr (the protocol,
docs/sandbox.md); the worker relays it as the chunk's progress.
"""

from __future__ import annotations

import json
import os
from typing import Any

PREFIX = "CONVEYOR_PROGRESS "


def progress(percent: float | None = None, message: str | None = None, **data: Any) -> None:
    if percent is not None:
        data["percent"] = percent
    if message is not None:
        data["message"] = message
    line = PREFIX + json.dumps(data, separators=(",", ":")) + "\n"
    # One write per line, straight to fd 2: lines never interleave with buffered output.
    os.write(2, line.encode())
