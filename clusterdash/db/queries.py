"""The only read SQL: a `Filters` value in, plain data (dicts and lists, times as epochs and ISO-8601 Z) out.

The CLI, the API and the dashboard all ask here. Each question is answered from the smallest table that has the
dimensions it needs (db/rollups.py lists them): a range of hours is cut into whole years, months, weeks and days of the
rollup zone, read from that table, and the hours left at its edges, read from the raw tables (`_pieces`).

  needs (filters or groups)                         reads
  users and named machines, no size bucket          RollupUsage (+ UserSessions for the edges)
  users (a machine type counts as a user filter)    RollupUserUsage; with sizes RollupUserSizes
  machines only, or neither                         RollupMachineUsage; with sizes RollupMachineSizes / RollupSizes
  size buckets, users and named machines            RollupUserSizes / RollupMachineSizes when the usage rollups'
                                                    session counts show that one filter removes no session beyond
                                                    the other (_pair_plan); else whole months from RollupPairSizes,
                                                    the other hours by subtraction (_pair_plan) or from raw rows;
                                                    "who used these sizes" from the bucket bits of the usage rollups

A size filter on a size rollup is read (on SQLite) through the usage rollup with the same keys: only the keys whose
bucket bits include a filtered bucket are looked up (_size_rollup).

Without complete rollups (never built, being rebuilt) every hour is read from the raw tables: correct, slower.
A series drawn in a zone other than the rollup zone reads the rollup periods that lie inside each of its
buckets and the raw hours around their boundaries.

Public functions (all take an open Connection first):
  database_stats(conn)                                  what `clusterdash stats --json` prints
  latest_block_epoch(conn)                              the newest block's epoch, or None
  stats(conn, filters)                                  database_stats keys for the filters + freshness + gaps
  users_table(conn, filters, sort, order, limit)        one dict per user active in the range
  machines_table(conn, filters, sort, order, limit)     one dict per machine active in the range
  user_profile(conn, username, filters)                 dict, or None for an unknown user
  machine_profile(conn, name, filters)                  dict, or None for an unknown machine
  time_series(conn, filters, bucket, group_by, top)     buckets with coverage, points per group
  size_distribution(conn, filters)                      operations and bytes per size bucket
  choose_bucket(first_hour, end_hour)                   the series bucket used when none is asked for
  and, for the dashboard: data_version, data_health, user_machine_usage, size_series
"""

from __future__ import annotations

import time
import weakref
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, Connection, Engine, Float, String, and_, case, cast, func, select

from clusterdash.db import sizes
from clusterdash.db.filters import Filters
from clusterdash.db.periods import (
    HOUR,
    ceil_hour,
    epoch_bounds,
    hour_of,
    local_midnight,
    period_starts,
    utc_offsets,
)
from clusterdash.db.rollups import GRAINS, bucket_mask, rollup_zone
from clusterdash.db.schema import (
    io_operations,
    io_size_ranges,
    log_entries,
    machines,
    rejected_lines,
    rollup_machine_sizes,
    rollup_machine_usage,
    rollup_pair_sizes,
    rollup_sizes,
    rollup_usage,
    rollup_user_sizes,
    rollup_user_usage,
    user_sessions,
    users,
)
from clusterdash.db.timefmt import iso_utc

BUCKETS = ("hour", "day", "week", "month")
GROUP_BYS = ("none", "user", "machine", "machine_type", "role")
USER_SORTS = ("operations", "bytes", "sessions", "name", "first_seen", "last_seen")
BYTES_ESTIMATE = "midpoint"  # operations x the bucket's midpoint; bytes_low / bytes_high bound it
_GRAIN = {"day": "d", "week": "w", "month": "m"}
# usage measures, in this order everywhere below
_MEASURES = (
    "sessions",
    "rows",
    "operations",
    "small_operations",
    "bytes_low",
    "bytes_mid",
    "bytes_high",
    "unbounded_rows",
)
_SERIES = ("operations", "bytes_mid")
# Raw pieces longer than this, for a few users or machines, are read through the user/machine index.
_LONG_RAW = 14 * 24 * HOUR


# -- what the database holds -----------------------------------------------------------------------------------


GAPS_SHOWN = 3  # the largest and the latest gaps listed by database_stats


def database_stats(conn: Connection, now: float | None = None) -> dict[str, Any]:
    """What the database holds, in the shape of `clusterdash stats --json` (and of /api/stats without filters): with
    its gaps (runs of hours without a block between the first and the last) and its freshness (the newest block,
    and its age in seconds at `now`)."""
    blocks, first, last, lost_hours = conn.execute(
        select(
            func.count(),
            func.min(log_entries.c.epoch),
            func.max(log_entries.c.epoch),
            func.count().filter(log_entries.c.lost_events > 0),
        )
    ).one()
    by_direction = dict(
        conn.execute(
            select(user_sessions.c.direction, func.coalesce(func.sum(user_sessions.c.operations), 0)).group_by(
                user_sessions.c.direction
            )
        ).all()
    )
    operations = {"rd": int(by_direction.get("rd", 0)), "wr": int(by_direction.get("wr", 0))}
    operations["total"] = operations["rd"] + operations["wr"]
    return {
        "blocks": blocks,
        "entries": conn.execute(select(func.count()).select_from(user_sessions)).scalar_one(),
        "rows": conn.execute(select(func.count()).select_from(io_operations)).scalar_one(),
        "users": conn.execute(select(func.count()).select_from(users)).scalar_one(),
        "machines": conn.execute(select(func.count()).select_from(machines)).scalar_one(),
        "operations": operations,
        "rejected_lines": conn.execute(select(func.count()).select_from(rejected_lines)).scalar_one(),
        "hours_with_lost_events": lost_hours,
        "first": iso_utc(first),
        "last": iso_utc(last),
        "gaps": _gaps(conn, hour_of(first), hour_of(last) + HOUR) if first is not None else [],
        "freshness": _freshness(last, now),
    }


def gap_summary(gaps: list[dict[str, Any]]) -> dict[str, Any]:
    """How many gaps (as database_stats and stats list them), how many hours they miss, the GAPS_SHOWN largest
    (the latest first among equals) and the GAPS_SHOWN latest."""
    largest = sorted(gaps, key=lambda g: (-g["hours"], -g["start_epoch"]))[:GAPS_SHOWN]
    return {
        "count": len(gaps),
        "hours": sum(g["hours"] for g in gaps),
        "largest": largest,
        "latest": gaps[-GAPS_SHOWN:][::-1],
    }


def _freshness(latest: int | None, now: float | None) -> dict[str, Any]:
    """The newest block and its age in seconds at `now` (default: the current time)."""
    now = time.time() if now is None else now
    return {
        "last_block": iso_utc(latest),
        "last_block_epoch": latest,
        "age_seconds": None if latest is None else max(0, int(now) - int(latest)),
    }


