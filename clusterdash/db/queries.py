"""The only read SQL: a `Filters` value in, plain data (dicts and lists, times as epochs and ISO-8601 Z) out.

The CLI, the API and the dashboard all ask here. Each question is answered from the smallest tables that can:
a range of hours is cut into whole months and days of the rollup zone (read from the rollups) and the hours
left at its edges (read from the raw tables); see `_pieces`. What forces the slower raw path is said where it
happens: a size-bucket filter combined with user or machine filters or groups, and a series drawn in a zone
other than the rollup zone.

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
"""

from __future__ import annotations

import time
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Optional

from sqlalchemy import BigInteger, Connection, Float, case, cast, func, select

from clusterdash.db.filters import HOUR, Filters, ceil_hour, epoch_bounds, hour_of, zone
from clusterdash.db.rollups import bucket_weights, period_starts, rollup_sizes, rollup_usage, rollup_zone
from clusterdash.db.schema import (io_operations, io_size_ranges, log_entries, machines, rejected_lines,
                                   user_sessions, users)
from clusterdash.db.timefmt import iso_utc

BUCKETS = ("hour", "day", "week", "month")
GROUP_BYS = ("none", "user", "machine", "machine_type", "role")
USER_SORTS = ("operations", "bytes", "sessions", "name", "first_seen", "last_seen")
BYTES_ESTIMATE = "midpoint"  # operations x the bucket's midpoint; bytes_low / bytes_high bound it
_GRAIN = {"day": "d", "week": "w", "month": "m"}
# usage measures, in this order everywhere below
_MEASURES = ("sessions", "rows", "operations", "small_operations", "bytes_low", "bytes_mid", "bytes_high",
             "unbounded_rows")


# -- what the database holds -----------------------------------------------------------------------------------

def database_stats(conn: Connection) -> dict[str, Any]:
    """What the database holds, in the shape of `clusterdash stats --json`."""
    blocks, first, last, lost_hours = conn.execute(
        select(func.count(), func.min(log_entries.c.epoch), func.max(log_entries.c.epoch),
               func.count().filter(log_entries.c.lost_events > 0))
    ).one()
    by_direction = dict(conn.execute(
        select(user_sessions.c.direction, func.coalesce(func.sum(user_sessions.c.operations), 0))
        .group_by(user_sessions.c.direction)).all())
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
    }


