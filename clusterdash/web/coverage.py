"""How much of the time shown has data, for display: a time chart's buckets (which are partial, which are gaps)
and gaps that recur at the same hour every day. Pure: the query layer's answers in, plain values out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from clusterdash.db.periods import DAY, HOUR, period_start, period_starts, utc_offsets

UNIT_GRAINS = {"day": "d", "week": "w", "month": "m"}  # a bucket unit's calendar period (db.periods)
# A bucket with data for less than this share of its period is marked in the chart (lighter): a day with a
# two-hour gap (22 of 24 hours) reads true enough, the last 37 hours of a week would read as a collapse.
SHORT_SHARE = 0.9
PATTERN_MIN_DAYS = 3  # a gap at the same hour on fewer days than this is chance, not a pattern
PATTERN_SHARE = 0.5  # ... and on at least this share of the days the range holds that hour
PATTERN_LONGEST_GAP = 12  # hours; longer gaps are outages, which would make every hour look like a pattern


@dataclass(frozen=True)
class Buckets:
    """A time chart's buckets in order: start and end (UTC epochs, hour-aligned), how many of its hours have a
    block, and how many hours its whole calendar period has (more than end - start when the range cuts it)."""

    unit: str  # hour | day | week | month
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    hours_with_data: tuple[int, ...]
    period_hours: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.starts)

    def is_gap(self, i: int) -> bool:
        return self.hours_with_data[i] == 0

    def is_partial(self, i: int) -> bool:
        """Data for only some of the bucket's period: cut by the range, or with hours missing."""
        return 0 < self.hours_with_data[i] < self.period_hours[i]

    def is_short(self, i: int) -> bool:
        """Partial enough that its bar would read as a dip: less than SHORT_SHARE of its period has data."""
        return 0 < self.hours_with_data[i] < SHORT_SHARE * self.period_hours[i]


def buckets(query_buckets: Sequence[dict[str, Any]], unit: str, tz: str) -> Buckets:
    """From the query layer's bucket list (epoch, hours, hours_with_data, as time_series and size_series give it).
    Only the first and the last bucket can be cut by the range; their whole period comes from the calendar."""
    starts = tuple(b["epoch"] for b in query_buckets)
    hours = [b["hours"] for b in query_buckets]
    period = list(hours)
    grain = UNIT_GRAINS.get(unit)
    if grain and starts:
        for i in {0, len(starts) - 1}:
            first = period_start(grain, starts[i], tz)
            period[i] = max(hours[i], (period_starts(grain, first, first + 1, tz)[-1] - first) // HOUR)
    return Buckets(
        unit=unit,
        starts=starts,
        ends=tuple(s + h * HOUR for s, h in zip(starts, hours)),
        hours_with_data=tuple(b["hours_with_data"] for b in query_buckets),
        period_hours=tuple(period),
    )


@dataclass(frozen=True)
class RecurringGap:
    """Hours of the day (local, `first_hour` .. `first_hour + hours`) without data on `days_missing` of the
    `days` days the range holds them."""

    first_hour: int
    hours: int
    days_missing: int
    days: int


def recurring_gaps(gaps: Sequence[dict[str, Any]], start: int, end: int, tz: str) -> list[RecurringGap]:
    """Gaps that recur at the same local hour of the day: from data_health's gap list (start_epoch, end_epoch of
    each run of hours without a block) in the range [start, end). Hours missing on at least PATTERN_MIN_DAYS days
    and PATTERN_SHARE of the range's days make a pattern; adjacent such hours make one."""
    short = [g for g in gaps if g["end_epoch"] - g["start_epoch"] <= PATTERN_LONGEST_GAP * HOUR]
    if not short or end <= start:
        return []
    missing = np.concatenate([np.arange(g["start_epoch"], g["end_epoch"], HOUR) for g in short])
    every = np.arange(start - start % HOUR, end, HOUR)
    segments = utc_offsets(int(every[0]), int(end), tz)
    bounds = np.array([s for s, _ in segments])
    offsets = np.array([o for _, o in segments])

    def local(hours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shifted = hours + offsets[np.clip(np.searchsorted(bounds, hours, side="right") - 1, 0, None)]
        return shifted // DAY, (shifted % DAY) // HOUR

    days, hour = local(missing)
    missing_days = np.zeros(24, dtype=int)
    for h in range(24):
        missing_days[h] = len(np.unique(days[hour == h]))
    held = np.bincount(local(every)[1], minlength=24)
    recurring = (missing_days >= PATTERN_MIN_DAYS) & (missing_days >= PATTERN_SHARE * held)
    found: list[RecurringGap] = []
    for h in range(24):
        if not recurring[h]:
            continue
        if found and found[-1].first_hour + found[-1].hours == h:
            last = found[-1]
            days_missing, days = min(last.days_missing, int(missing_days[h])), max(last.days, int(held[h]))
            found[-1] = RecurringGap(last.first_hour, last.hours + 1, days_missing, days)
        else:
            found.append(RecurringGap(h, 1, int(missing_days[h]), int(held[h])))
    return found
