"""The patterns the OpenAPI document states admit exactly what the server accepts.

Schemathesis samples these; here hypothesis walks the edges: the decimal bound of
``Last-Event-ID``, the list cursor (every string its pattern admits must be a
position the store reads) and ``run_at``'s dates with any offset.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pydantic
from hypothesis import given
from hypothesis import strategies as st

from conveyor.api import cursors
from conveyor.api.params import digits_at_most
from conveyor.api.schemas.common import WHEN_PATTERN
from conveyor.api.schemas.tasks import TaskCreate
from conveyor.domain.validation import INT64_MAX
from conveyor.store.paging import decode_cursor

SEQ = re.compile(f"^(?:{digits_at_most(INT64_MAX)})$")
CURSOR = re.compile(cursors.CURSOR_PATTERN)
WHEN = re.compile(WHEN_PATTERN)


@given(st.text(alphabet="0123456789", max_size=25))
def test_seq_pattern_is_the_64_bit_bound(digits: str) -> None:
    fits = len(digits) <= 19 and (digits == "" or int(digits) <= INT64_MAX)
    assert bool(SEQ.match(digits)) == fits


@given(st.integers(min_value=0, max_value=10**21))
def test_seq_pattern_at_any_size(number: int) -> None:
    assert bool(SEQ.match(str(number))) == (number <= INT64_MAX)


@given(st.from_regex(cursors.CURSOR_PATTERN, fullmatch=True).filter(bool))
def test_every_cursor_the_pattern_admits_is_a_position(cursor: str) -> None:
    store_cursor = cursors.from_http(cursor)
    assert store_cursor is not None
    _, task_id = decode_cursor(store_cursor)
    assert cursor.endswith("." + task_id)
    assert cursors.to_http(store_cursor) == f"{int(cursor.split('.', 1)[0])}.{task_id}"


@given(
    st.integers(min_value=0, max_value=10**17 - 1),
    st.from_regex(r"^[A-Za-z0-9_.:-]{1,64}$", fullmatch=True),
)
def test_next_cursors_match_the_pattern(micros: int, task_id: str) -> None:
    store_cursor = cursors.from_http(f"{micros}.{task_id}")
    assert store_cursor is not None
    again = cursors.to_http(store_cursor)
    assert again == f"{micros}.{task_id}" and CURSOR.match(again)
    created = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    assert decode_cursor(store_cursor) == (created, task_id)


# Hypothesis takes naive bounds; the offset is drawn apart.
@given(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),  # noqa: DTZ001
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
)
def test_run_at_pattern_is_the_accepted_range(local: datetime, offset_minutes: int) -> None:
    when = local.replace(tzinfo=timezone(timedelta(minutes=offset_minutes))).isoformat()
    try:
        TaskCreate(task_type="t", run_at=when)  # type: ignore[arg-type]
        accepted = True
    except pydantic.ValidationError:
        accepted = False
    assert bool(WHEN.match(when)) == accepted, when
