"""Which table answers: the rollup with the dimensions a question needs, the whole periods of it inside the
range (the `Plan`), and the raw hours around them with the UserSessions index to read them through."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from sqlalchemy import Table, select

from clusterdash.db.periods import HOUR, ceil_hour, epoch_bounds, hour_of, period_starts
from clusterdash.db.query.scope import LABELS, SEEK_IDS, Reader, Scope, where
from clusterdash.db.query.sql import local_days, total
from clusterdash.db.rollups import GRAINS
from clusterdash.db.schema import (
    rollup_machine_sizes,
    rollup_machine_usage,
    rollup_sizes,
    rollup_usage,
    rollup_user_sizes,
    rollup_user_usage,
    user_sessions,
)

# Raw pieces longer than this, for a few users or machines, are read through the user/machine index.
LONG_RAW = 14 * 24 * HOUR
COLUMN = {"user": "user_id", "machine": "machine_id", "direction": "direction"}

# -- which table ----------------------------------------------------------------------------------------------


def sides(scope: Scope, by: tuple[str, ...]) -> tuple[bool, bool]:
    """(users involved, named machines involved): a machine type only, filter or group, is on the user side
    too, since the per-user rollups are kept per machine type."""
    with_users = scope.user_ids is not None or "user" in by or "role" in by
    named_machines = scope.machine_ids is not None and scope.types is None or "machine" in by
    with_machines = named_machines or scope.machine_ids is not None or "machine_type" in by
    return with_users, named_machines if with_users else with_machines


def usage_table(scope: Scope, by: tuple[str, ...]) -> Table:
    """The usage rollup with the dimensions these filters and groups need: per user (and machine type), per
    machine (the smallest, also when neither is needed) or per user x machine."""
    with_users, with_machines = sides(scope, by)
    if with_users and with_machines:
        return rollup_usage
    return rollup_user_usage if with_users else rollup_machine_usage


def size_table(scope: Scope, by: tuple[str, ...]) -> Table | None:
    """The size rollup with the dimensions these filters and groups need, or None (then raw rows)."""
    with_users, with_machines = sides(scope, by)
    if with_users and with_machines:
        return None
    return rollup_user_sizes if with_users else rollup_machine_sizes if with_machines else rollup_sizes


def grains_of(table: Table | None, wanted: Iterable[str] | None = None) -> tuple[str, ...]:
    """The grains `table` keeps (largest first), limited to `wanted` when given; none for no table."""
    usable = GRAINS[table.name] if table is not None else ()
    return usable if wanted is None else tuple(g for g in usable if g in tuple(wanted))


def grouping(table: Table, by: tuple[str, ...]) -> tuple[list, Any]:
    """GROUP BY columns for `by` over `table` (a rollup or UserSessions), and the FROM clause: a role or machine
    type is the user's or machine's current one, joined from Users or Machines."""
    columns: list = []
    source: Any = table
    for b in by:
        if b in table.c:  # a rollup kept per machine type
            columns.append(table.c[b])
        elif b in LABELS:
            other, key, name = LABELS[b]
            source = source.join(other, other.c.id == table.c[key])
            columns.append(other.c[name])
        else:
            columns.append(table.c[COLUMN[b]])
    return columns, source


# -- which periods --------------------------------------------------------------------------------------------


class Plan(NamedTuple):
    """What to read: per grain the period starts of the rollup rows, and the hour ranges of raw rows."""

    periods: dict[str, list[int]]
    raw: list[tuple[int, int]]


def pieces(scope: Scope, grains: Iterable[str]) -> list[tuple[str | None, int, int]]:
    """[first_hour, end_hour) cut into whole periods of `grains` (largest first) and leftover hours.

    Returns (grain, first period start, end period start) for rollup rows, and (None, first hour, end hour)
    for hours to read from the raw tables. A period [P, Q) holds the hours from ceil_hour(P) to ceil_hour(Q).
    Without complete rollups every hour is raw.
    """
    zone = scope.zone
    if zone is None:
        return [(None, scope.first_hour, scope.end_hour)] if scope.first_hour < scope.end_hour else []

    def cut(lo: int, hi: int, grains: tuple[str, ...]) -> list:
        if lo >= hi:
            return []
        if not grains:
            return [(None, lo, hi)]
        starts = period_starts(grains[0], lo, hi, zone)
        bounds = [ceil_hour(s) for s in starts]
        inside = [i for i in range(len(starts) - 1) if bounds[i] >= lo and bounds[i + 1] <= hi]
        if not inside:
            return cut(lo, hi, grains[1:])
        i, j = inside[0], inside[-1] + 1
        return cut(lo, bounds[i], grains[1:]) + [(grains[0], starts[i], starts[j])] + cut(bounds[j], hi, grains[1:])

    return cut(scope.first_hour, scope.end_hour, tuple(grains))


def plan(scope: Scope, grains: tuple[str, ...], bounds: list[int] | None = None) -> Plan:
    """The periods and raw hours of the scope. With `bounds` (a series' bucket boundaries in hours) every period
    lies inside one bucket: in the rollup zone whole buckets are periods (when `grains` nest in the buckets); in
    another zone each bucket is cut on its own."""
    if bounds is None or not grains or scope.zone is None or scope.zone == scope.filters.tz:
        cuts = pieces(scope, grains)
    else:
        cuts = []
        for lo, hi in zip(bounds, bounds[1:]):
            cuts += pieces(scope.narrowed(first_hour=lo, end_hour=hi), grains)
    periods: dict[str, list[int]] = {}
    raw: list[tuple[int, int]] = []
    for grain, lo, hi in cuts:
        if grain is None:
            if raw and raw[-1][1] == lo:
                raw[-1] = (raw[-1][0], hi)
            else:
                raw.append((lo, hi))
        else:
            assert scope.zone is not None  # (pieces cut periods only with complete rollups)
            periods.setdefault(grain, []).extend(period_starts(grain, lo, hi, scope.zone)[:-1])
    return Plan(periods, raw)


# -- raw rows -------------------------------------------------------------------------------------------------


class RawSessions(NamedTuple):
    """UserSessions of some raw hours: the index to read them through and the WHERE clauses."""

    index_name: str
    clauses: list


def raw_sessions(reader: Reader, scope: Scope, lo: int, hi: int) -> RawSessions:
    """UserSessions for the raw hours [lo, hi): the index to read them through (a hint for SQLite, whose planner
    has no statistics here) and the WHERE clauses for the range and the user/machine/direction filters.

    Over a long range with a user or machine filter, the monthly rollup tells how many sessions each index
    would visit (with complete rollups; else a few named users or machines take their index)."""
    s = user_sessions
    index = "ix_sessions_epoch"
    if hi - lo > LONG_RAW and (scope.user_ids is not None or scope.machine_ids is not None):
        if scope.zone is not None:
            estimate = session_estimate(reader, scope, lo, hi)
            index = min(estimate, key=lambda name: estimate[name])
        elif scope.user_ids is not None and len(scope.user_ids) <= 5:
            index = "ix_sessions_user_epoch"
        elif scope.machine_ids is not None and len(scope.machine_ids) <= 3:
            index = "ix_sessions_machine_epoch"
    first, end = epoch_bounds(lo, hi)
    key = {"ix_sessions_user_epoch": ("user",), "ix_sessions_machine_epoch": ("machine",)}.get(index, ())
    clauses = [s.c.epoch >= first, s.c.epoch < end, *where(scope, s.c.user_id, s.c.machine_id, s.c.direction, key)]
    return RawSessions(index, clauses)


def session_estimate(reader: Reader, scope: Scope, lo: int, hi: int) -> dict[str, int]:
    """Sessions each UserSessions index would visit for [lo, hi), from the usage rollups' months around it."""
    zone = scope.zone
    assert zone is not None

    def count() -> dict[str, int]:
        starts = period_starts("m", lo, hi, zone)[:-1]
        found = {}
        for name, table, column, ids in (
            ("ix_sessions_epoch", rollup_machine_usage, None, None),
            ("ix_sessions_user_epoch", rollup_user_usage, "user_id", scope.user_ids),
            ("ix_sessions_machine_epoch", rollup_machine_usage, "machine_id", scope.machine_ids),
        ):
            t = table.c
            if column is not None and (ids is None or len(ids) > SEEK_IDS):
                continue  # the index is only used through a seekable list
            clauses = [t.grain == "m", t.start.in_(starts)] + ([t[column].in_(ids)] if column and ids else [])
            found[name] = int(reader.conn.execute(select(total(t.sessions)).where(*clauses)).scalar() or 0)
        return found

    # What it depends on: the ids, the zone of the months and the hours.
    return reader.remember(("session estimate", scope.user_ids, scope.machine_ids, zone, lo, hi), count)


def raw_time(scope: Scope, lo: int, hi: int, per_day: bool) -> tuple[Any, Callable[[int], int]]:
    """How raw rows of the hours [lo, hi) are grouped in time for a series: per block (epoch, returned as its
    hour), or per local day of the display zone (sql.local_days), returned as the day's local midnight. Per
    day, a year of raw rows comes back as ~365 groups instead of ~9,000."""
    if not per_day:
        return user_sessions.c.epoch, hour_of
    return local_days(lo, hi, scope.filters.tz)
