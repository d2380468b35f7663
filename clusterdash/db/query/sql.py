"""SQL building blocks the sources share: a typed SUM, the local day of a raw row, the SQLite index hint."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import BigInteger, Float, Select, case, cast, func

from clusterdash.db.periods import DAY, hour_of, local_midnight, utc_offsets
from clusterdash.db.schema import user_sessions

_sums: dict[tuple[str, str], Any] = {}


def total(col: Any) -> Any:
    """SUM with the column's own type: PostgreSQL sums bigint as numeric, which Python sees as Decimal. Built
    once per table column (expressions are immutable; building them costs more than running some queries)."""
    key = (col.table.name, col.name) if getattr(col, "table", None) is not None else None
    found = _sums.get(key) if key is not None else None
    if found is None:
        found = cast(func.sum(col), Float if isinstance(col.type, Float) else BigInteger)
        if key is not None:
            _sums[key] = found
    return found


def through(query: Select, index: str) -> Select:
    """`query` reading UserSessions through `index` (a hint for SQLite, whose planner has no statistics here)."""
    return query.with_hint(user_sessions, f"INDEXED BY {index}", "sqlite")


def local_days(lo: int, hi: int, tz: str) -> tuple[Any, Callable[[int], int]]:
    """The local day (of `tz`) of the hour a raw row reports, for rows of the hours [lo, hi): a SQL expression
    numbering days from 1970-01-01 (each hour shifted by its UTC offset, DST-exact), and a function turning such
    a number into the day's local midnight (epoch)."""
    hour = hour_of(user_sessions.c.epoch)
    segments = utc_offsets(lo, hi, tz)
    shift = (
        case(
            *[(hour < start, previous) for (start, _), (_, previous) in zip(segments[1:], segments)],
            else_=segments[-1][1],
        )
        if len(segments) > 1
        else segments[0][1]
    )
    midnights: dict[int, int] = {}
    epoch_day = date(1970, 1, 1)

    def midnight(day: int) -> int:
        found = midnights.get(day)
        if found is None:
            found = midnights[day] = local_midnight(epoch_day + timedelta(days=int(day)), tz)
        return found

    return (hour + shift) // DAY, midnight
