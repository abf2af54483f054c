"""Path, query and header parameters with their formats, stated once.

FastAPI checks each against the same declaration it writes into the OpenAPI
document, so what the document says a value must look like is what the server
accepts; ``api.input`` adds the rules every value shares (no NUL, no lone
surrogate).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated

from fastapi import Header, Path, Query
from pydantic import StringConstraints

from conveyor.api.cursors import CURSOR_PATTERN
from conveyor.api.schemas.common import ID_PATTERN
from conveyor.domain.jobs import JobStatus
from conveyor.domain.states import TaskStatus
from conveyor.domain.validation import INT64_MAX


def digits_at_most(limit: int) -> str:
    """A regex for the decimal strings (leading zeros allowed, as many digits as
    ``limit`` has at most) whose value is at most ``limit``."""
    top = str(limit)
    width = len(top)
    choices = [f"[0-9]{{0,{width - 1}}}"]
    for i, digit in enumerate(top):
        if digit != "0":
            rest = width - i - 1
            smaller = "0" if digit == "1" else f"[0-{int(digit) - 1}]"
            choices.append(f"{top[:i]}{smaller}" + (f"[0-9]{{{rest}}}" if rest else ""))
    choices.append(top)
    return "|".join(choices)


def _status_list(statuses: Iterable[StrEnum]) -> str:
    one = "|".join(s.value for s in statuses)
    return f"^(?:{one})(?:,(?:{one}))*$"


Id = Annotated[str, Path(pattern=ID_PATTERN, description="an id: 1-64 of A-Z a-z 0-9 _ . : -")]
StatusList = Annotated[
    list[Annotated[str, StringConstraints(pattern=_status_list(TaskStatus))]],
    Query(description="statuses, repeated or comma-separated: " + ", ".join(TaskStatus)),
]
JobStatusList = Annotated[
    list[Annotated[str, StringConstraints(pattern=_status_list(JobStatus))]],
    Query(description="job statuses, repeated or comma-separated: " + ", ".join(JobStatus)),
]
Cursor = Annotated[
    str,
    Query(
        pattern=CURSOR_PATTERN,
        description="``next_cursor`` of the previous page, as it came; empty for the first",
    ),
]
# Optional text parameters default to "" rather than None: OpenAPI's ``anyOf`` with
# ``null`` reads, in a header or query string, as the text "null".
LabelQuery = Annotated[
    str,
    Query(max_length=200, pattern=r"^[^=\u0000]+=[^\u0000]*$", description="key=value"),
]
# Visible ASCII, spaces inside only: HTTP strips a header value's outer whitespace.
IdempotencyKey = Annotated[
    str,
    Header(alias="Idempotency-Key", pattern=r"^[!-~](?:[ -~]{0,198}[!-~])?$"),
]
LastEventId = Annotated[
    str,
    Header(
        alias="Last-Event-ID",
        pattern=f"^(?:{digits_at_most(INT64_MAX)})$",
        description=f"a progress seq, 0 to {INT64_MAX}; empty means none",
    ),
]
# A job stream's event id: the ``<microseconds>.<task id>`` of a chunk change, the
# list cursor's form (bounded length, every match a position).
JOB_EVENT_ID_MAX = 82
JobEventId = Annotated[
    str,
    Header(
        alias="Last-Event-ID",
        max_length=JOB_EVENT_ID_MAX,
        pattern=CURSOR_PATTERN,
        description="an id this job's stream sent; empty means none",
    ),
]
JobEventAfter = Annotated[
    str,
    Query(
        max_length=JOB_EVENT_ID_MAX,
        pattern=CURSOR_PATTERN,
        description="an id this job's stream sent, as ``Last-Event-ID``; empty means none",
    ),
]
