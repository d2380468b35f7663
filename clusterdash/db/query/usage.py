"""Usage sums (sessions, rows, operations, bytes) per group, from the usage rollups and from UserSessions,
which carries each session's totals. No size filter here: totals.py applies it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from sqlalchemy import Select, func, select

from clusterdash.db.query.measures import MEASURES, Measures, measures_of
from clusterdash.db.query.scope import Reader, Scope, rollup_where
from clusterdash.db.query.sources import grains_of, grouping, plan, raw_sessions, raw_time, usage_table
from clusterdash.db.query.sql import through, total
from clusterdash.db.schema import io_operations, user_sessions

ALL_GRAINS = ("y", "m", "w", "d")


class UsageQuery(NamedTuple):
    """One SELECT of usage sums: its columns are (time?, *group values, *measures), and `when` turns its time
    value into an epoch (a period start, an hour or a local midnight)."""

    query: Select
    when: Callable[[int], int] | None  # None: no time column
    grouped: bool


def usage_queries(
    scope: Scope,
    reader: Reader,
    by: tuple[str, ...] = (),
    grains: tuple[str, ...] = ALL_GRAINS,
    with_time: bool = False,
    measures: tuple[str, ...] = MEASURES,
    rows: bool = False,
    bounds: list[int] | None = None,
    per_day: bool = False,
) -> Iterator[UsageQuery]:
    """The SELECTs of usage sums grouped by `by` (user, machine, direction, role, machine_type) [and by period
    start / hour when with_time]: one per rollup grain, one per raw piece. The time is the period start for
    rollup rows and the hour for raw rows (with per_day: the local midnight of its day, see sources.raw_time).
    `rows`: count raw histogram rows too (a subquery per session; the rollups carry it). `bounds`: the series'
    bucket boundaries (sources.plan)."""
    if scope.empty:
        return
    table = usage_table(scope, by)
    periods, raw = plan(scope, grains_of(table, grains), bounds)
    t = table.c
    by_columns, source = grouping(table, by)
    for grain, starts in periods.items():
        groups = ([t.start] if with_time else []) + by_columns
        query = (
            select(*groups, *[total(t[m]) for m in measures])
            .select_from(source)
            .where(t.grain == grain, t.start.in_(starts), *rollup_where(scope, table))
        )
        yield UsageQuery(
            query.group_by(*groups) if groups else query, (lambda start: start) if with_time else None, bool(groups)
        )
    by_columns, source = grouping(user_sessions, by)
    for lo, hi in raw:
        index, clauses = raw_sessions(reader, scope, lo, hi)
        when, convert = raw_time(scope, lo, hi, per_day)
        groups = ([when] if with_time else []) + by_columns
        query = through(
            select(*groups, *[_raw_measure(m, rows) for m in measures]).select_from(source).where(*clauses),
            index,
        )
        yield UsageQuery(query.group_by(*groups) if groups else query, convert if with_time else None, bool(groups))


def _raw_measure(name: str, rows: bool) -> Any:
    """A measure summed over UserSessions rows (each session carries its totals; its histogram rows are counted
    only when asked for)."""
    s = user_sessions.c
    if name == "sessions":
        return func.count()
    if name == "unbounded_rows":
        return func.count() - func.count(s.bytes_high)
    if name == "rows":
        if not rows:
            return func.count() * 0
        count = select(func.count()).select_from(io_operations).where(io_operations.c.session_id == s.id)
        return total(count.scalar_subquery())
    return total(s[name])


def usage(
    reader: Reader, scope: Scope, by: tuple[str, ...] = (), measures: tuple[str, ...] = MEASURES, rows: bool = False
) -> dict[tuple, Measures]:
    """Usage sums per group over the whole range (no size filter applied), `measures` only (others 0)."""
    return {key: _measures(measures, values) for key, values in _sums(reader, scope, by, measures, rows).items()}


def sessions(reader: Reader, scope: Scope, by: tuple[str, ...] = ()) -> dict[tuple, int]:
    """Sessions per group over the whole range (no size filter applied); many groups (user x machine) cost
    one number each."""
    return {key: count for key, (count,) in _sums(reader, scope, by, ("sessions",), False).items()}


def _sums(
    reader: Reader, scope: Scope, by: tuple[str, ...], measures: tuple[str, ...], rows: bool
) -> dict[tuple, list]:
    """Per group, the values of `measures` (in that order), summed over the queries' rows."""
    sums: dict[tuple, list] = {}
    width = len(by)
    for query, _, grouped in usage_queries(scope, reader, by, measures=measures, rows=rows):
        for r in reader.conn.execute(query):
            if grouped or r[0]:  # an ungrouped SUM over no rows: nothing to count (callers ask sessions first)
                key, values = tuple(r[:width]), r[width:]
                found = sums.get(key)
                sums[key] = [v or 0 for v in values] if found is None else [a + (v or 0) for a, v in zip(found, values)]
    return sums


def _measures(names: tuple[str, ...], values: list) -> Measures:
    if names == MEASURES:
        return measures_of(values)
    return Measures(**dict(zip(names, values)))
