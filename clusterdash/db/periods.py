"""Time rules, each defined once: which hour a block reports, zones, and the calendar of a zone.

A block logged at 14:00:15 reports the hour 13:00-14:00 (the log says a block covers the hour that *ends* at its
time). `hour_of(epoch)` names that hour by its start, rounded to the nearest whole hour so that a tracer restarted
at 14:37 still lands on a sensible hour. It is plain arithmetic, so the same function serves a Python int, a numpy
array of epochs and a SQLAlchemy column expression.

A period is a day ('d'), an ISO week from Monday ('w'), a month ('m') or a year ('y') of an IANA zone; its start is
its first instant (local midnight) as epoch seconds.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TypeVar
from zoneinfo import ZoneInfo

from clusterdash.errors import BadParameter

HOUR = 3600
DAY = 86400
PERIODS = ("d", "w", "m", "y")  # day, ISO week (from Monday), month, year
MAX_ZONE_NAME = 64

T = TypeVar("T")


def hour_of(epoch: T) -> T:
    """The start of the hour a block logged at `epoch` reports (an int, a numpy array or a SQL expression)."""
    return (epoch - HOUR // 2) // HOUR * HOUR  # type: ignore[operator, return-value]


def floor_hour(epoch: int) -> int:
    return int(epoch) // HOUR * HOUR


def ceil_hour(epoch: int) -> int:
    return -(-int(epoch) // HOUR) * HOUR


def epoch_bounds(first_hour: int, end_hour: int) -> tuple[int, int]:
    """Block epochs whose hour lies in [first_hour, end_hour): hour_of is monotonic, so this is an epoch range."""
    return first_hour + HOUR // 2, end_hour + HOUR // 2


def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; BadParameter naming `tz` otherwise."""
    bad = BadParameter("tz", f"unknown time zone {str(name)[:70]!r} (use an IANA name such as UTC or Europe/Zurich)")
    if not isinstance(name, str) or not name or len(name) > MAX_ZONE_NAME or "\x00" in name:
        raise bad
    if name.startswith(("/", ".")) or ".." in name:
        raise bad
    try:
        return ZoneInfo(name)
    except Exception as exc:
        raise bad from exc


def local_midnight(day: date, zone_name: str) -> int:
    """The epoch of midnight starting `day` in the zone."""
    return int(datetime(day.year, day.month, day.day, tzinfo=zone(zone_name)).timestamp())


def _first_day(grain: str, day: date) -> date:
    if grain == "w":
        return day - timedelta(days=day.weekday())
    if grain == "m":
        return day.replace(day=1)
    if grain == "y":
        return day.replace(month=1, day=1)
    return day


def _next_day(grain: str, day: date) -> date:
    if grain == "w":
        return day + timedelta(days=7)
    if grain == "m":
        return date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    if grain == "y":
        return date(day.year + 1, 1, 1)
    return day + timedelta(days=1)


@lru_cache(maxsize=16384)
def period_start(grain: str, instant: int, zone_name: str) -> int:
    """The start (epoch) of the day/week/month/year of `zone_name` that contains `instant`."""
    day = datetime.fromtimestamp(instant, zone(zone_name)).date()
    return local_midnight(_first_day(grain, day), zone_name)


@lru_cache(maxsize=4096)
def _period_starts(grain: str, lo: int, hi: int, zone_name: str) -> tuple[int, ...]:
    day = _first_day(grain, datetime.fromtimestamp(lo, zone(zone_name)).date())
    starts = [local_midnight(day, zone_name)]
    while starts[-1] < hi:
        if grain == "y" and day.year >= 9999:
            break
        day = _next_day(grain, day)
        if day.year > 9999 or (day.year == 9999 and day.month == 12 and grain != "d"):
            break
        starts.append(local_midnight(day, zone_name))
    return tuple(starts)


def period_starts(grain: str, lo: int, hi: int, zone_name: str) -> list[int]:
    """Starts of the periods overlapping [lo, hi), in order, plus the start of the period after them."""
    return list(_period_starts(grain, lo, hi, zone_name))


def weeks_before(epoch: int, weeks: int, zone_name: str) -> int:
    """The same local wall-clock time and weekday `weeks` weeks before `epoch` in the zone (so the same local hours
    across a daylight-saving change; a local time that does not exist that day reads as the offset before it)."""
    tz = zone(zone_name)
    local = datetime.fromtimestamp(int(epoch), tz).replace(tzinfo=None) - timedelta(weeks=weeks)
    return int(local.replace(tzinfo=tz).timestamp())


def utc_offset(epoch: int, zone_name: str) -> int:
    """The zone's offset from UTC at `epoch`, in seconds."""
    offset = datetime.fromtimestamp(epoch, zone(zone_name)).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


def utc_offsets(lo: int, hi: int, zone_name: str) -> list[tuple[int, int]]:
    """[(from_epoch, utc offset seconds)] for [lo, hi) in the zone: one entry per stretch of constant offset."""
    segments = [(lo, utc_offset(lo, zone_name))]
    for start in period_starts("d", lo, hi, zone_name)[1:]:
        if start >= hi or utc_offset(start, zone_name) == segments[-1][1]:
            continue
        moment = start - 26 * HOUR  # the change happened during the day before: find its hour
        while utc_offset(moment, zone_name) == segments[-1][1]:
            moment += HOUR
        segments.append((max(lo, moment // HOUR * HOUR), utc_offset(moment, zone_name)))
    return segments