def recent_rejected_lines(conn: Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The most recently stored rejected lines, newest first."""
    rows = conn.execute(select(rejected_lines.c.source, rejected_lines.c.line_number, rejected_lines.c.reason,
                               rejected_lines.c.text).order_by(rejected_lines.c.id.desc()).limit(limit))
    return [r._asdict() for r in rows]


def latest_block_epoch(conn: Connection) -> Optional[int]:
    return conn.execute(select(func.max(log_entries.c.epoch))).scalar()


# -- filters resolved against the database ---------------------------------------------------------------------

@dataclass
class Scope:
    """Filters resolved to ids and a concrete range of hours [first_hour, end_hour)."""

    filters: Filters
    first_hour: int
    end_hour: int
    user_ids: Optional[list[int]]  # None: every user
    machine_ids: Optional[list[int]]
    size_ids: Optional[list[int]]
    zone: str
    weights: dict

    @property
    def empty(self) -> bool:
        return (self.first_hour >= self.end_hour or self.user_ids == [] or self.machine_ids == []
                or self.size_ids == [])


def resolve(conn: Connection, filters: Filters) -> Scope:
    """Names to ids (via the small Users/Machines/IOSizeRanges tables) and open range ends to the data's extent."""
    first, last = conn.execute(select(func.min(log_entries.c.epoch), func.max(log_entries.c.epoch))).one()
    lo, hi = filters.hour_range()
    if lo is None:
        lo = hour_of(first) if first is not None else 0
    if hi is None:
        hi = hour_of(last) + HOUR if last is not None else lo
    user_ids = machine_ids = size_ids = None
    if filters.filters_users:
        query = select(users.c.id)
        for column, values in ((users.c.username, filters.users), (users.c.role, filters.roles),
                               (users.c.affiliation, filters.affiliations)):
            if values:
                query = query.where(column.in_(values))
        user_ids = sorted(conn.execute(query).scalars())
    if filters.filters_machines:
        query = select(machines.c.id)
        for column, values in ((machines.c.name, filters.machines), (machines.c.machine_type, filters.machine_types)):
            if values:
                query = query.where(column.in_(values))
        machine_ids = sorted(conn.execute(query).scalars())
    if filters.sizes:
        size_ids = sorted(conn.execute(select(io_size_ranges.c.id).where(io_size_ranges.c.label.in_(filters.sizes)))
                          .scalars())
    return Scope(filters, lo, max(lo, hi), user_ids, machine_ids, size_ids, rollup_zone(conn), bucket_weights(conn))


def _pieces(scope: Scope, grains: Iterable[str]) -> list[tuple[Optional[str], int, int]]:
    """[first_hour, end_hour) cut into whole periods of `grains` (largest first) and leftover hours.

    Returns (grain, first period start, end period start) for rollup rows, and (None, first hour, end hour)
    for hours to read from the raw tables. A period [P, Q) holds the hours from ceil_hour(P) to ceil_hour(Q).
    """
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

    return cut(scope.first_hour, scope.end_hour, tuple(grains))


def _sum(column):
    """SUM with the column's own type: PostgreSQL sums bigint as numeric, which Python sees as Decimal."""
    return cast(func.sum(column), Float if isinstance(column.type, Float) else BigInteger)


def _where(scope: Scope, table, user_col, machine_col, direction_col) -> list:
    clauses = []
    if scope.user_ids is not None:
        clauses.append(user_col.in_(scope.user_ids))
    if scope.machine_ids is not None:
        clauses.append(machine_col.in_(scope.machine_ids))
    if scope.filters.direction != "both":
        clauses.append(direction_col == scope.filters.direction)
    return clauses


# -- the two sources: usage (no size detail) and sizes ---------------------------------------------------------

_COLUMN = {"user": "user_id", "machine": "machine_id", "direction": "direction"}


def _usage(conn: Connection, scope: Scope, by: tuple[str, ...] = (), grains=("m", "d"),
           with_time: bool = False, rows: bool = False) -> list[tuple]:
    """Usage sums grouped by `by` (user, machine, direction) [and by period start / hour when with_time].

    Returns tuples: (time?, *group values, *_MEASURES). The time is the period start for rollup rows and the
    hour for raw rows. `rows`: count raw histogram rows too (a join; the rollups carry it already).
    """
    if scope.empty:
        return []
    out = []
    for grain, lo, hi in _pieces(scope, grains):
        if grain is not None:
            t = rollup_usage.c
            groups = ([t.start] if with_time else []) + [t[_COLUMN[b]] for b in by]
            query = (select(*groups, *[_sum(t[m]) for m in _MEASURES])
                     .where(t.grain == grain, t.start >= lo, t.start < hi,
                            *_where(scope, t, t.user_id, t.machine_id, t.direction)))
            out.extend(tuple(r) for r in conn.execute(query.group_by(*groups)) if r[len(groups)] is not None)
            continue
        s = user_sessions.c
        first, end = epoch_bounds(lo, hi)
        groups = ([s.epoch] if with_time else []) + [s[_COLUMN[b]] for b in by]
        clauses = [s.epoch >= first, s.epoch < end, *_where(scope, s, s.user_id, s.machine_id, s.direction)]
        row_count = (select(func.count()).select_from(io_operations).where(io_operations.c.session_id == s.id)
                     .scalar_subquery()) if rows else None
        query = select(*groups, func.count(), _sum(row_count) if rows else func.count() * 0,
                       _sum(s.operations), _sum(s.small_operations), _sum(s.bytes_low),
                       _sum(s.bytes_mid), _sum(s.bytes_high), func.count() - func.count(s.bytes_high))
        for r in conn.execute(query.where(*clauses).group_by(*groups)):
            r = tuple(r)
            if with_time:
                r = (hour_of(r[0]),) + r[1:]
            out.append(r)
    return out


def _sizes(conn: Connection, scope: Scope, by: tuple[str, ...] = (), with_time: bool = False,
           grains=("m", "d")) -> list[tuple]:
    """Per size bucket: (time?, *group values, size_range_id, rows, operations), honouring the size filter.

    The size rollups have no user or machine: with user/machine filters or groups, every hour is read from
    the raw rows (the user and machine indexes keep that to the chosen ones' sessions).
    """
    if scope.empty:
        return []
    needs_raw = scope.user_ids is not None or scope.machine_ids is not None or set(by) - {"direction"}
    out = []
    for grain, lo, hi in _pieces(scope, () if needs_raw else grains):
        if grain is not None:
            t = rollup_sizes.c
            groups = ([t.start] if with_time else []) + [t[_COLUMN[b]] for b in by] + [t.size_range_id]
            clauses = [t.grain == grain, t.start >= lo, t.start < hi]
            if scope.filters.direction != "both":
                clauses.append(t.direction == scope.filters.direction)
            if scope.size_ids is not None:
                clauses.append(t.size_range_id.in_(scope.size_ids))
            query = select(*groups, _sum(t.rows), _sum(t.operations)).where(*clauses).group_by(*groups)
            out.extend(tuple(r) for r in conn.execute(query))
            continue
        s, o = user_sessions.c, io_operations.c
        first, end = epoch_bounds(lo, hi)
        groups = ([s.epoch] if with_time else []) + [s[_COLUMN[b]] for b in by] + [o.size_range_id]
        clauses = [s.epoch >= first, s.epoch < end, *_where(scope, s, s.user_id, s.machine_id, s.direction)]
        if scope.size_ids is not None:
            clauses.append(o.size_range_id.in_(scope.size_ids))
        query = (select(*groups, func.count(), _sum(o.count))
                 .select_from(user_sessions.join(io_operations, o.session_id == s.id))
                 .where(*clauses).group_by(*groups))
        for r in conn.execute(query):
            r = tuple(r)
            out.append((hour_of(r[0]),) + r[1:] if with_time else r)
    return out


def _sum_usage(rows: Iterable[tuple], key_len: int) -> dict[tuple, list]:
    """Usage rows summed by their first key_len values."""
    totals: dict[tuple, list] = {}
    for r in rows:
        key, values = r[:key_len], r[key_len:]
        acc = totals.get(key)
        if acc is None:
            totals[key] = [v or 0 for v in values]
        else:
            for i, v in enumerate(values):
                acc[i] += v or 0
    return totals


def _sizes_as_usage(scope: Scope, rows: Iterable[tuple], key_len: int) -> dict[tuple, list]:
    """Size rows (key..., size_range_id, rows, operations) as usage measures per key (sessions unknown: 0)."""
    totals: dict[tuple, list] = {}
    for r in rows:
        key, bid, nrows, ops = r[:key_len], r[key_len], r[key_len + 1] or 0, r[key_len + 2] or 0
        low, mid, high, small, unbounded = scope.weights[bid]
        acc = totals.setdefault(key, [0, 0, 0, 0, 0.0, 0.0, 0.0, 0])
        acc[1] += nrows
        acc[2] += ops
        acc[3] += ops if small else 0
        acc[4] += ops * low
        acc[5] += ops * mid
        acc[6] += ops * high
        acc[7] += nrows if unbounded else 0
    return totals


def _measures(by: tuple[str, ...], conn: Connection, scope: Scope) -> dict[tuple, list]:
    """Usage sums per group, honouring the size filter (sessions then count the non-size filters only)."""
    usage = _sum_usage(_usage(conn, scope, by, rows=True), len(by))
    if scope.size_ids is None:
        return usage
    sized = _sizes_as_usage(scope, _sizes(conn, scope, by), len(by))
    for key, values in sized.items():
        values[0] = usage.get(key, [0])[0]
    return sized


def _bytes(values: list) -> dict[str, Any]:
    return {"bytes_low": values[4], "bytes": values[5], "bytes_high": None if values[7] else values[6]}


# -- /api/stats --------------------------------------------------------------------------------------------------

def stats(conn: Connection, filters: Filters, now: Optional[float] = None) -> dict[str, Any]:
    """The keys of database_stats, for the hours, users, machines, direction and sizes in `filters`, plus
    `freshness` (the newest block, whatever the filters) and the `gaps` (hours without a block) in the range.
    With a size filter, operations and rows count those buckets only; entries count the histograms that
    match the other filters."""
    scope = resolve(conn, filters)
    per_direction = _measures(("direction",), conn, scope)
    operations = {d: int(per_direction.get((d,), [0, 0, 0])[2]) for d in ("rd", "wr")}
    operations["total"] = operations["rd"] + operations["wr"]
    first, end = epoch_bounds(scope.first_hour, scope.end_hour)
    blocks, first_block, last_block, lost_hours = conn.execute(
        select(func.count(), func.min(log_entries.c.epoch), func.max(log_entries.c.epoch),
               func.count().filter(log_entries.c.lost_events > 0))
        .where(log_entries.c.epoch >= first, log_entries.c.epoch < end)).one()
    rejected_query = select(func.count()).select_from(rejected_lines)
    if filters.start is not None or filters.end is not None:
        rejected_query = rejected_query.where(rejected_lines.c.block_epoch >= first, rejected_lines.c.block_epoch < end)
    active = [key for key, v in _measures(("user",), conn, scope).items() if v[0] or v[2]]
    machines_active = [key for key, v in _measures(("machine",), conn, scope).items() if v[0] or v[2]]
    latest = latest_block_epoch(conn)
    now = time.time() if now is None else now
    hours = block_hours(conn, scope.first_hour, scope.end_hour)
    return {
        "blocks": blocks,
        "entries": int(sum(v[0] for v in per_direction.values())),
        "rows": int(sum(v[1] for v in per_direction.values())),
        "users": len(active),
        "machines": len(machines_active),
        "operations": operations,
        "rejected_lines": conn.execute(rejected_query).scalar_one(),
        "hours_with_lost_events": lost_hours,
        "first": iso_utc(first_block),
        "last": iso_utc(last_block),
        "range": _range(scope),
        "freshness": {"last_block": iso_utc(latest), "last_block_epoch": latest,
                      "age_seconds": None if latest is None else max(0, int(now) - int(latest))},
        "gaps": gaps(hours, scope.first_hour, scope.end_hour) if hours else [],
    }


def _range(scope: Scope) -> dict[str, Any]:
    return {"start": iso_utc(scope.first_hour), "end": iso_utc(scope.end_hour), "start_epoch": scope.first_hour,
            "end_epoch": scope.end_hour, "hours": (scope.end_hour - scope.first_hour) // HOUR}


def block_hours(conn: Connection, first_hour: int, end_hour: int) -> list[int]:
    """The distinct hours in [first_hour, end_hour) that have a block, in order."""
    first, end = epoch_bounds(first_hour, end_hour)
    epochs = conn.execute(select(log_entries.c.epoch).where(log_entries.c.epoch >= first, log_entries.c.epoch < end)
                          .order_by(log_entries.c.epoch)).scalars()
    return sorted({hour_of(e) for e in epochs})


def gaps(hours: list[int], first_hour: int, end_hour: int) -> list[dict[str, Any]]:
    """Runs of hours without a block between the first and the last block in [first_hour, end_hour)."""
    out = []
    for before, after in zip(hours, hours[1:]):
        if after - before > HOUR:
            start, end = before + HOUR, after
            out.append({"start": iso_utc(start), "end": iso_utc(end), "start_epoch": start, "end_epoch": end,
                        "hours": (end - start) // HOUR})
    return out


# -- /api/users and /api/machines ------------------------------------------------------------------------------

def users_table(conn: Connection, filters: Filters, sort: str = "operations", order: str = "desc",
                limit: Optional[int] = None) -> list[dict[str, Any]]:
    """Users active in the range: role, affiliation, first/last seen (ever), sessions, operations and bytes in
    the range. sort: operations|bytes|sessions|name|first_seen|last_seen; order: asc|desc."""
    scope = resolve(conn, filters)
    totals = _measures(("user",), conn, scope)
    info = {r.id: r for r in conn.execute(select(users).where(users.c.id.in_([k[0] for k in totals])))} if totals else {}
    rows = []
    for (uid,), v in totals.items():
        if not (v[0] or v[2]) or uid not in info:
            continue
        u = info[uid]
        rows.append({"user": u.username, "role": u.role, "affiliation": u.affiliation,
                     "first_seen": iso_utc(u.first_seen), "last_seen": iso_utc(u.last_seen),
                     "sessions": int(v[0]), "operations": int(v[2]), "small_operations": int(v[3]), **_bytes(v)})
    return _sort(rows, sort, order, limit, "user")


def machines_table(conn: Connection, filters: Filters, sort: str = "operations", order: str = "desc",
                   limit: Optional[int] = None) -> list[dict[str, Any]]:
    """Machines active in the range: type, first/last seen (ever), users, sessions, operations and bytes."""
    scope = resolve(conn, filters)
    totals = _measures(("machine",), conn, scope)
    info = ({r.id: r for r in conn.execute(select(machines).where(machines.c.id.in_([k[0] for k in totals])))}
            if totals else {})
    user_counts: dict[int, int] = {}
    for (mid, uid), v in _sum_usage(_usage(conn, scope, ("machine", "user")), 2).items():
        if v[0]:
            user_counts[mid] = user_counts.get(mid, 0) + 1
    rows = []
    for (mid,), v in totals.items():
        if not (v[0] or v[2]) or mid not in info:
            continue
        m = info[mid]
        rows.append({"machine": m.name, "machine_type": m.machine_type, "first_seen": iso_utc(m.first_seen),
                     "last_seen": iso_utc(m.last_seen), "users": user_counts.get(mid, 0), "sessions": int(v[0]),
                     "operations": int(v[2]), "small_operations": int(v[3]), **_bytes(v)})
    return _sort(rows, sort, order, limit, "machine")


def _sort(rows: list[dict], sort: str, order: str, limit: Optional[int], name: str) -> list[dict]:
    if sort not in USER_SORTS:
        raise ValueError(f"sort: must be one of {', '.join(USER_SORTS)}")
    if order not in ("asc", "desc"):
        raise ValueError("order: must be asc or desc")
    if limit is not None and limit < 0:
        raise ValueError("limit: must be 0 or more")
    field = name if sort == "name" else sort
    # Ties (and missing values) fall back to the name, so the order is stable from request to request.
    rows.sort(key=lambda r: r[name])
    rows.sort(key=lambda r: (r[field] is None, r[field] if r[field] is not None else 0), reverse=(order == "desc"))
    return rows if limit is None else rows[:limit]


# -- /api/usage/size -------------------------------------------------------------------------------------------

def size_buckets(conn: Connection) -> list[dict[str, Any]]:
    """Every size bucket seen, smallest first: id, label, lower and upper bound in bytes (None: none)."""
    rows = conn.execute(select(io_size_ranges)).all()
    rows.sort(key=lambda r: (r.lower_bytes is not None, r.lower_bytes or 0, r.upper_bytes is None,
                             r.upper_bytes or 0))
    return [{"id": r.id, "label": r.label, "lower_bytes": r.lower_bytes, "upper_bytes": r.upper_bytes} for r in rows]


def size_distribution(conn: Connection, filters: Filters) -> dict[str, Any]:
    """Operations per size bucket, with bytes as count x lower bound, x midpoint (the estimate) and x upper
    bound (None for an open bucket, which has none)."""
    scope = resolve(conn, filters)
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
        low, mid, high, small, unbounded = scope.weights[bucket["id"]]
        out.append({"label": bucket["label"], "lower_bytes": bucket["lower_bytes"], "upper_bytes": bucket["upper_bytes"],
                    "small": small, "rows": int(nrows), "operations": int(ops), "bytes_low": ops * low,
                    "bytes": ops * mid, "bytes_high": None if unbounded else ops * high})
    total = sum(b["operations"] for b in out)
    return {"range": _range(scope), "bytes_estimate": BYTES_ESTIMATE,
            "note": "bytes = operations x bucket midpoint; bytes_low and bytes_high use the lower and upper bound",
            "operations": total, "bytes": sum(b["bytes"] for b in out), "buckets": out}


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
    bounds = sorted(set(max(lo, min(hi, b)) for b in bounds))
    return bounds if len(bounds) > 1 else [lo, hi]


def time_series(conn: Connection, filters: Filters, bucket: Optional[str] = None, group_by: str = "none",
                top: int = 10) -> dict[str, Any]:
    """Operations and bytes per time bucket (in filters.tz), per group: the `top` groups by operations in the
    range and the rest summed as "other". A bucket without any block has operations None (no data is not
    zero IO); each bucket says how many of its hours have a block."""
    if bucket is not None and bucket not in BUCKETS:
        raise ValueError(f"bucket: must be one of {', '.join(BUCKETS)}")
    if group_by not in GROUP_BYS:
        raise ValueError(f"group_by: must be one of {', '.join(GROUP_BYS)}")
    if not isinstance(top, int) or top < 1 or top > 1000:
        raise ValueError("top: must be between 1 and 1000")
    scope = resolve(conn, filters)
    bucket = bucket or choose_bucket(scope.first_hour, scope.end_hour)
    if (scope.end_hour - scope.first_hour) // HOUR > 100_000 and bucket == "hour":
        raise ValueError("bucket: hour buckets cover at most 100,000 hours; narrow start/end or use day")
    bounds = _bucket_bounds(bucket, scope)
    sql_by = {"none": (), "user": ("user",), "role": ("user",), "machine": ("machine",),
              "machine_type": ("machine",)}[group_by]
    # Whole periods come from the rollups only when they are periods of the display zone.
    same_zone = scope.zone == filters.tz
    grains = () if bucket == "hour" or not same_zone else {"day": ("d",), "week": ("w", "d"), "month": ("m", "d")}[bucket]
    if scope.size_ids is None:
        rows = [(r[0], *r[1:1 + len(sql_by)], r[1 + len(sql_by) + 2], r[1 + len(sql_by) + 5])
                for r in _usage(conn, scope, sql_by, grains=grains, with_time=True)]
    else:
        rows = []
        for r in _sizes(conn, scope, sql_by, with_time=True, grains=grains):
            bid, ops = r[1 + len(sql_by)], r[3 + len(sql_by)] or 0
            rows.append((r[0], *r[1:1 + len(sql_by)], ops, ops * scope.weights[bid][1]))
    label = _group_labels(conn, group_by, {r[1] for r in rows} if sql_by else set())
    n = len(bounds) - 1
    series: dict[str, list] = {}
    for row in rows:
        i = bisect_right(bounds, ceil_hour(row[0])) - 1
        if not 0 <= i < n:
            continue
        name = label(row[1]) if sql_by else "all"
        values = series.setdefault(name, [[0, 0.0] for _ in range(n)])
        values[i][0] += row[-2] or 0
        values[i][1] += row[-1] or 0.0
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
    if not sql_by and "all" not in series and n:
        series["all"] = [[0, 0.0] for _ in range(n)]
        keep = ["all"]
    coverage = [0] * n
    for h in block_hours(conn, scope.first_hour, scope.end_hour):
        i = bisect_right(bounds, h) - 1
        if 0 <= i < n:
            coverage[i] += 1
    buckets = [{"time": iso_utc(bounds[i]), "epoch": bounds[i], "hours": (bounds[i + 1] - bounds[i]) // HOUR,
                "hours_with_data": coverage[i]} for i in range(n)]
    points = [{"time": buckets[i]["time"], "epoch": bounds[i], "group": g,
               "operations": int(series[g][i][0]) if coverage[i] else None,
               "bytes": series[g][i][1] if coverage[i] else None}
              for g in keep for i in range(n)]
    return {"range": _range(scope), "tz": filters.tz, "bucket": bucket, "group_by": group_by, "top": top,
            "bytes_estimate": BYTES_ESTIMATE, "groups": keep, "buckets": buckets, "points": points}


def _group_labels(conn: Connection, group_by: str, ids: set):
    """id -> group name for a series: the user or machine name, or its role / machine type."""
    if group_by in ("user", "role"):
        rows = conn.execute(select(users.c.id, users.c.username, users.c.role).where(users.c.id.in_(ids))) if ids else []
        names = {r[0]: (r[1] if group_by == "user" else (r[2] or "(none)")) for r in rows}
    elif group_by in ("machine", "machine_type"):
        rows = (conn.execute(select(machines.c.id, machines.c.name, machines.c.machine_type)
                             .where(machines.c.id.in_(ids))) if ids else [])
        names = {r[0]: (r[1] if group_by == "machine" else r[2]) for r in rows}
    else:
        names = {}
    return lambda key: names.get(key, str(key))


# -- profiles ----------------------------------------------------------------------------------------------------

def user_profile(conn: Connection, username: str, filters: Filters) -> Optional[dict[str, Any]]:
    """One user in the range: role, affiliation, first/last seen, totals, machines used, size distribution and
    a time series. None when no such user exists. The filters' own user list is replaced by this user."""
    u = conn.execute(select(users).where(users.c.username == username)).one_or_none()
    if u is None:
        return None
    narrowed = filters.with_(users=(username,), roles=(), affiliations=())
    return {"user": u.username, "role": u.role, "affiliation": u.affiliation, "first_seen": iso_utc(u.first_seen),
            "last_seen": iso_utc(u.last_seen), **_profile(conn, narrowed, "machine")}


def machine_profile(conn: Connection, name: str, filters: Filters) -> Optional[dict[str, Any]]:
    """One machine in the range: type, first/last seen, totals, users seen, size distribution, time series."""
    m = conn.execute(select(machines).where(machines.c.name == name)).one_or_none()
    if m is None:
        return None
    narrowed = filters.with_(machines=(name,), machine_types=())
    return {"machine": m.name, "machine_type": m.machine_type, "first_seen": iso_utc(m.first_seen),
            "last_seen": iso_utc(m.last_seen), **_profile(conn, narrowed, "user")}


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
    table = users_table if other == "user" else machines_table
    listed = table(conn, filters, sort="operations", order="desc", limit=None)
    size = size_distribution(conn, filters)
    series = time_series(conn, filters)
    return {"range": _range(scope), "totals": totals, f"{other}s": listed, "sizes": size["buckets"],
            "bytes_estimate": BYTES_ESTIMATE, "series": {k: series[k] for k in ("bucket", "tz", "buckets", "points")}}


# -- for the dashboard (added by the dashboard's author; built on the helpers above) ----------------------------

def data_version(conn: Connection) -> list:
    """A value that changes whenever an ingest adds a block, completes one or rejects a line: the dashboard
    polls it and redraws only when it changed. [newest epoch, blocks, newest session id, rejected lines]."""
    epoch, blocks = conn.execute(select(func.max(log_entries.c.epoch), func.count())).one()
    session = conn.execute(select(func.max(user_sessions.c.id))).scalar()
    rejected = conn.execute(select(func.max(rejected_lines.c.id))).scalar()
    return [epoch, blocks, session, rejected]


def data_health(conn: Connection, filters: Filters, now: Optional[float] = None) -> dict[str, Any]:
    """How complete the data in the range is, whatever the user/machine/size filters: the newest block and its
    age, blocks in the range, the gaps (hours without a block), hours flagged with lost events, rejected lines
    (those in blocks of the range, and those outside any block, which have no time)."""
    scope = resolve(conn, filters)
    first, end = epoch_bounds(scope.first_hour, scope.end_hour)
    blocks, lost_hours = conn.execute(
        select(func.count(), func.count().filter(log_entries.c.lost_events > 0))
        .where(log_entries.c.epoch >= first, log_entries.c.epoch < end)).one()
    rejected = conn.execute(select(func.count()).select_from(rejected_lines)
                            .where(rejected_lines.c.block_epoch >= first, rejected_lines.c.block_epoch < end)).scalar_one()
    outside = conn.execute(select(func.count()).select_from(rejected_lines)
                           .where(rejected_lines.c.block_epoch.is_(None))).scalar_one()
    latest = latest_block_epoch(conn)
    now = time.time() if now is None else now
    hours = block_hours(conn, scope.first_hour, scope.end_hour)
    return {"range": _range(scope), "blocks": blocks, "hours_with_lost_events": lost_hours,
            "rejected_lines": rejected, "rejected_lines_outside_blocks": outside,
            "gaps": gaps(hours, scope.first_hour, scope.end_hour) if hours else [],
            "freshness": {"last_block": iso_utc(latest), "last_block_epoch": latest,
                          "age_seconds": None if latest is None else max(0, int(now) - int(latest))}}


def user_machine_usage(conn: Connection, filters: Filters) -> list[dict[str, Any]]:
    """One dict per (user, machine) pair active in the range, most operations first: the user's role and
    affiliation, the machine's type, sessions, operations, small operations and bytes (midpoint estimate)."""
    scope = resolve(conn, filters)
    totals = _measures(("user", "machine"), conn, scope)
    user_ids = {k[0] for k in totals}
    machine_ids = {k[1] for k in totals}
    user_info = {r.id: r for r in conn.execute(select(users).where(users.c.id.in_(user_ids)))} if user_ids else {}
    machine_info = ({r.id: r for r in conn.execute(select(machines).where(machines.c.id.in_(machine_ids)))}
                    if machine_ids else {})
    rows = []
    for (uid, mid), v in totals.items():
        if not (v[0] or v[2]) or uid not in user_info or mid not in machine_info:
            continue
        u, m = user_info[uid], machine_info[mid]
        rows.append({"user": u.username, "role": u.role, "affiliation": u.affiliation, "machine": m.name,
                     "machine_type": m.machine_type, "sessions": int(v[0]), "operations": int(v[2]),
                     "small_operations": int(v[3]), **_bytes(v)})
    rows.sort(key=lambda r: (-r["operations"], r["user"], r["machine"]))
    return rows


def size_series(conn: Connection, filters: Filters, bucket: Optional[str] = None) -> dict[str, Any]:
    """Operations and bytes (midpoint estimate) per time bucket (in filters.tz) x size bucket: the size-over-time
    heatmap. Time buckets as in time_series (choose_bucket when none is asked for); `cells` lists only the
    non-zero (time, size) pairs, and `buckets` says how many hours of each time bucket have a block."""
    if bucket is not None and bucket not in BUCKETS:
        raise ValueError(f"bucket: must be one of {', '.join(BUCKETS)}")
    scope = resolve(conn, filters)
    bucket = bucket or choose_bucket(scope.first_hour, scope.end_hour)
    bounds = _bucket_bounds(bucket, scope)
    same_zone = scope.zone == filters.tz
    grains = () if bucket == "hour" or not same_zone else {"day": ("d",), "week": ("w", "d"), "month": ("m", "d")}[bucket]
    n = len(bounds) - 1
    needs_raw = scope.user_ids is not None or scope.machine_ids is not None or not same_zone
    if bucket != "hour" and needs_raw:
        # The raw rows, summed per local day in SQL: a year is then ~365 x buckets rows, not ~8,760 x buckets.
        rows = ((day, bid, None, ops) for day, bid, ops in _raw_sizes_per_local_day(conn, scope))
    else:
        rows = _sizes(conn, scope, with_time=True, grains=grains)
    cells: dict[tuple[int, int], int] = {}
    for when, bid, _rows, ops in rows:
        i = max(0, bisect_right(bounds, ceil_hour(when)) - 1)  # a day cut by the range start counts in bucket 0
        if i < n and ops:
            cells[(i, bid)] = cells.get((i, bid), 0) + int(ops)
    coverage = [0] * n
    for h in block_hours(conn, scope.first_hour, scope.end_hour):
        i = bisect_right(bounds, h) - 1
        if 0 <= i < n:
            coverage[i] += 1
    sizes = {b["id"]: b for b in size_buckets(conn)}
    used = sorted({bid for _, bid in cells}, key=lambda bid: list(sizes).index(bid))
    return {"range": _range(scope), "tz": filters.tz, "bucket": bucket, "bytes_estimate": BYTES_ESTIMATE,
            "buckets": [{"time": iso_utc(bounds[i]), "epoch": bounds[i], "hours": (bounds[i + 1] - bounds[i]) // HOUR,
                         "hours_with_data": coverage[i]} for i in range(n)],
            "sizes": [{"label": sizes[bid]["label"], "lower_bytes": sizes[bid]["lower_bytes"]} for bid in used],
            "cells": [{"epoch": bounds[i], "label": sizes[bid]["label"], "lower_bytes": sizes[bid]["lower_bytes"],
                       "operations": ops, "bytes": ops * scope.weights[bid][1]}
                      for (i, bid), ops in sorted(cells.items())]}


def _utc_offsets(lo: int, hi: int, tz: str) -> list[tuple[int, int]]:
    """[(from_epoch, utc offset seconds)] for [lo, hi) in `tz`: one entry per stretch of constant offset."""
    zone_info = zone(tz)

    def offset(epoch: int) -> int:
        return int(datetime.fromtimestamp(epoch, zone_info).utcoffset().total_seconds())

    segments = [(lo, offset(lo))]
    for start in period_starts("d", lo, hi, tz)[1:]:
        if start >= hi or offset(start) == segments[-1][1]:
            continue
        moment = start - 26 * HOUR  # the change happened during the day before: find its hour
        while offset(moment) == segments[-1][1]:
            moment += HOUR
        segments.append((max(lo, moment // HOUR * HOUR), offset(moment)))
    return segments


def _raw_sizes_per_local_day(conn: Connection, scope: Scope) -> list[tuple[int, int, int]]:
    """(local midnight epoch, size_range_id, operations) from the raw rows of [first_hour, end_hour), a block
    counted in the local day (scope.filters.tz) of the hour it reports; honours every filter."""
    s, o = user_sessions.c, io_operations.c
    first, end = epoch_bounds(scope.first_hour, scope.end_hour)
    hour = (s.epoch - HOUR // 2) // HOUR * HOUR  # hour_of, in SQL (floor division: // in SQLAlchemy 2)
    segments = _utc_offsets(scope.first_hour, scope.end_hour, scope.filters.tz)
    shift = (case(*[(hour < start, previous) for (start, _), (_, previous) in zip(segments[1:], segments)],
                  else_=segments[-1][1]) if len(segments) > 1 else segments[0][1])
    day = ((hour + shift) // 86400).label("day")
    clauses = [s.epoch >= first, s.epoch < end, *_where(scope, s, s.user_id, s.machine_id, s.direction)]
    if scope.size_ids is not None:
        clauses.append(o.size_range_id.in_(scope.size_ids))
    query = (select(day, o.size_range_id, func.sum(o.count))
             .select_from(user_sessions.join(io_operations, o.session_id == s.id))
             .where(*clauses).group_by(day, o.size_range_id))
    epoch_day = date(1970, 1, 1)
    return [(_local_midnight(epoch_day + timedelta(days=int(d)), scope.filters.tz), bid, int(ops or 0))
            for d, bid, ops in conn.execute(query)]


def _local_midnight(day: date, tz: str) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone(tz)).timestamp())