def recent_rejected_lines(conn: Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The most recently stored rejected lines, newest first."""
    rows = conn.execute(
        select(rejected_lines.c.source, rejected_lines.c.line_number, rejected_lines.c.reason, rejected_lines.c.text)
        .order_by(rejected_lines.c.id.desc())
        .limit(limit)
    )
    return [r._asdict() for r in rows]


def latest_block_epoch(conn: Connection) -> int | None:
    return conn.execute(select(func.max(log_entries.c.epoch))).scalar()


def example_names(conn: Connection) -> tuple[str | None, str | None]:
    """A username and a machine name that exist (those seen last), for the API document's examples."""
    user = conn.execute(select(users.c.username).order_by(users.c.last_seen.desc(), users.c.username).limit(1)).scalar()
    machine = conn.execute(
        select(machines.c.name).order_by(machines.c.last_seen.desc(), machines.c.name).limit(1)
    ).scalar()
    return user, machine


# -- filters resolved against the database ---------------------------------------------------------------------


@dataclass
class Scope:
    """Filters resolved to ids and a concrete range of hours [first_hour, end_hour)."""

    filters: Filters
    first_hour: int
    end_hour: int
    user_ids: list[int] | None  # None: every user
    machine_ids: list[int] | None
    size_ids: list[int] | None
    zone: str | None  # of the rollups; None: no complete rollups, read the raw tables
    weights: dict[int, sizes.Weights]
    # The machine types machine_ids stand for, when they were chosen by type only (the per-user rollups are kept
    # per machine type); None when machine_ids is None or names machines.
    types: tuple[str, ...] | None = None
    # Raw user x machine x size sums already read for this request (shared by the scopes derived from it).
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def empty(self) -> bool:
        return self.first_hour >= self.end_hour or self.user_ids == [] or self.machine_ids == [] or self.size_ids == []


def resolve(conn: Connection, filters: Filters) -> Scope:
    """Names to ids (via the small Users/Machines/IOSizeRanges tables) and open range ends to the data's extent."""
    blocks = _blocks(conn)
    first, last = blocks.version[1:]
    lo, hi = filters.hour_range()
    if lo is None:
        lo = hour_of(first) if first is not None else 0
    if hi is None:
        hi = hour_of(last) + HOUR if last is not None else lo
    user_ids = machine_ids = size_ids = None
    if filters.filters_users:
        query = select(users.c.id)
        for col, wanted in (
            (users.c.username, filters.users),
            (users.c.role, filters.roles),
            (users.c.affiliation, filters.affiliations),
        ):
            if wanted:
                query = query.where(col.in_(wanted))
        user_ids = sorted(conn.execute(query).scalars())
    if filters.filters_machines:
        query = select(machines.c.id)
        for col, wanted in ((machines.c.name, filters.machines), (machines.c.machine_type, filters.machine_types)):
            if wanted:
                query = query.where(col.in_(wanted))
        machine_ids = sorted(conn.execute(query).scalars())
    if filters.sizes:
        size_ids = sorted(
            conn.execute(select(io_size_ranges.c.id).where(io_size_ranges.c.label.in_(filters.sizes))).scalars()
        )
    types = filters.machine_types if filters.machine_types and not filters.machines else None
    return Scope(
        filters,
        lo,
        max(lo, hi),
        user_ids,
        machine_ids,
        size_ids,
        rollup_zone(conn),
        sizes.stored_weights(conn),
        types=types,
    )


def _pieces(scope: Scope, grains: Iterable[str]) -> list[tuple[str | None, int, int]]:
    """[first_hour, end_hour) cut into whole periods of `grains` (largest first) and leftover hours.

    Returns (grain, first period start, end period start) for rollup rows, and (None, first hour, end hour)
    for hours to read from the raw tables. A period [P, Q) holds the hours from ceil_hour(P) to ceil_hour(Q).
    Without complete rollups every hour is raw.
    """
    grains = tuple(grains) if scope.zone is not None else ()

    def cut(lo: int, hi: int, grains: tuple[str, ...]) -> list:
        if lo >= hi:
            return []
        if not grains:
            return [(None, lo, hi)]
        starts = period_starts(grains[0], lo, hi, scope.zone)
        bounds = [ceil_hour(s) for s in starts]
        inside = [i for i in range(len(starts) - 1) if bounds[i] >= lo and bounds[i + 1] <= hi]
        if not inside:
            return cut(lo, hi, grains[1:])
        i, j = inside[0], inside[-1] + 1
        return cut(lo, bounds[i], grains[1:]) + [(grains[0], starts[i], starts[j])] + cut(bounds[j], hi, grains[1:])

    return cut(scope.first_hour, scope.end_hour, grains)


def _plan(
    scope: Scope, grains: tuple[str, ...], bounds: list[int] | None = None
) -> tuple[dict[str, list[int]], list[tuple[int, int]]]:
    """What to read: per grain the period starts, and the raw hour ranges. With `bounds` (a series' bucket
    boundaries in hours) every period lies inside one bucket: in the rollup zone whole buckets are periods
    (when `grains` nest in the buckets); in another zone each bucket is cut on its own."""
    if bounds is None or not grains or scope.zone is None or scope.zone == scope.filters.tz:
        cuts = _pieces(scope, grains)
    else:
        cuts = []
        for lo, hi in zip(bounds, bounds[1:]):
            cuts += _pieces(replace(scope, first_hour=lo, end_hour=hi), grains)
    periods: dict[str, list[int]] = {}
    raw: list[tuple[int, int]] = []
    for grain, lo, hi in cuts:
        if grain is None:
            if raw and raw[-1][1] == lo:
                raw[-1] = (raw[-1][0], hi)
            else:
                raw.append((lo, hi))
        else:
            periods.setdefault(grain, []).extend(period_starts(grain, lo, hi, scope.zone)[:-1])
    return periods, raw


_sums: dict = {}


def _sum(col):
    """SUM with the column's own type: PostgreSQL sums bigint as numeric, which Python sees as Decimal. Built
    once per table column (expressions are immutable; building them costs more than running some queries)."""
    key = (col.table.name, col.name) if getattr(col, "table", None) is not None else None
    found = _sums.get(key) if key is not None else None
    if found is None:
        found = cast(func.sum(col), Float if isinstance(col.type, Float) else BigInteger)
        if key is not None:
            _sums[key] = found
    return found


_SEEK_IDS = 96  # a longer IN list filters rows instead of multiplying index seeks (a period holds ~100 ids' rows)


def _where(scope: Scope, user_col, machine_col, direction_col, key: tuple = ()) -> list:
    """The user/machine/direction filters. `key`: the id columns in the order of the index used (after grain and
    start for a rollup); a short IN list on a leading one lets SQLite seek (periods x ids); a long one, or one
    behind an unconstrained column or outside the index, only filters (`col + 0` keeps SQLite from
    multiplying seeks or choosing another index)."""
    columns = {"user": (user_col, scope.user_ids), "machine": (machine_col, scope.machine_ids)}
    clauses = []
    seeks, leading = 1, True
    for name in key:
        col, ids = columns[name]
        if col is None:
            continue
        if ids is None:
            leading = False
            continue
        seek = leading and seeks * len(ids) <= _SEEK_IDS
        clauses.append(col.in_(ids) if seek else (col + 0).in_(ids))
        seeks, leading = seeks * len(ids), seek
    for name, (col, ids) in columns.items():
        if name not in key and col is not None and ids is not None:
            clauses.append((col + 0).in_(ids))
    if scope.filters.direction != "both":
        clauses.append(direction_col == scope.filters.direction)
    return clauses


def _raw_sessions(scope: Scope, lo: int, hi: int, conn: Connection | None = None):
    """UserSessions for the raw hours [lo, hi): the index to read them through (a hint for SQLite, whose planner
    has no statistics here) and the WHERE clauses for the range and the user/machine/direction filters.

    Over a long range with a user or machine filter, the monthly rollup tells how many sessions each index
    would visit (with `conn` and complete rollups; else a few named users or machines take their index)."""
    s = user_sessions
    index = "ix_sessions_epoch"
    if hi - lo > _LONG_RAW and (scope.user_ids is not None or scope.machine_ids is not None):
        estimate = _session_estimate(conn, scope, lo, hi) if conn is not None and scope.zone is not None else None
        if estimate is not None:
            index = min(estimate, key=estimate.get)
        elif scope.user_ids is not None and len(scope.user_ids) <= 5:
            index = "ix_sessions_user_epoch"
        elif scope.machine_ids is not None and len(scope.machine_ids) <= 3:
            index = "ix_sessions_machine_epoch"
    first, end = epoch_bounds(lo, hi)
    key = {"ix_sessions_user_epoch": ("user",), "ix_sessions_machine_epoch": ("machine",)}.get(index, ())
    clauses = [s.c.epoch >= first, s.c.epoch < end, *_where(scope, s.c.user_id, s.c.machine_id, s.c.direction, key)]
    return index, clauses


# -- the sources: usage (no size detail) and sizes --------------------------------------------------------------

_COLUMN = {"user": "user_id", "machine": "machine_id", "direction": "direction"}
_LABEL = {"role": (users, "user_id", "role"), "machine_type": (machines, "machine_id", "machine_type")}


def _grouping(table, by: tuple[str, ...]):
    """GROUP BY columns for `by` over `table` (a rollup or UserSessions), and the FROM clause: a role or machine
    type is the user's or machine's current one, joined from Users or Machines."""
    columns, source = [], table
    for b in by:
        if b in table.c:  # a rollup kept per machine type
            columns.append(table.c[b])
        elif b in _LABEL:
            other, key, name = _LABEL[b]
            source = source.join(other, other.c.id == table.c[key])
            columns.append(other.c[name])
        else:
            columns.append(table.c[_COLUMN[b]])
    return columns, source


def _session_estimate(conn: Connection, scope: Scope, lo: int, hi: int) -> dict[str, int]:
    """Sessions each UserSessions index would visit for [lo, hi), from the usage rollups' months around it."""
    key = ("estimate", scope.user_ids and tuple(scope.user_ids), scope.machine_ids and tuple(scope.machine_ids), lo, hi)
    found = scope.memo.get(key)
    if found is None:
        starts = period_starts("m", lo, hi, scope.zone)[:-1]
        found = {}
        for name, table, column, ids in (
            ("ix_sessions_epoch", rollup_machine_usage, None, None),
            ("ix_sessions_user_epoch", rollup_user_usage, "user_id", scope.user_ids),
            ("ix_sessions_machine_epoch", rollup_machine_usage, "machine_id", scope.machine_ids),
        ):
            t = table.c
            if column is not None and (ids is None or len(ids) > _SEEK_IDS):
                continue  # the index is only used through a seekable list
            clauses = [t.grain == "m", t.start.in_(starts)] + ([t[column].in_(ids)] if column else [])
            found[name] = int(conn.execute(select(_sum(t.sessions)).where(*clauses)).scalar() or 0)
        scope.memo[key] = found
    return found


def _raw_time(scope: Scope, lo: int, hi: int, per_day: bool):
    """How raw rows of the hours [lo, hi) are grouped in time for a series: per block (epoch, returned as its
    hour), or per local day of the display zone (SQL shifts each hour by its UTC offset; DST-exact), returned as
    the day's local midnight. Per day, a year of raw rows comes back as ~365 groups instead of ~9,000."""
    s = user_sessions.c
    if not per_day:
        return s.epoch, hour_of
    hour = hour_of(s.epoch)
    segments = utc_offsets(lo, hi, scope.filters.tz)
    shift = (
        case(
            *[(hour < start, previous) for (start, _), (_, previous) in zip(segments[1:], segments)],
            else_=segments[-1][1],
        )
        if len(segments) > 1
        else segments[0][1]
    )
    midnights: dict[int, int] = {}
    epoch_day, tz = date(1970, 1, 1), scope.filters.tz

    def midnight(day: int) -> int:
        found = midnights.get(day)
        if found is None:
            found = midnights[day] = local_midnight(epoch_day + timedelta(days=int(day)), tz)
        return found

    return (hour + shift) // 86400, midnight


def _usage(
    conn: Connection,
    scope: Scope,
    by: tuple[str, ...] = (),
    grains=("y", "m", "w", "d"),
    with_time: bool = False,
    rows: bool = False,
    measures: tuple[str, ...] = _MEASURES,
    bounds: list[int] | None = None,
    per_day: bool = False,
) -> list[tuple]:
    """Usage sums grouped by `by` (user, machine, direction) [and by period start / hour when with_time].

    Returns tuples: (time?, *group values, *measures). The time is the period start for rollup rows and the
    hour for raw rows (with per_day: the local midnight of its day, see _raw_time). `rows`: count raw histogram
    rows too (a subquery per session; the rollups carry it). `bounds`: the series' bucket boundaries (_plan).
    """
    if scope.empty:
        return []
    table = _usage_table(scope, by)
    periods, raw = _plan(scope, tuple(g for g in grains if g in GRAINS[table.name]), bounds)
    out = []
    t = table.c
    by_columns, source = _grouping(table, by)
    for grain, starts in periods.items():
        groups = ([t.start] if with_time else []) + by_columns
        query = (
            select(*groups, *[_sum(t[m]) for m in measures])
            .select_from(source)
            .where(t.grain == grain, t.start.in_(starts), *_rollup_where(scope, table))
        )
        if groups:
            query = query.group_by(*groups)
        out.extend(tuple(r) for r in conn.execute(query) if r[len(groups)] is not None)
    s = user_sessions.c
    raw_columns = {
        "sessions": func.count(),
        "operations": _sum(s.operations),
        "small_operations": _sum(s.small_operations),
        "bytes_low": _sum(s.bytes_low),
        "bytes_mid": _sum(s.bytes_mid),
        "bytes_high": _sum(s.bytes_high),
        "unbounded_rows": func.count() - func.count(s.bytes_high),
    }
    by_columns, source = _grouping(user_sessions, by)
    for lo, hi in raw:
        index, clauses = _raw_sessions(scope, lo, hi, conn)
        when, convert = _raw_time(scope, lo, hi, per_day)
        groups = ([when] if with_time else []) + by_columns
        if "rows" in measures:
            count = (
                select(func.count())
                .select_from(io_operations)
                .where(io_operations.c.session_id == s.id)
                .scalar_subquery()
            )
            raw_columns["rows"] = _sum(count) if rows else func.count() * 0
        query = (
            select(*groups, *[raw_columns[m] for m in measures])
            .select_from(source)
            .where(*clauses)
            .with_hint(user_sessions, f"INDEXED BY {index}", "sqlite")
        )
        if groups:
            query = query.group_by(*groups)
        for r in conn.execute(query):
            if not groups and not r[0]:
                continue
            r = tuple(r)
            out.append((convert(r[0]),) + r[1:] if with_time else r)
    return out


def _sides(scope: Scope, by: tuple[str, ...]) -> tuple[bool, bool]:
    """(users involved, named machines involved): a machine type only, filter or group, is on the user side
    too, since the per-user rollups are kept per machine type."""
    with_users = scope.user_ids is not None or "user" in by or "role" in by
    named_machines = scope.machine_ids is not None and scope.types is None or "machine" in by
    with_machines = named_machines or scope.machine_ids is not None or "machine_type" in by
    return with_users, named_machines if with_users else with_machines


def _usage_table(scope: Scope, by: tuple[str, ...]):
    """The usage rollup with the dimensions these filters and groups need: per user (and machine type), per
    machine (the smallest, also when neither is needed) or per user x machine."""
    with_users, with_machines = _sides(scope, by)
    if with_users and with_machines:
        return rollup_usage
    return rollup_user_usage if with_users else rollup_machine_usage


def _rollup_where(scope: Scope, table) -> list:
    """The user/machine/direction filters on a rollup table (a machine type filter on a per-type one)."""
    t = table.c
    if "machine_type" in t:
        clauses = _where(scope, t.user_id, None, t.direction, ("user",))
        if scope.types is not None:
            clauses.append(t.machine_type.in_(scope.types))
        return clauses
    return _where(
        scope,
        t.user_id if "user_id" in t else None,
        t.machine_id if "machine_id" in t else None,
        t.direction,
        ("user", "machine"),
    )


def _size_table(scope: Scope, by: tuple[str, ...]):
    """The size rollup with the dimensions these filters and groups need, or None (then raw rows)."""
    with_users, with_machines = _sides(scope, by)
    if with_users and with_machines:
        return None
    return rollup_user_sizes if with_users else rollup_machine_sizes if with_machines else rollup_sizes


def _sizes(
    conn: Connection,
    scope: Scope,
    by: tuple[str, ...] = (),
    with_time: bool = False,
    grains: Iterable[str] | None = None,
    bounds: list[int] | None = None,
    pairs: bool = True,
    per_day: bool = False,
) -> list[tuple]:
    """Per size bucket: (time?, *group values, size_range_id, rows, operations), honouring the size filter.

    Whole periods come from the size rollup that has the needed dimensions (`grains` limits the grains used,
    e.g. to those nesting in a series' buckets). When users and machines are both involved: a per-user or
    per-machine size rollup when the session counts show it answers exactly (_pair_plan), else the whole
    months of RollupPairSizes, and for the hours outside them _pair_plan's subtraction or raw rows.
    """
    if scope.empty:
        return []
    grains = None if grains is None else tuple(grains)
    table = _size_table(scope, by)
    if table is None and pairs and grains != ():
        plan = _pair_plan(conn, scope, by, subtract=not with_time)
        if plan is not None and plan[1] is None:  # one side's rollup answers exactly
            return _sizes(conn, plan[0], by, with_time, grains, bounds, per_day=per_day)
        found = _pair_sizes(conn, scope, by, with_time, grains, bounds, per_day)
        if found is not None:
            return found
        if plan is not None:
            whole, minus = plan
            found = _sizes(conn, whole, by, with_time, grains, bounds, per_day=per_day)
            return _subtract(found, _sizes(conn, minus, by, grains=(), pairs=False), len(by))
    usable = GRAINS[table.name] if table is not None else ()
    grains = usable if grains is None else tuple(g for g in grains if g in usable)
    periods, raw = _plan(scope, grains, bounds)
    out = _size_rollup(conn, scope, table, by, with_time, periods) if table is not None else []
    s, o = user_sessions.c, io_operations.c
    by_columns, source = _grouping(user_sessions, by)
    for lo, hi in raw:
        if table is None and not with_time:  # per user x machine, read once per request and summed here
            out.extend(_regroup(conn, scope, by, _raw_pair_sizes(conn, scope, lo, hi)))
            continue
        index, clauses = _raw_sessions(scope, lo, hi, conn)
        when, convert = _raw_time(scope, lo, hi, per_day)
        groups = ([when] if with_time else []) + by_columns + [o.size_range_id]
        if scope.size_ids is not None:
            clauses.append(o.size_range_id.in_(scope.size_ids))
        query = (
            select(*groups, func.count(), _sum(o.count))
            .select_from(source.join(io_operations, o.session_id == s.id))
            .where(*clauses)
            .group_by(*groups)
            .with_hint(user_sessions, f"INDEXED BY {index}", "sqlite")
        )
        for r in conn.execute(query):
            r = tuple(r)
            out.append((convert(r[0]),) + r[1:] if with_time else r)
    return out


def _pair_sizes(
    conn: Connection,
    scope: Scope,
    by: tuple[str, ...],
    with_time: bool,
    grains: tuple[str, ...] | None,
    bounds: list[int] | None,
    per_day: bool,
) -> list[tuple] | None:
    """Size rows (as _sizes) of a question on users and machines together: the whole months in the range from
    RollupPairSizes, the hours around them through _sizes (per-user or per-machine rollups or raw rows). None
    when no whole month of the rollups lies in the range (or in a series bucket)."""
    usable = tuple(g for g in GRAINS[rollup_pair_sizes.name] if grains is None or g in grains)
    periods, raw = _plan(scope, usable, bounds) if scope.zone is not None and usable else ({}, [])
    if not periods:
        return None
    out = _size_rollup(conn, scope, rollup_pair_sizes, by, with_time, periods)
    rest = tuple(g for g in grains if g not in usable) if grains is not None else None
    for lo, hi in raw:  # no whole month in these hours: the recursion ends
        edge = replace(scope, first_hour=lo, end_hour=hi)
        cut = None if bounds is None else [lo] + [b for b in bounds if lo < b < hi] + [hi]
        out.extend(_sizes(conn, edge, by, with_time, rest, cut, per_day=per_day))
    return out


# The usage rollup with the same keys as a size rollup (less the bucket): its bucket bits tell which keys have
# rows in the filtered buckets, so a size filter seeks only those instead of every key of every period.
_BITS_OF = {
    rollup_pair_sizes.name: rollup_usage,
    rollup_user_sizes.name: rollup_user_usage,
    rollup_machine_sizes.name: rollup_machine_usage,
}


def _size_rollup(
    conn: Connection, scope: Scope, table, by: tuple[str, ...], with_time: bool, periods: dict[str, list[int]]
) -> list[tuple]:
    """(time?, *group values, size_range_id, rows, operations) from the periods of a size rollup."""
    if not periods:
        return []
    t = table.c
    mask = bucket_mask(scope.size_ids) if scope.size_ids is not None else None
    # (SQLite only: on PostgreSQL it measured slower than the seeks below, /api/usage/time p95 89 -> 149 ms.)
    bits = _BITS_OF.get(table.name) if mask is not None and conn.dialect.name == "sqlite" else None
    by_columns, source = _grouping(table, by)
    out = []
    if bits is not None:
        # Driven by the usage rollup's rows with a bit of the filtered buckets: each names one key of the size
        # rollup to seek. The join terms are expressions of the usage columns (`+ 0`, `|| ''`), so SQLite can
        # only seek the size rollup from the usage rows, not the other way round.
        b = bits.c
        keys = [c.name for c in table.primary_key.columns if c.name != "size_range_id"]
        on = [t[k] == (b[k].op("||")("") if isinstance(t[k].type, String) else b[k] + 0) for k in keys]
        driven = bits.join(table, and_(*on, t.size_range_id.in_(scope.size_ids)))
        for b_ in by:  # the labels a grouping joins (a role, a machine type not kept in the table)
            if b_ not in t and b_ in _LABEL:
                other, key, _ = _LABEL[b_]
                driven = driven.join(other, other.c.id == t[key])
        for grain, starts in periods.items():
            groups = ([t.start] if with_time else []) + by_columns + [t.size_range_id]
            query = (
                select(*groups, _sum(t.rows), _sum(t.operations))
                .select_from(driven)
                .where(b.grain == grain, b.start.in_(starts), *_rollup_where(scope, bits), b.buckets.op("&")(mask) != 0)
                .group_by(*groups)
            )
            out.extend(tuple(r) for r in conn.execute(query))
        return out
    user_col = t.user_id if "user_id" in t else None
    machine_col = t.machine_id if "machine_id" in t else None
    seek = []  # with a size filter, name every key column before it: seeks instead of a scan of each period
    if scope.size_ids is not None:
        id_col = user_col if user_col is not None else machine_col
        ids = scope.user_ids if user_col is not None else scope.machine_ids
        if id_col is not None and ids is None:
            every = _all_ids(conn, scope, "user" if user_col is not None else "machine")
            if len(every) * len(scope.size_ids) <= 20 * _SEEK_IDS:
                seek.append(id_col.in_(every))
                if "machine_type" in t and scope.types is None:
                    seek.append(t.machine_type.in_(_all_ids(conn, scope, "machine_type")))
        if scope.filters.direction == "both":
            seek.append(t.direction.in_(("rd", "wr")))
    for grain, starts in periods.items():
        groups = ([t.start] if with_time else []) + by_columns + [t.size_range_id]
        clauses = [t.grain == grain, t.start.in_(starts), *_rollup_where(scope, table), *seek]
        if scope.size_ids is not None:
            clauses.append(t.size_range_id.in_(scope.size_ids))
        query = select(*groups, _sum(t.rows), _sum(t.operations)).select_from(source).where(*clauses).group_by(*groups)
        out.extend(tuple(r) for r in conn.execute(query))
    return out


def _all_ids(conn: Connection, scope: Scope, dimension: str) -> list:
    """Every user id, machine id or machine type (dimension "user", "machine", "machine_type")."""
    key = ("ids", dimension)
    if key not in scope.memo:
        col = {"user": users.c.id, "machine": machines.c.id, "machine_type": machines.c.machine_type}[dimension]
        scope.memo[key] = sorted(conn.execute(select(col).distinct()).scalars())
    return scope.memo[key]


def _raw_pair_sizes(conn: Connection, scope: Scope, lo: int, hi: int) -> list[tuple]:
    """(user, machine, direction, size_range_id, rows, operations) of the raw hours [lo, hi) in the scope. A
    profile asks for these four ways (per direction, per user or machine, per bucket); one read serves all."""
    key = (
        "pairs",
        scope.user_ids and tuple(scope.user_ids),
        scope.machine_ids and tuple(scope.machine_ids),
        scope.size_ids and tuple(scope.size_ids),
        scope.filters.direction,
        lo,
        hi,
    )
    found = scope.memo.get(key)
    if found is None:
        s, o = user_sessions.c, io_operations.c
        index, clauses = _raw_sessions(scope, lo, hi, conn)
        if scope.size_ids is not None:
            clauses.append(o.size_range_id.in_(scope.size_ids))
        groups = [s.user_id, s.machine_id, s.direction, o.size_range_id]
        query = (
            select(*groups, func.count(), _sum(o.count))
            .select_from(user_sessions.join(io_operations, o.session_id == s.id))
            .where(*clauses)
            .group_by(*groups)
            .with_hint(user_sessions, f"INDEXED BY {index}", "sqlite")
        )
        found = scope.memo[key] = [tuple(r) for r in conn.execute(query)]
    return found


def _regroup(conn: Connection, scope: Scope, by: tuple[str, ...], rows: list[tuple]) -> list[tuple]:
    """Rows of _raw_pair_sizes summed to (*by values, size_range_id, rows, operations)."""
    labels = {}
    for b in by:
        if b in _LABEL:
            key = ("labels", b)
            if key not in scope.memo:
                other, _, name = _LABEL[b]
                scope.memo[key] = dict(conn.execute(select(other.c.id, other.c[name])).all())
            labels[b] = scope.memo[key]
    position = {"user": 0, "machine": 1, "direction": 2, "role": 0, "machine_type": 1}
    totals: dict[tuple, list] = {}
    for r in rows:
        key = tuple(labels[b].get(r[position[b]]) if b in labels else r[position[b]] for b in by) + (r[3],)
        acc = totals.get(key)
        if acc is None:
            totals[key] = [r[4] or 0, r[5] or 0]
        else:
            acc[0] += r[4] or 0
            acc[1] += r[5] or 0
    return [(*key, n, ops) for key, (n, ops) in totals.items()]


def _pair_plan(conn: Connection, scope: Scope, by: tuple[str, ...], subtract: bool):
    """With a user filter and a machine filter (and neither users nor machines grouped), the size rollups per
    user or per machine still answer when one filter removes few sessions beyond the other, which the session
    counts of the usage rollups tell: e.g. a user's profile restricted to a machine type that all, or nearly all,
    of their machines have. Returns (scope to read, scope to subtract or None), or None: read the raw rows of the
    pairs (when that is the least work)."""
    if scope.user_ids is None or scope.machine_ids is None or set(by) & {"user", "machine", "role", "machine_type"}:
        return None
    key = (
        "pair plan",
        tuple(scope.user_ids),
        tuple(scope.machine_ids),
        scope.filters.direction,
        scope.first_hour,
        scope.end_hour,
    )
    counts = scope.memo.get(key)
    if counts is None:  # the same for every grouping and series of a request: counted once
        wanted_machines = set(scope.machine_ids)
        of_users = _sum_usage(
            _usage(conn, replace(scope, machine_ids=None, types=None), ("user", "machine"), measures=("sessions",)), 2
        )
        direct = sum(v[0] for (u, m), v in of_users.items() if m in wanted_machines)
        other_machines = {m: v[0] for (u, m), v in of_users.items() if m not in wanted_machines}
        of_machines = sum(
            v[0]
            for v in _sum_usage(_usage(conn, replace(scope, user_ids=None), (), measures=("sessions",)), 0).values()
        )
        counts = scope.memo[key] = (direct, other_machines, of_machines)
    direct, other_machines, of_machines = counts
    options = [(sum(other_machines.values()), "machines"), (of_machines - direct, "users")]
    cost, side = min(options)
    if cost and (cost >= direct or not subtract):
        return None
    if side == "machines":  # the user filter alone, minus the pairs on the other machines
        return (
            replace(scope, machine_ids=None, types=None),
            replace(scope, machine_ids=sorted(other_machines), types=None) if cost else None,
        )
    others = sorted(set(_all_ids(conn, scope, "user")) - set(scope.user_ids))
    return replace(scope, user_ids=None), (replace(scope, user_ids=others) if cost else None)


def _subtract(rows: list[tuple], minus: list[tuple], key_len: int) -> list[tuple]:
    """Size rows (*groups, size_range_id, rows, operations) minus others; keys left without rows disappear."""
    totals: dict[tuple, list] = {}
    for r in rows:
        acc = totals.setdefault(r[: key_len + 1], [0, 0])
        acc[0] += r[-2] or 0
        acc[1] += r[-1] or 0
    for r in minus:
        acc = totals[r[: key_len + 1]]
        acc[0] -= r[-2] or 0
        acc[1] -= r[-1] or 0
    return [(*key, n, ops) for key, (n, ops) in totals.items() if n]


def _active(conn: Connection, scope: Scope, dimension: str) -> set[int]:
    """Ids of the users or machines with a session in the scope (with a size filter: with a row in one of those
    buckets). For the size filter RollupUsage's bucket bit sets answer it for any user x machine filter."""
    if scope.empty:
        return set()
    mask = None
    if scope.size_ids is not None:
        mask = bucket_mask(scope.size_ids)
        if mask is None:  # a bucket without a bit: sum its rows instead
            return {key[0] for key in _sum_usage(_sizes(conn, scope, (dimension,)), 1, sizes=True)}
    table = _usage_table(scope, (dimension,))
    periods, raw = _plan(scope, GRAINS[table.name])
    t = table.c
    found: set[int] = set()
    for grain, starts in periods.items():
        clauses = [t.grain == grain, t.start.in_(starts), *_rollup_where(scope, table)]
        if mask is not None:
            clauses.append(t.buckets.op("&")(mask) != 0)
        found.update(conn.execute(select(t[_COLUMN[dimension]]).where(*clauses).distinct()).scalars())
    s, o = user_sessions.c, io_operations.c
    for lo, hi in raw:
        index, clauses = _raw_sessions(scope, lo, hi, conn)
        query = select(s[_COLUMN[dimension]]).where(*clauses)
        if scope.size_ids is not None:
            query = query.where(
                select(o.session_id).where(o.session_id == s.id, o.size_range_id.in_(scope.size_ids)).exists()
            )
        found.update(conn.execute(query.distinct().with_hint(user_sessions, f"INDEXED BY {index}", "sqlite")).scalars())
    return found


def _sum_usage(rows: Iterable[tuple], key_len: int, sizes: bool = False) -> dict[tuple, list]:
    """Rows summed by their first key_len values (size rows: the bucket id is dropped, rows and operations kept)."""
    totals: dict[tuple, list] = {}
    for r in rows:
        key, measured = r[:key_len], r[key_len + 1 :] if sizes else r[key_len:]
        acc = totals.get(key)
        if acc is None:
            totals[key] = [v or 0 for v in measured]
        else:
            for i, v in enumerate(measured):
                acc[i] += v or 0
    return totals


def _sizes_as_usage(scope: Scope, rows: Iterable[tuple], key_len: int) -> dict[tuple, list]:
    """Size rows (key..., size_range_id, rows, operations) as usage measures per key (sessions unknown: 0)."""
    totals: dict[tuple, list] = {}
    for r in rows:
        key, bid, nrows, ops = r[:key_len], r[key_len], r[key_len + 1] or 0, r[key_len + 2] or 0
        w = scope.weights[bid]
        acc = totals.get(key)
        if acc is None:
            acc = totals[key] = [0, 0, 0, 0, 0.0, 0.0, 0.0, 0]
        acc[1] += nrows
        acc[2] += ops
        acc[3] += ops if w.small else 0
        acc[4] += ops * w.low
        acc[5] += ops * w.mid
        acc[6] += ops * (w.high or 0.0)
        acc[7] += nrows if w.open else 0
    return totals


def _measures(
    by: tuple[str, ...], conn: Connection, scope: Scope, rows: bool = False, measures: tuple[str, ...] = _MEASURES
) -> dict[tuple, list]:
    """Usage sums per group, honouring the size filter (sessions then count the non-size filters only).
    Values follow _MEASURES; `measures` (a prefix of it) limits what is summed when there is no size filter."""
    if scope.size_ids is None:
        return _sum_usage(_usage(conn, scope, by, rows=rows, measures=measures), len(by))
    usage = _sum_usage(_usage(conn, scope, by, measures=("sessions",)), len(by))
    sized = _sizes_as_usage(scope, _sizes(conn, scope, by), len(by))
    for key, measured in sized.items():
        measured[0] = usage.get(key, [0])[0]
    return sized


def _bytes(measured: list) -> dict[str, Any]:
    return {"bytes_low": measured[4], "bytes": measured[5], "bytes_high": None if measured[7] else measured[6]}


# -- /api/stats --------------------------------------------------------------------------------------------------


def stats(conn: Connection, filters: Filters, now: float | None = None) -> dict[str, Any]:
    """The keys of database_stats, for the hours, users, machines, direction and sizes in `filters`, plus
    `freshness` (the newest block, whatever the filters) and the `gaps` (hours without a block) in the range.
    With a size filter, operations and rows count those buckets only; entries count the histograms that
    match the other filters."""
    scope = resolve(conn, filters)
    per_direction = _measures(("direction",), conn, scope, rows=True, measures=("sessions", "rows", "operations"))
    operations = {d: int(per_direction.get((d,), [0, 0, 0])[2]) for d in ("rd", "wr")}
    operations["total"] = operations["rd"] + operations["wr"]
    first, end = epoch_bounds(scope.first_hour, scope.end_hour)
    known = _blocks(conn)
    first_block, last_block = known.span(scope.first_hour, scope.end_hour)
    rejected_query = select(func.count()).select_from(rejected_lines)
    if filters.start is not None or filters.end is not None:
        rejected_query = rejected_query.where(rejected_lines.c.block_epoch >= first, rejected_lines.c.block_epoch < end)
    latest = known.version[2]
    return {
        "blocks": known.count(known.epochs, scope.first_hour, scope.end_hour),
        "entries": int(sum(v[0] for v in per_direction.values())),
        "rows": int(sum(v[1] for v in per_direction.values())),
        "users": len(_active(conn, scope, "user")),
        "machines": len(_active(conn, scope, "machine")),
        "operations": operations,
        "rejected_lines": conn.execute(rejected_query).scalar_one(),
        "hours_with_lost_events": _lost_hours(conn, scope.first_hour, scope.end_hour),
        "first": iso_utc(first_block),
        "last": iso_utc(last_block),
        "range": _range(scope),
        "freshness": _freshness(latest, now),
        "gaps": _gaps(conn, scope.first_hour, scope.end_hour),
    }


def _range(scope: Scope) -> dict[str, Any]:
    return {
        "start": iso_utc(scope.first_hour),
        "end": iso_utc(scope.end_hour),
        "start_epoch": scope.first_hour,
        "end_epoch": scope.end_hour,
        "hours": (scope.end_hour - scope.first_hour) // HOUR,
    }


@dataclass(frozen=True)
class _Blocks:
    """Every block's epoch (sorted) and the distinct hours they report."""

    version: tuple
    epochs: np.ndarray
    hours: np.ndarray

    def count(self, values: np.ndarray, first_hour: int, end_hour: int) -> int:
        first, end = epoch_bounds(first_hour, end_hour)
        return int(np.searchsorted(values, end) - np.searchsorted(values, first))

    def span(self, first_hour: int, end_hour: int) -> tuple[int | None, int | None]:
        """The first and last block epoch in the hours [first_hour, end_hour)."""
        first, end = epoch_bounds(first_hour, end_hour)
        i, j = np.searchsorted(self.epochs, first), np.searchsorted(self.epochs, end)
        return (int(self.epochs[i]), int(self.epochs[j - 1])) if i < j else (None, None)


_blocks_cache: weakref.WeakKeyDictionary[Engine, _Blocks] = weakref.WeakKeyDictionary()


def _blocks(conn: Connection) -> _Blocks:
    """The LogEntries epochs, kept per engine and read again only when a block was added: blocks are never
    deleted and their ids only grow, so the highest id (and the first and last epoch) identify the content.
    Every gap, coverage, freshness and block count is then arithmetic on these (a year is 9,000 blocks)."""
    e = log_entries.c
    version = tuple(
        conn.execute(
            select(
                select(func.max(e.id)).scalar_subquery(),
                select(func.min(e.epoch)).scalar_subquery(),
                select(func.max(e.epoch)).scalar_subquery(),
            )
        ).one()
    )
    cached = _blocks_cache.get(conn.engine)
    if cached is None or cached.version != version:
        epochs = np.array(conn.execute(select(e.epoch).order_by(e.epoch)).scalars().all(), dtype=np.int64)
        hours = hour_of(epochs)
        hours = hours[np.r_[True, hours[1:] != hours[:-1]]] if len(hours) else hours
        cached = _blocks_cache[conn.engine] = _Blocks(version, epochs, hours)
    return cached


def _lost_hours(conn: Connection, first_hour: int, end_hour: int) -> int:
    """Blocks flagged with lost events in the hours [first_hour, end_hour) (a later read can raise the flag of a
    stored block, so it is not kept with the epochs; the partial index ix_entries_lost makes this cheap)."""
    first, end = epoch_bounds(first_hour, end_hour)
    e = log_entries.c
    return conn.execute(
        select(func.count()).select_from(log_entries).where(e.lost_events > 0, e.epoch >= first, e.epoch < end)
    ).scalar_one()


def _block_hours(conn: Connection, first_hour: int, end_hour: int) -> np.ndarray:
    """The distinct hours (sorted epochs of their start) in [first_hour, end_hour) that have a block."""
    hours = _blocks(conn).hours
    return hours[np.searchsorted(hours, first_hour) : np.searchsorted(hours, end_hour)]


def block_hours(conn: Connection, first_hour: int, end_hour: int) -> list[int]:
    """The distinct hours in [first_hour, end_hour) that have a block, in order."""
    return _block_hours(conn, first_hour, end_hour).tolist()


def _gaps(conn: Connection, first_hour: int, end_hour: int) -> list[dict[str, Any]]:
    """Runs of hours without a block between the first and the last block in [first_hour, end_hour)."""
    hours = _block_hours(conn, first_hour, end_hour)
    at = np.flatnonzero(np.diff(hours) > HOUR)
    return _gap_dicts((hours[at] + HOUR).tolist(), hours[at + 1].tolist())


def _gap_dicts(starts: list[int], ends: list[int]) -> list[dict[str, Any]]:
    return [
        {"start": a, "end": b, "start_epoch": start, "end_epoch": end, "hours": (end - start) // HOUR}
        for start, end, a, b in zip(starts, ends, _iso_many(starts), _iso_many(ends))
    ]


def _iso_many(epochs: list[int]) -> list[str]:
    """timefmt.iso_utc for many epochs at once (numpy formats them; strftime costs ~10 us each)."""
    if not epochs:
        return []
    text = np.datetime_as_string(np.array(epochs, dtype="datetime64[s]"), unit="s")
    return [t + "Z" for t in text.tolist()]


def _coverage(conn: Connection, bounds: list[int]) -> list[int]:
    """Per bucket [bounds[i], bounds[i+1]) (hours): how many of its hours have a block."""
    if len(bounds) < 2:
        return []
    hours = _block_hours(conn, bounds[0], bounds[-1])
    return np.diff(np.searchsorted(hours, np.array(bounds, dtype=np.int64))).tolist()


# -- /api/users and /api/machines ------------------------------------------------------------------------------


def users_table(
    conn: Connection, filters: Filters, sort: str = "operations", order: str = "desc", limit: int | None = None
) -> list[dict[str, Any]]:
    """Users active in the range: role, affiliation, first/last seen (ever), sessions, operations and bytes in
    the range. sort: operations|bytes|sessions|name|first_seen|last_seen; order: asc|desc."""
    return _users_table(conn, resolve(conn, filters), sort, order, limit)


def _users_table(
    conn: Connection, scope: Scope, sort: str = "operations", order: str = "desc", limit: int | None = None
) -> list[dict[str, Any]]:
    _check_sorting(sort, order, limit)
    totals = _measures(("user",), conn, scope)
    info = (
        {r.id: r for r in conn.execute(select(users).where(users.c.id.in_([k[0] for k in totals])))} if totals else {}
    )
    rows = []
    for (uid,), v in totals.items():
        if not (v[0] or v[2]) or uid not in info:
            continue
        u = info[uid]
        rows.append(
            {
                "user": u.username,
                "role": u.role,
                "affiliation": u.affiliation,
                "first_seen": iso_utc(u.first_seen),
                "last_seen": iso_utc(u.last_seen),
                "sessions": int(v[0]),
                "operations": int(v[2]),
                "small_operations": int(v[3]),
                **_bytes(v),
            }
        )
    return _sort(rows, sort, order, limit, "user")


def machines_table(
    conn: Connection, filters: Filters, sort: str = "operations", order: str = "desc", limit: int | None = None
) -> list[dict[str, Any]]:
    """Machines active in the range: type, first/last seen (ever), users, sessions, operations and bytes."""
    return _machines_table(conn, resolve(conn, filters), sort, order, limit)


def _machines_table(
    conn: Connection, scope: Scope, sort: str = "operations", order: str = "desc", limit: int | None = None
) -> list[dict[str, Any]]:
    _check_sorting(sort, order, limit)
    totals = _measures(("machine",), conn, scope)
    info = (
        {r.id: r for r in conn.execute(select(machines).where(machines.c.id.in_([k[0] for k in totals])))}
        if totals
        else {}
    )
    user_counts: dict[int, int] = {}
    pairs = _sum_usage(_usage(conn, scope, ("machine", "user"), measures=("sessions",)), 2)
    for (mid, _uid), v in pairs.items():
        if v[0]:
            user_counts[mid] = user_counts.get(mid, 0) + 1
    rows = []
    for (mid,), v in totals.items():
        if not (v[0] or v[2]) or mid not in info:
            continue
        m = info[mid]
        rows.append(
            {
                "machine": m.name,
                "machine_type": m.machine_type,
                "first_seen": iso_utc(m.first_seen),
                "last_seen": iso_utc(m.last_seen),
                "users": user_counts.get(mid, 0),
                "sessions": int(v[0]),
                "operations": int(v[2]),
                "small_operations": int(v[3]),
                **_bytes(v),
            }
        )
    return _sort(rows, sort, order, limit, "machine")


def _check_sorting(sort: str, order: str, limit: int | None) -> None:
    if sort not in USER_SORTS:
        raise ValueError(f"sort: must be one of {', '.join(USER_SORTS)}")
    if order not in ("asc", "desc"):
        raise ValueError("order: must be asc or desc")
    if limit is not None and limit < 0:
        raise ValueError("limit: must be 0 or more")


def _sort(rows: list[dict], sort: str, order: str, limit: int | None, name: str) -> list[dict]:
    _check_sorting(sort, order, limit)
    field = name if sort == "name" else sort
    # Ties (and missing values) fall back to the name, so the order is stable from request to request.
    rows.sort(key=lambda r: r[name])
    rows.sort(key=lambda r: (r[field] is None, r[field] if r[field] is not None else 0), reverse=(order == "desc"))
    return rows if limit is None else rows[:limit]


# -- /api/usage/size -------------------------------------------------------------------------------------------


def size_buckets(conn: Connection) -> list[dict[str, Any]]:
    """Every size bucket seen, smallest first: id, label, lower and upper bound in bytes (None: none)."""
    rows = conn.execute(select(io_size_ranges)).all()
    rows.sort(key=lambda r: (r.lower_bytes is not None, r.lower_bytes or 0, r.upper_bytes is None, r.upper_bytes or 0))
    return [{"id": r.id, "label": r.label, "lower_bytes": r.lower_bytes, "upper_bytes": r.upper_bytes} for r in rows]


def size_distribution(conn: Connection, filters: Filters) -> dict[str, Any]:
    """Operations per size bucket, with bytes as count x lower bound, x midpoint (the estimate) and x upper
    bound (None for an open bucket, which has none)."""
    return _size_distribution(conn, resolve(conn, filters))


def _size_distribution(conn: Connection, scope: Scope) -> dict[str, Any]:
    per_bucket = {}
    for bid, nrows, ops in _sizes(conn, scope):
        acc = per_bucket.setdefault(bid, [0, 0])
        acc[0] += nrows or 0
        acc[1] += ops or 0
    out = []
    for bucket in size_buckets(conn):
        if scope.size_ids is not None and bucket["id"] not in scope.size_ids:
            continue
        nrows, ops = per_bucket.get(bucket["id"], (0, 0))
        w = scope.weights[bucket["id"]]
        out.append(
            {
                "label": bucket["label"],
                "lower_bytes": bucket["lower_bytes"],
                "upper_bytes": bucket["upper_bytes"],
                "small": w.small,
                "rows": int(nrows),
                "operations": int(ops),
                "bytes_low": ops * w.low,
                "bytes": ops * w.mid,
                "bytes_high": None if w.high is None else ops * w.high,
            }
        )
    total = sum(b["operations"] for b in out)
    return {
        "range": _range(scope),
        "bytes_estimate": BYTES_ESTIMATE,
        "note": "bytes = operations x bucket midpoint; bytes_low and bytes_high use the lower and upper bound",
        "operations": total,
        "bytes": sum(b["bytes"] for b in out),
        "buckets": out,
    }


# -- /api/usage/time -------------------------------------------------------------------------------------------


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


def _bucket_bounds(bucket: str, scope: Scope) -> list[int]:
    """Hour boundaries of the series buckets covering [first_hour, end_hour) in the display zone."""
    lo, hi = scope.first_hour, scope.end_hour
    if bucket == "hour":
        return list(range(lo, hi + HOUR, HOUR))
    bounds = [ceil_hour(s) for s in period_starts(_GRAIN[bucket], lo, hi, scope.filters.tz)]
    bounds = sorted({max(lo, min(hi, b)) for b in bounds})
    return bounds if len(bounds) > 1 else [lo, hi]


def _series_grains(bucket: str, scope: Scope) -> tuple[str, ...]:
    """Rollup grains whose periods nest in the series' buckets: in the rollup zone, the bucket's own grain and
    days; in another zone any grain (each bucket is then cut on its own, see _plan)."""
    if bucket == "hour":
        return ()
    if scope.zone == scope.filters.tz:
        return {"day": ("d",), "week": ("w", "d"), "month": ("m", "d")}[bucket]
    return {"day": ("d",), "week": ("w", "d"), "month": ("m", "w", "d")}[bucket]


def time_series(
    conn: Connection, filters: Filters, bucket: str | None = None, group_by: str = "none", top: int = 10
) -> dict[str, Any]:
    """Operations and bytes per time bucket (in filters.tz), per group: the `top` groups by operations in the
    range and the rest summed as "other". A bucket without any block has operations None (no data is not
    zero IO); each bucket says how many of its hours have a block."""
    if bucket is not None and bucket not in BUCKETS:
        raise ValueError(f"bucket: must be one of {', '.join(BUCKETS)}")
    if group_by not in GROUP_BYS:
        raise ValueError(f"group_by: must be one of {', '.join(GROUP_BYS)}")
    if not isinstance(top, int) or top < 1 or top > 1000:
        raise ValueError("top: must be between 1 and 1000")
    return _time_series(conn, resolve(conn, filters), bucket, group_by, top)


def _time_series(conn: Connection, scope: Scope, bucket: str | None, group_by: str, top: int) -> dict[str, Any]:
    bucket = bucket or choose_bucket(scope.first_hour, scope.end_hour)
    if (scope.end_hour - scope.first_hour) // HOUR > 100_000 and bucket == "hour":
        raise ValueError("bucket: hour buckets cover at most 100,000 hours; narrow start/end or use day")
    bounds = _bucket_bounds(bucket, scope)
    grains = _series_grains(bucket, scope)
    per_day = bucket != "hour"
    n = len(bounds) - 1
    series: dict[str, list] = {}

    def add(rows: list[tuple], name) -> None:
        """Rows (time, [group,] operations, bytes) into series[name(group)] per bucket."""
        index_of: dict[int, int] = {}
        for row in rows:
            i = index_of.get(row[0])
            if i is None:  # (a raw day cut by the range's start begins before it: bucket 0)
                i = index_of[row[0]] = max(0, bisect_right(bounds, ceil_hour(row[0])) - 1)
            if i >= n:
                continue
            key = name(row[1]) if len(row) == 4 else name(None)
            values_ = series.get(key)
            if values_ is None:
                values_ = series[key] = [[0, 0.0] for _ in range(n)]
            values_[i][0] += row[-2] or 0
            values_[i][1] += row[-1] or 0.0

    raw_groups = scope.size_ids is not None and _size_table(scope, (group_by,)) is None
    if group_by in ("user", "machine") and not raw_groups:
        # Rank the users (machines) on their totals, then read per bucket only the top ones, and the rest as one.
        # (When only raw rows have these sizes per user or machine, one read of all groups is cheaper: below.)
        dimension = (group_by,)
        totals = _group_operations(conn, scope, dimension)
        label = _group_labels(conn, group_by, set(totals))
        ranked = sorted(totals, key=lambda key: (-totals[key], label(key)))
        keep, rest = ranked[:top], ranked[top:]
        ids = "user_ids" if group_by == "user" else "machine_ids"
        if group_by == "machine":
            scope = replace(scope, types=None)  # machine lists below are named machines
        if scope.size_ids is None:
            if keep:
                add(
                    _series_rows(conn, replace(scope, **{ids: sorted(keep)}), dimension, grains, bounds, per_day), label
                )
            if rest:
                add(
                    _series_rows(conn, replace(scope, **{ids: sorted(rest)}), (), grains, bounds, per_day),
                    lambda _: "other",
                )
        else:
            kept = (
                _sizes(
                    conn,
                    replace(scope, **{ids: sorted(keep)}),
                    dimension,
                    with_time=True,
                    grains=grains,
                    bounds=bounds,
                    per_day=per_day,
                )
                if keep
                else []
            )
            add([(r[0], r[1], r[4] or 0, (r[4] or 0) * scope.weights[r[2]].mid) for r in kept], label)
            if rest and len(rest) > _SEEK_IDS:
                # Many others: everything minus the top ones, per bucket and size (integers, so exact).
                cells: dict[tuple[int, int], int] = {}
                for when, bid, _n, ops in _sizes(
                    conn, scope, (), with_time=True, grains=grains, bounds=bounds, per_day=per_day
                ):
                    cell = (_bucket_of(bounds, when), bid)
                    cells[cell] = cells.get(cell, 0) + (ops or 0)
                for when, _group, bid, _n, ops in kept:
                    cells[(_bucket_of(bounds, when), bid)] -= ops or 0
                add(
                    [(bounds[i], ops, ops * scope.weights[bid].mid) for (i, bid), ops in cells.items() if i < n],
                    lambda _: "other",
                )
            elif rest:
                add(
                    _series_rows(conn, replace(scope, **{ids: sorted(rest)}), (), grains, bounds, per_day),
                    lambda _: "other",
                )
        names = [label(key) for key in keep] + (["other"] if rest else [])
        for name in names:
            series.setdefault(name, [[0, 0.0] for _ in range(n)])
        keep = names
    else:
        by = () if group_by == "none" else (group_by,)
        name = (
            (lambda _: "all")
            if not by
            else (lambda value: value or "(none)")
            if group_by == "role"
            else _group_labels(conn, group_by, None)
            if group_by in ("user", "machine")
            else str
        )
        add(_series_rows(conn, scope, by, grains, bounds, per_day), name)
        ranked = sorted(series, key=lambda g: (-sum(v[0] for v in series[g]), g))
        keep, rest = ranked[:top], ranked[top:]
        if rest:
            other = [[0, 0.0] for _ in range(n)]
            for g in rest:
                for i, v in enumerate(series[g]):
                    other[i][0] += v[0]
                    other[i][1] += v[1]
            series = {**{g: series[g] for g in keep}, "other": other}
            keep = keep + ["other"]
        if not by and "all" not in series and n:
            series["all"] = [[0, 0.0] for _ in range(n)]
            keep = ["all"]
    coverage = _coverage(conn, bounds)
    times = _iso_many(bounds[:n])
    buckets = [
        {
            "time": times[i],
            "epoch": bounds[i],
            "hours": (bounds[i + 1] - bounds[i]) // HOUR,
            "hours_with_data": coverage[i],
        }
        for i in range(n)
    ]
    points = [
        {
            "time": buckets[i]["time"],
            "epoch": bounds[i],
            "group": g,
            "operations": int(series[g][i][0]) if coverage[i] else None,
            "bytes": series[g][i][1] if coverage[i] else None,
        }
        for g in keep
        for i in range(n)
    ]
    return {
        "range": _range(scope),
        "tz": scope.filters.tz,
        "bucket": bucket,
        "group_by": group_by,
        "top": top,
        "bytes_estimate": BYTES_ESTIMATE,
        "groups": keep,
        "buckets": buckets,
        "points": points,
    }


def _bucket_of(bounds: list[int], when: int) -> int:
    """The series bucket of a row's time (a period start, an hour, or a raw day cut by the range's start)."""
    return max(0, bisect_right(bounds, ceil_hour(when)) - 1)


def _series_rows(
    conn: Connection, scope: Scope, by: tuple[str, ...], grains: tuple[str, ...], bounds: list[int], per_day: bool
) -> list[tuple]:
    """(time, *group values, operations, bytes midpoint) for a series: usage rollups, or size rollups with a
    size filter; raw rows per local day when the buckets are days, weeks or months."""
    if scope.size_ids is None:
        return _usage(conn, scope, by, grains=grains, with_time=True, measures=_SERIES, bounds=bounds, per_day=per_day)
    rows = []
    for r in _sizes(conn, scope, by, with_time=True, grains=grains, bounds=bounds, per_day=per_day):
        bid, ops = r[1 + len(by)], r[3 + len(by)] or 0
        rows.append((r[0], *r[1 : 1 + len(by)], ops, ops * scope.weights[bid].mid))
    return rows


def _group_operations(conn: Connection, scope: Scope, by: tuple[str, ...]) -> dict:
    """Operations per group over the whole range (every group with a session, or a row in the size filter)."""
    if scope.size_ids is None:
        return {
            key[0]: value[0] for key, value in _sum_usage(_usage(conn, scope, by, measures=("operations",)), 1).items()
        }
    return {key[0]: value[1] for key, value in _sum_usage(_sizes(conn, scope, by), 1, sizes=True).items()}


def _group_labels(conn: Connection, group_by: str, ids: set | None):
    """id -> group name for a series: the user or machine name, or its role / machine type (ids None: all)."""
    if group_by in ("user", "role"):
        query = select(users.c.id, users.c.username, users.c.role)
        rows = conn.execute(query if ids is None else query.where(users.c.id.in_(ids))) if ids != set() else []
        names = {r[0]: (r[1] if group_by == "user" else (r[2] or "(none)")) for r in rows}
    elif group_by in ("machine", "machine_type"):
        query = select(machines.c.id, machines.c.name, machines.c.machine_type)
        rows = conn.execute(query if ids is None else query.where(machines.c.id.in_(ids))) if ids != set() else []
        names = {r[0]: (r[1] if group_by == "machine" else r[2]) for r in rows}
    else:
        names = {}
    return lambda key: names.get(key, str(key))


# -- profiles ----------------------------------------------------------------------------------------------------


def user_profile(conn: Connection, username: str, filters: Filters) -> dict[str, Any] | None:
    """One user in the range: role, affiliation, first/last seen, totals, machines used, size distribution and
    a time series. None when no such user exists. The filters' own user list is replaced by this user."""
    u = conn.execute(select(users).where(users.c.username == username)).one_or_none()
    if u is None:
        return None
    narrowed = filters.with_(users=(username,), roles=(), affiliations=())
    return {
        "user": u.username,
        "role": u.role,
        "affiliation": u.affiliation,
        "first_seen": iso_utc(u.first_seen),
        "last_seen": iso_utc(u.last_seen),
        **_profile(conn, narrowed, "machine"),
    }


def machine_profile(conn: Connection, name: str, filters: Filters) -> dict[str, Any] | None:
    """One machine in the range: type, first/last seen, totals, users seen, size distribution, time series."""
    m = conn.execute(select(machines).where(machines.c.name == name)).one_or_none()
    if m is None:
        return None
    narrowed = filters.with_(machines=(name,), machine_types=())
    return {
        "machine": m.name,
        "machine_type": m.machine_type,
        "first_seen": iso_utc(m.first_seen),
        "last_seen": iso_utc(m.last_seen),
        **_profile(conn, narrowed, "user"),
    }


def _profile(conn: Connection, filters: Filters, other: str) -> dict[str, Any]:
    scope = resolve(conn, filters)
    per_direction = _measures(("direction",), conn, scope)
    totals = {"sessions": 0, "operations": 0, "rd_operations": 0, "wr_operations": 0, "small_operations": 0}
    acc = [0, 0, 0, 0, 0.0, 0.0, 0.0, 0]
    for (direction,), v in per_direction.items():
        totals[f"{direction}_operations"] = int(v[2])
        for i, x in enumerate(v):
            acc[i] += x
    totals.update(sessions=int(acc[0]), operations=int(acc[2]), small_operations=int(acc[3]), **_bytes(acc))
    table = _users_table if other == "user" else _machines_table
    listed = table(conn, scope, sort="operations", order="desc", limit=None)
    size = _size_distribution(conn, scope)
    series = _time_series(conn, scope, None, "none", 10)
    return {
        "range": _range(scope),
        "totals": totals,
        f"{other}s": listed,
        "sizes": size["buckets"],
        "bytes_estimate": BYTES_ESTIMATE,
        "series": {k: series[k] for k in ("bucket", "tz", "buckets", "points")},
    }


# -- for the dashboard -----------------------------------------------------------------------------------------


def data_version(conn: Connection) -> list:
    """A value that changes whenever an ingest adds a block, completes one or rejects a line: the dashboard
    polls it and redraws only when it changed. [newest epoch, blocks, newest session id, rejected lines]."""
    epoch, blocks = conn.execute(select(func.max(log_entries.c.epoch), func.count())).one()
    session = conn.execute(select(func.max(user_sessions.c.id))).scalar()
    rejected = conn.execute(select(func.max(rejected_lines.c.id))).scalar()
    return [epoch, blocks, session, rejected]


def data_health(conn: Connection, filters: Filters, now: float | None = None) -> dict[str, Any]:
    """How complete the data in the range is, whatever the user/machine/size filters: the newest block and its
    age, blocks in the range, the gaps (hours without a block), hours flagged with lost events, rejected lines
    (those in blocks of the range, and those outside any block, which have no time)."""
    scope = resolve(conn, filters)
    first, end = epoch_bounds(scope.first_hour, scope.end_hour)
    known = _blocks(conn)
    blocks = known.count(known.epochs, scope.first_hour, scope.end_hour)
    lost_hours = _lost_hours(conn, scope.first_hour, scope.end_hour)
    rejected = conn.execute(
        select(func.count())
        .select_from(rejected_lines)
        .where(rejected_lines.c.block_epoch >= first, rejected_lines.c.block_epoch < end)
    ).scalar_one()
    outside = conn.execute(
        select(func.count()).select_from(rejected_lines).where(rejected_lines.c.block_epoch.is_(None))
    ).scalar_one()
    return {
        "range": _range(scope),
        "blocks": blocks,
        "hours_with_lost_events": lost_hours,
        "rejected_lines": rejected,
        "rejected_lines_outside_blocks": outside,
        "gaps": _gaps(conn, scope.first_hour, scope.end_hour),
        "freshness": _freshness(known.version[2], now),
    }


def user_machine_usage(conn: Connection, filters: Filters) -> list[dict[str, Any]]:
    """One dict per (user, machine) pair active in the range, most operations first: the user's role and
    affiliation, the machine's type, sessions, operations, small operations and bytes (midpoint estimate)."""
    scope = resolve(conn, filters)
    totals = _measures(("user", "machine"), conn, scope)
    user_ids = {k[0] for k in totals}
    machine_ids = {k[1] for k in totals}
    user_info = {r.id: r for r in conn.execute(select(users).where(users.c.id.in_(user_ids)))} if user_ids else {}
    machine_info = (
        {r.id: r for r in conn.execute(select(machines).where(machines.c.id.in_(machine_ids)))} if machine_ids else {}
    )
    rows = []
    for (uid, mid), v in totals.items():
        if not (v[0] or v[2]) or uid not in user_info or mid not in machine_info:
            continue
        u, m = user_info[uid], machine_info[mid]
        rows.append(
            {
                "user": u.username,
                "role": u.role,
                "affiliation": u.affiliation,
                "machine": m.name,
                "machine_type": m.machine_type,
                "sessions": int(v[0]),
                "operations": int(v[2]),
                "small_operations": int(v[3]),
                **_bytes(v),
            }
        )
    rows.sort(key=lambda r: (-r["operations"], r["user"], r["machine"]))
    return rows


def size_series(conn: Connection, filters: Filters, bucket: str | None = None) -> dict[str, Any]:
    """Operations and bytes (midpoint estimate) per time bucket (in filters.tz) x size bucket: the size-over-time
    heatmap. Time buckets as in time_series (choose_bucket when none is asked for); `cells` lists only the
    non-zero (time, size) pairs, and `buckets` says how many hours of each time bucket have a block."""
    if bucket is not None and bucket not in BUCKETS:
        raise ValueError(f"bucket: must be one of {', '.join(BUCKETS)}")
    scope = resolve(conn, filters)
    bucket = bucket or choose_bucket(scope.first_hour, scope.end_hour)
    bounds = _bucket_bounds(bucket, scope)
    grains = _series_grains(bucket, scope)
    n = len(bounds) - 1
    table = _size_table(scope, ())
    usable = [g for g in grains if table is not None and scope.zone is not None and g in GRAINS[table.name]]
    if bucket == "day" and scope.zone != scope.filters.tz:
        usable = []  # no rollup day lies inside a day of another zone
    if bucket != "hour" and not usable:
        # No rollup helps: the raw rows, summed per local day in SQL (a year: ~365 x buckets rows, not ~8,760 x).
        rows = ((day, bid, None, ops) for day, bid, ops in _raw_sizes_per_local_day(conn, scope))
    else:
        rows = _sizes(conn, scope, with_time=True, grains=usable, bounds=bounds)
    cells: dict[tuple[int, int], int] = {}
    for when, bid, _rows, ops in rows:
        i = max(0, bisect_right(bounds, ceil_hour(when)) - 1)  # a day cut by the range start counts in bucket 0
        if i < n and ops:
            cells[(i, bid)] = cells.get((i, bid), 0) + int(ops)
    coverage = _coverage(conn, bounds)
    sizes = {b["id"]: b for b in size_buckets(conn)}
    order = {bid: i for i, bid in enumerate(sizes)}
    used = sorted({bid for _, bid in cells}, key=order.get)
    return {
        "range": _range(scope),
        "tz": scope.filters.tz,
        "bucket": bucket,
        "bytes_estimate": BYTES_ESTIMATE,
        "buckets": [
            {
                "time": iso_utc(bounds[i]),
                "epoch": bounds[i],
                "hours": (bounds[i + 1] - bounds[i]) // HOUR,
                "hours_with_data": coverage[i],
            }
            for i in range(n)
        ],
        "sizes": [{"label": sizes[bid]["label"], "lower_bytes": sizes[bid]["lower_bytes"]} for bid in used],
        "cells": [
            {
                "epoch": bounds[i],
                "label": sizes[bid]["label"],
                "lower_bytes": sizes[bid]["lower_bytes"],
                "operations": ops,
                "bytes": ops * scope.weights[bid].mid,
            }
            for (i, bid), ops in sorted(cells.items())
        ],
    }


def _raw_sizes_per_local_day(conn: Connection, scope: Scope) -> list[tuple[int, int, int]]:
    """(local midnight epoch, size_range_id, operations) from the raw rows of [first_hour, end_hour), a block
    counted in the local day (scope.filters.tz) of the hour it reports; honours every filter."""
    s, o = user_sessions.c, io_operations.c
    index, clauses = _raw_sessions(scope, scope.first_hour, scope.end_hour, conn)
    hour = hour_of(s.epoch)
    segments = utc_offsets(scope.first_hour, scope.end_hour, scope.filters.tz)
    shift = (
        case(
            *[(hour < start, previous) for (start, _), (_, previous) in zip(segments[1:], segments)],
            else_=segments[-1][1],
        )
        if len(segments) > 1
        else segments[0][1]
    )
    day = ((hour + shift) // 86400).label("day")
    if scope.size_ids is not None:
        clauses.append(o.size_range_id.in_(scope.size_ids))
    query = (
        select(day, o.size_range_id, func.sum(o.count))
        .select_from(user_sessions.join(io_operations, o.session_id == s.id))
        .where(*clauses)
        .group_by(day, o.size_range_id)
        .with_hint(user_sessions, f"INDEXED BY {index}", "sqlite")
    )
    epoch_day = date(1970, 1, 1)
    return [
        (local_midnight(epoch_day + timedelta(days=int(d)), scope.filters.tz), bid, int(ops or 0))
        for d, bid, ops in conn.execute(query)
    ]
