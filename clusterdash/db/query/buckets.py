"""The time buckets of a series: which bucket for a range, their bounds in the display zone, the rollup grains
that nest in them, and which bucket a row's time falls in."""

from __future__ import annotations

from bisect import bisect_right

import numpy as np

from clusterdash.db.periods import HOUR, ceil_hour, period_starts
from clusterdash.db.query.scope import Scope
from clusterdash.errors import BadParameter

BUCKETS = ("hour", "day", "week", "month")
MAX_HOURS = 100_000  # hour buckets a series may hold
_GRAIN = {"day": "d", "week": "w", "month": "m"}


def check_bucket(bucket: str | None) -> None:
    if bucket is not None and bucket not in BUCKETS:
        raise BadParameter("bucket", f"must be one of {', '.join(BUCKETS)}")


def choose_bucket(first_hour: int, end_hour: int) -> str:
    """About 50 to 400 points: hours up to 3 days, days up to 120 days, weeks up to 2 years, then months."""
    hours = (end_hour - first_hour) // HOUR
    if hours <= 72:
        return "hour"
    if hours <= 120 * 24:
        return "day"
    if hours <= 2 * 366 * 24:
        return "week"
    return "month"


def bucket_bounds(bucket: str, scope: Scope) -> list[int]:
    """Hour boundaries of the series buckets covering [first_hour, end_hour) in the display zone."""
    lo, hi = scope.first_hour, scope.end_hour
    if bucket == "hour":
        if (hi - lo) // HOUR > MAX_HOURS:
            raise BadParameter("bucket", "hour buckets cover at most 100,000 hours; narrow start/end or use day")
        return list(range(lo, hi + HOUR, HOUR))
    bounds = [ceil_hour(s) for s in period_starts(_GRAIN[bucket], lo, hi, scope.filters.tz)]
    bounds = sorted({max(lo, min(hi, b)) for b in bounds})
    return bounds if len(bounds) > 1 else [lo, hi]


def series_grains(bucket: str, scope: Scope) -> tuple[str, ...]:
    """Rollup grains whose periods nest in the series' buckets: in the rollup zone, the bucket's own grain and
    days; in another zone any grain (each bucket is then cut on its own, see sources.plan)."""
    if bucket == "hour":
        return ()
    if scope.zone == scope.filters.tz:
        return {"day": ("d",), "week": ("w", "d"), "month": ("m", "d")}[bucket]
    return {"day": ("d",), "week": ("w", "d"), "month": ("m", "w", "d")}[bucket]


def bucket_of(bounds: list[int], when: int) -> int:
    """The series bucket of a row's time (a period start, an hour, or a raw day cut by the range's start: 0)."""
    return max(0, bisect_right(bounds, ceil_hour(when)) - 1)


def buckets_of(bounds: list[int], when: np.ndarray) -> np.ndarray:
    """bucket_of for an array of times."""
    hours = -(-when // HOUR) * HOUR
    return np.maximum(0, np.searchsorted(np.asarray(bounds, dtype=np.int64), hours, side="right") - 1)
