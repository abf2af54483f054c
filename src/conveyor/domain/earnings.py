"""Earnings over time: a contiguous series of UTC hour or day buckets.

The store returns only the buckets something was earned in; a chart needs the
empty ones too, and the series must end with the bucket ``now`` falls in, so that
a rise shows up in the last bar as it happens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

Bucket = Literal["hour", "day"]
STEP: dict[Bucket, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
# One limit for both sizes, so the query schema states it (a year of days, about
# fifteen days of hours): a cap depending on ``bucket`` is a rule no schema can say.
MAX_BUCKETS = 366


@dataclass(frozen=True, slots=True)
class EarningBucket:
    start: datetime
    earned: int
    chunks: int


def bucket_start(moment: datetime, bucket: Bucket) -> datetime:
    moment = moment.astimezone(UTC)
    if bucket == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def series_start(now: datetime, bucket: Bucket, count: int) -> datetime:
    """The first bucket of a series of ``count`` that ends with ``now``'s."""
    return bucket_start(now, bucket) - STEP[bucket] * (count - 1)


def fill(
    found: Iterable[EarningBucket], now: datetime, bucket: Bucket, count: int
) -> list[EarningBucket]:
    by_start = {bucket_start(b.start, bucket): b for b in found}
    first = series_start(now, bucket, count)
    starts = [first + STEP[bucket] * i for i in range(count)]
    return [by_start.get(s, EarningBucket(s, 0, 0)) for s in starts]
