"""The time buckets of a series: which bucket for a range, their bounds in the display zone, the rollup grains
that nest in them, and which bucket a row's time falls in."""

from __future__ import annotations

from bisect import bisect_right

import numpy as np

from clusterdash.db.periods import DAY, HOUR, ceil_hour, period_starts
from clusterdash.db.query.scope import Scope
from clusterdash.errors import BadParameter

BUCKETS = ("hour", "day", "week", "month")
# Points (buckets x groups) one series or heatmap answer may hold: an hourly year grouped by the top 10 and other
# is 96,360; a JSON point is about 110 bytes, so an answer stays near 11 MB at most.
MAX_POINTS = 100_000
HOURLY_UP_TO_HOURS = 8 * 24  # hourly points up to a week (and a bit): the daily rhythm stays visible
_SHORTEST = {"hour": HOUR, "day": DAY - HOUR, "week": 7 * DAY - HOUR, "month": 28 * DAY - HOUR}  # (DST days)
_GRAIN = {"day": "d", "week": "w", "month": "m"}


def check_bucket(bucket: str | None) -> None:
    if bucket is not None and bucket not in BUCKETS:
        raise BadParameter("bucket", f"must be one of {', '.join(BUCKETS)}")


def choose_bucket(first_hour: int, end_hour: int) -> str:
    """At most about 200 points: hours up to 8 days (the daily rhythm stays visible), days up to 120 days, weeks
    up to 2 years, then months. The dashboard's time chart and the API's series choose by this one rule."""
    hours = (end_hour - first_hour) // HOUR
    if hours <= HOURLY_UP_TO_HOURS:
        return "hour"
    if hours <= 120 * 24:
        return "day"
    if hours <= 2 * 366 * 24:
        return "week"
    return "month"


def bucket_bounds(bucket: str, scope: Scope) -> list[int]:
    """Hour boundaries of the series buckets covering [first_hour, end_hour) in the display zone."""
    lo, hi = scope.first_hour, scope.end_hour
    check_points(bucket, lo, hi)
    if bucket == "hour":
        return list(range(lo, hi + HOUR, HOUR))
    bounds = [ceil_hour(s) for s in period_starts(_GRAIN[bucket], lo, hi, scope.filters.tz)]
    bounds = sorted({max(lo, min(hi, b)) for b in bounds})
    return bounds if len(bounds) > 1 else [lo, hi]


def check_points(bucket: str, first_hour: int, end_hour: int, groups: int = 1, name: str = "bucket") -> None:
    """BadParameter naming `name` when `groups` series of `bucket`s over [first_hour, end_hour) could hold more than
    MAX_POINTS points (checked before anything is read, on the most buckets the range can hold)."""
    most = (end_hour - first_hour) // _SHORTEST[bucket] + 2
    if most * groups > MAX_POINTS:
        raise BadParameter(
            name,
            f"an answer holds at most {MAX_POINTS:,} points (buckets x groups); {bucket} buckets over this range"
            + (f" for {groups:,} groups" if groups > 1 else "")
            + " would be more: narrow start/end, use a longer bucket"
            + (" or a smaller top" if groups > 1 else ""),
        )


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
