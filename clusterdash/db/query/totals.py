"""Totals per group honouring every filter, the size filter included: usage sums, and who was active."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from clusterdash.db.query.by_size import size_rows
from clusterdash.db.query.measures import MEASURES, Measures, sizes_total_by
from clusterdash.db.query.scope import Reader, Scope, rollup_where
from clusterdash.db.query.sources import COLUMN, grains_of, plan, raw_sessions, usage_table
from clusterdash.db.query.sql import through
from clusterdash.db.query.usage import sessions, usage
from clusterdash.db.rollups import bucket_mask
from clusterdash.db.schema import io_operations, user_sessions


def group_totals(
    reader: Reader, scope: Scope, by: tuple[str, ...], rows: bool = False, measures: tuple[str, ...] = MEASURES
) -> dict[tuple, Measures]:
    """Usage sums per group, honouring the size filter (sessions then count the non-size filters only).
    `measures` limits what is summed: without a size filter any of them, with one whether sessions are counted
    (the size rows give every other measure at once)."""
    if scope.size_ids is None:
        return usage(reader, scope, by, measures, rows)
    sized = sizes_total_by(size_rows(reader, scope, by), scope.weights)
    if "sessions" not in measures:
        return sized
    counted = sessions(reader, scope, by)
    return {key: replace(measured, sessions=counted.get(key, 0)) for key, measured in sized.items()}


def active(reader: Reader, scope: Scope, dimension: str) -> set[int]:
    """Ids of the users or machines with a session in the scope (with a size filter: with a row in one of those
    buckets). For the size filter RollupUsage's bucket bit sets answer it for any user x machine filter."""
    if scope.empty:
        return set()
    mask = None
    if scope.size_ids is not None:
        mask = bucket_mask(scope.size_ids)
        if mask is None:  # a bucket without a bit: sum its rows instead
            return {row.key[0] for row in size_rows(reader, scope, (dimension,))}
    table = usage_table(scope, (dimension,))
    periods, raw = plan(scope, grains_of(table))
    t = table.c
    found: set[int] = set()
    for grain, starts in periods.items():
        clauses = [t.grain == grain, t.start.in_(starts), *rollup_where(scope, table)]
        if mask is not None:
            clauses.append(t.buckets.op("&")(mask) != 0)
        found.update(reader.conn.execute(select(t[COLUMN[dimension]]).where(*clauses).distinct()).scalars())
    s, o = user_sessions.c, io_operations.c
    for lo, hi in raw:
        index, clauses = raw_sessions(reader, scope, lo, hi)
        query = select(s[COLUMN[dimension]]).where(*clauses)
        if scope.size_ids is not None:
            query = query.where(
                select(o.session_id).where(o.session_id == s.id, o.size_range_id.in_(scope.size_ids)).exists()
            )
        found.update(reader.conn.execute(through(query.distinct(), index)).scalars())
    return found
