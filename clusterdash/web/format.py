"""Numbers, sizes, durations and times as people read them. The one place the dashboard formats values.

Bytes are binary units (KiB = 1024, as in the log's bucket labels). Byte figures
in the dashboard are estimates: count x bucket midpoint (see the log format spec),
and every label that shows one says so through `metric_title`.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
COUNT_UNITS = ("", "k", "M", "G", "T")
BYTES_ESTIMATE = "estimated bytes (count × bucket midpoint)"


def count(value: float | int | None) -> str:
    """12 -> '12', 12_345 -> '12.3 k', 4_560_000 -> '4.56 M'."""
    if value is None:
        return "–"
    value = float(value)
    for unit in COUNT_UNITS:
        if abs(value) < 1000 or unit == COUNT_UNITS[-1]:
            return f"{value:,.0f}" if unit == "" else f"{value:.3g} {unit}"
        value /= 1000
    return f"{value:.3g}"


def size(value: float | int | None) -> str:
    """Bytes in binary units: 1536 -> '1.5 KiB'."""
    if value is None:
        return "–"
    value = float(value)
    for unit in BYTE_UNITS:
        if abs(value) < 1024 or unit == BYTE_UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1024
    return f"{value:.3g}"


def metric_value(value: float | int | None, metric: str) -> str:
    return size(value) if metric == "bytes" else count(value)


def metric_title(metric: str) -> str:
    return BYTES_ESTIMATE if metric == "bytes" else "operations"


def byte_scale(largest: float) -> tuple[float, str]:
    """(divisor, unit) so that the largest value reads as 1..1023 of a binary unit: axes then show plain numbers."""
    divisor, unit = 1.0, BYTE_UNITS[0]
    for next_unit in BYTE_UNITS[1:]:
        if largest < divisor * 1024:
            break
        divisor, unit = divisor * 1024, next_unit
    return divisor, unit


def percent(part: float, whole: float) -> str:
    if not whole:
        return "–"
    share = 100.0 * part / whole
    return f"{share:.1f} %" if share >= 0.1 or share == 0 else "< 0.1 %"


def age(seconds: float | None) -> str:
    """A duration the way a status line says it: '42 s', '17 min', '5 h', '3 d'."""
    if seconds is None:
        return "–"
    seconds = max(0, int(seconds))
    for limit, divisor, unit in ((120, 1, "s"), (7200, 60, "min"), (172800, 3600, "h")):
        if seconds < limit:
            return f"{seconds // divisor} {unit}"
    return f"{seconds // 86400} d"


def when(epoch: int | None, tz: str, with_zone: bool = True) -> str:
    if epoch is None:
        return "–"
    text = datetime.fromtimestamp(int(epoch), ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    return f"{text} {datetime.fromtimestamp(int(epoch), ZoneInfo(tz)).strftime('%Z')}" if with_zone else text
