"""Time ranges as questions give them: a time read from text (ISO-8601 or epoch seconds), a preset's window ending
with the newest stored hour, and a range held to the hours that have data. The vocabulary (db/vocabulary.py) reads
parameters with these; the dashboard's view (web/state.py) and Filters use them directly."""

from __future__ import annotations

import re
from datetime import date, datetime

from clusterdash.db.periods import DAY, HOUR, hour_of, zone
from clusterdash.errors import BadParameter

MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z: beyond it dates cannot be shown
PRESETS: dict[str, int | None] = {"24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "90d": 90 * DAY, "all": None}


_EPOCH = re.compile(r"^-?\d{1,15}$")


def parse_time(text: str, tz: str = "UTC", name: str = "start", clamp: bool = False) -> int:
    """Epoch seconds from ISO-8601 ('2025-03-12', '2025-03-12T14:00', '...Z', '...+01:00') or epoch digits.

    A date or time without an offset is read in the display zone `tz`: that is what a person typing it means.
    Outside 1970 to 9999 it is a BadParameter, or with `clamp` (a link being opened) the nearest of the two."""
    text = text.strip()
    if _EPOCH.match(text):
        value = int(text)
    else:
        try:
            if len(text) == 10:
                parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
            else:
                parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except (ValueError, OverflowError):
            raise BadParameter(
                name,
                f"cannot read {text[:40]!r} as a time (use ISO-8601 such as 2025-03-12T14:00:00Z, or epoch seconds)",
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone(tz))
        try:
            value = int(parsed.timestamp())
        except (OverflowError, ValueError, OSError):
            if not clamp:
                raise BadParameter(name, f"{text[:40]!r} is out of range") from None
            value = 0 if parsed.year < 1970 else MAX_EPOCH
    if clamp:
        return min(max(value, 0), MAX_EPOCH)
    if not 0 <= value <= MAX_EPOCH:
        raise BadParameter(name, f"{text[:40]!r} is out of range (1970 to 9999)")
    return value


def preset_window(preset: str, latest: int | None) -> tuple[int | None, int | None]:
    """The [start, end) of a range preset: the preset's span of whole hours ending with the hour the newest block
    (`latest`) reports; (None, None) for "all" or an empty database.

    Presets end at the latest stored hour, not at the wall clock: demo data lies in the past, and a stalled
    ingest shows as an old "last block" rather than as an empty answer."""
    span = PRESETS[preset]
    if span is None or latest is None:
        return None, None
    end = hour_of(latest) + HOUR
    return end - span, end


def clamp_window(start: int | None, end: int | None, extent: tuple[int, int] | None) -> tuple[int | None, int | None]:
    """A time range held to the hours that have data, `extent` = (first hour, end hour) of the stored blocks.

    A range overlapping the data becomes the overlap; one beside the data keeps its start and is at most as long
    as the data (it holds no data: only its empty buckets would grow with it). Open ends stay open (a question
    reads open ends as the data's extent)."""
    if extent is None:
        return start, end
    first, last = extent
    lo = first if start is None else start
    hi = last if end is None else end
    if lo < last and hi > first:
        return (None if start is None else max(start, first)), (None if end is None else min(end, last))
    return lo, min(hi, lo + max(last - first, HOUR))
