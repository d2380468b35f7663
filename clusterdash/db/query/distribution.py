"""Sizes: the buckets seen, operations and bytes per bucket (size_distribution) and per time bucket x size bucket
(size_series, the dashboard's heatmap)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from clusterdash.db.filters import Filters
from clusterdash.db.query.buckets import (
    bucket_bounds,
    bucket_of,
    check_bucket,
    check_points,
    choose_bucket,
    series_grains,
)
from clusterdash.db.query.by_size import size_rows
from clusterdash.db.query.coverage import blocks, time_buckets
from clusterdash.db.query.measures import BYTES_ESTIMATE
from clusterdash.db.query.scope import Reader, Scope, resolve
from clusterdash.db.query.sources import grains_of, raw_sessions, size_table
from clusterdash.db.query.sql import local_days, through
from clusterdash.db.schema import io_operations, io_size_ranges, user_sessions


def size_buckets(conn: Connection) -> list[dict[str, Any]]:
    """Every size bucket seen, smallest first: id, label, lower and upper bound in bytes (None: none)."""
    rows = list(conn.execute(select(io_size_ranges)))
    rows.sort(key=lambda r: (r.lower_bytes is not None, r.lower_bytes or 0, r.upper_bytes is None, r.upper_bytes or 0))
    return [{"id": r.id, "label": r.label, "lower_bytes": r.lower_bytes, "upper_bytes": r.upper_bytes} for r in rows]


def size_distribution(conn: Connection, filters: Filters) -> dict[str, Any]:
    """Operations per size bucket, with bytes as count x lower bound, x midpoint (the estimate) and x upper
    bound (None for an open bucket, which has none)."""
    return distribution(Reader(conn), resolve(conn, filters))


def distribution(reader: Reader, scope: Scope) -> dict[str, Any]:
    per_bucket: dict[int, list[int]] = {}
    for row in size_rows(reader, scope):
        acc = per_bucket.setdefault(row.size_id, [0, 0])
        acc[0] += row.rows
        acc[1] += row.operations
    out = []
    for bucket in size_buckets(reader.conn):
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
    return {
        "range": scope.range_fields(),
        "bytes_estimate": BYTES_ESTIMATE,
        "note": "bytes = operations x bucket midpoint; bytes_low and bytes_high use the lower and upper bound",
        "operations": sum(b["operations"] for b in out),
        "bytes": sum(b["bytes"] for b in out),
        "buckets": out,
    }


def size_series(conn: Connection, filters: Filters, bucket: str | None = None) -> dict[str, Any]:
    """Operations and bytes (midpoint estimate) per time bucket (in filters.tz) x size bucket: the size-over-time
    heatmap. Time buckets as in time_series (choose_bucket when none is asked for); `cells` lists only the
    non-zero (time, size) pairs, and `buckets` says how many hours of each time bucket have a block."""
    check_bucket(bucket)
    reader, scope = Reader(conn), resolve(conn, filters)
    bucket = bucket or choose_bucket(scope.first_hour, scope.end_hour)
    check_points(bucket, scope.first_hour, scope.end_hour, max(1, len(scope.weights)))
    bounds = bucket_bounds(bucket, scope)
    n = len(bounds) - 1
    usable = grains_of(size_table(scope, ()), series_grains(bucket, scope)) if scope.zone is not None else ()
    if bucket == "day" and scope.zone != scope.filters.tz:
        usable = ()  # no rollup day lies inside a day of another zone
    if bucket != "hour" and not usable:
        # No rollup helps: the raw rows, summed per local day in SQL (a year: ~365 x buckets rows, not ~8,760 x).
        rows = _raw_sizes_per_local_day(reader, scope)
    else:
        rows = [(r.key[0], r.size_id, r.operations) for r in size_rows(reader, scope, (), True, usable, bounds)]
    cells: dict[tuple[int, int], int] = {}
    for when, bid, ops in rows:
        i = bucket_of(bounds, when)  # a day cut by the range start counts in bucket 0
        if i < n and ops:
            cells[(i, bid)] = cells.get((i, bid), 0) + int(ops)
    coverage = blocks(conn).coverage(bounds)
    sizes = {b["id"]: b for b in size_buckets(conn)}
    order = {bid: i for i, bid in enumerate(sizes)}
    used = sorted({bid for _, bid in cells}, key=lambda bid: order[bid])
    return {
        "range": scope.range_fields(),
        "tz": scope.filters.tz,
        "bucket": bucket,
        "bytes_estimate": BYTES_ESTIMATE,
        "buckets": time_buckets(bounds, coverage),
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


def _raw_sizes_per_local_day(reader: Reader, scope: Scope) -> list[tuple[int, int, int]]:
    """(local midnight epoch, size_range_id, operations) from the raw rows of [first_hour, end_hour), a block
    counted in the local day (scope.filters.tz) of the hour it reports; honours every filter."""
    s, o = user_sessions.c, io_operations.c
    index, clauses = raw_sessions(reader, scope, scope.first_hour, scope.end_hour)
    day_number, midnight = local_days(scope.first_hour, scope.end_hour, scope.filters.tz)
    day = day_number.label("day")
    if scope.size_ids is not None:
        clauses.append(o.size_range_id.in_(scope.size_ids))
    query = (
        select(day, o.size_range_id, func.sum(o.count))
        .select_from(user_sessions.join(io_operations, o.session_id == s.id))
        .where(*clauses)
        .group_by(day, o.size_range_id)
    )
    return [(midnight(d), bid, int(ops or 0)) for d, bid, ops in reader.conn.execute(through(query, index))]
