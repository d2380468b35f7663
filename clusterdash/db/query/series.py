"""Operations and bytes over time (time_series): per bucket of the display zone, per group, the top groups by
operations and the rest as "other"."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from sqlalchemy import Connection, select

from clusterdash.db.filters import Filters
from clusterdash.db.periods import HOUR
from clusterdash.db.query.buckets import bucket_bounds, bucket_of, check_bucket, choose_bucket, series_grains
from clusterdash.db.query.by_size import size_rows
from clusterdash.db.query.coverage import blocks, iso_many
from clusterdash.db.query.measures import BYTES_ESTIMATE, operations_by
from clusterdash.db.query.scope import SEEK_IDS, Reader, Scope, resolve
from clusterdash.db.query.sources import size_table
from clusterdash.db.query.usage import usage, usage_queries
from clusterdash.db.schema import machines, users
from clusterdash.errors import BadParameter

GROUP_BYS = ("none", "user", "machine", "machine_type", "role")
MAX_TOP = 1000


class SeriesRow(NamedTuple):
    """Operations and bytes (midpoint estimate) at a time (a period start, an hour or a local midnight)."""

    when: int
    group: Any  # the group's value (an id, a role, a machine type); None when not grouped
    operations: int
    bytes: float


def time_series(
    conn: Connection, filters: Filters, bucket: str | None = None, group_by: str = "none", top: int = 10
) -> dict[str, Any]:
    """Operations and bytes per time bucket (in filters.tz), per group: the `top` groups by operations in the
    range and the rest summed as "other". A bucket without any block has operations None (no data is not
    zero IO); each bucket says how many of its hours have a block."""
    check_bucket(bucket)
    if group_by not in GROUP_BYS:
        raise BadParameter("group_by", f"must be one of {', '.join(GROUP_BYS)}")
    if not isinstance(top, int) or top < 1 or top > MAX_TOP:
        raise BadParameter("top", f"must be between 1 and {MAX_TOP}")
    return series(Reader(conn), resolve(conn, filters), bucket, group_by, top)


def series(reader: Reader, scope: Scope, bucket: str | None, group_by: str, top: int) -> dict[str, Any]:
    bucket = bucket or choose_bucket(scope.first_hour, scope.end_hour)
    bounds = bucket_bounds(bucket, scope)
    read = _Reading(reader, bounds, series_grains(bucket, scope), bucket != "hour")
    n = len(bounds) - 1
    values: dict[str, list] = {}

    def add(rows: Iterable[SeriesRow], name: Callable[[Any], str]) -> None:
        """Rows into values[name(group)] per bucket."""
        index_of: dict[int, int] = {}
        for row in rows:
            i = index_of.get(row.when)
            if i is None:
                i = index_of[row.when] = bucket_of(bounds, row.when)
            if i >= n:
                continue
            key = name(row.group)
            found = values.get(key)
            if found is None:
                found = values[key] = [[0, 0.0] for _ in range(n)]
            found[i][0] += row.operations or 0
            found[i][1] += row.bytes or 0.0

    raw_groups = scope.size_ids is not None and size_table(scope, (group_by,)) is None
    if group_by in ("user", "machine") and not raw_groups:
        # Rank the users (machines) on their totals, then read per bucket only the top ones, and the rest as one.
        # (When only raw rows have these sizes per user or machine, one read of all groups is cheaper: below.)
        dimension = (group_by,)
        totals = _group_operations(reader, scope, dimension)
        label = _group_labels(reader.conn, group_by, set(totals))
        ranked = sorted(totals, key=lambda key: (-totals[key], label(key)))
        keep, rest = ranked[:top], ranked[top:]
        ids = "user_ids" if group_by == "user" else "machine_ids"
        if group_by == "machine":
            scope = scope.narrowed(types=None)  # machine lists below are named machines
        if scope.size_ids is None:
            if keep:
                add(read.rows(scope.narrowed(**{ids: keep}), dimension), label)
            if rest:
                add(read.rows(scope.narrowed(**{ids: rest}), ()), lambda _: "other")
        else:
            kept = read.sizes(scope.narrowed(**{ids: keep}), dimension) if keep else []
            add(
                [
                    SeriesRow(r.key[0], r.key[1], r.operations, r.operations * scope.weights[r.size_id].mid)
                    for r in kept
                ],
                label,
            )
            if rest and len(rest) > SEEK_IDS:
                # Many others: everything minus the top ones, per bucket and size (integers, so exact).
                cells: dict[tuple[int, int], int] = {}
                for r in read.sizes(scope, ()):
                    cell = (bucket_of(bounds, r.key[0]), r.size_id)
                    cells[cell] = cells.get(cell, 0) + r.operations
                for r in kept:
                    cells[(bucket_of(bounds, r.key[0]), r.size_id)] -= r.operations
                add(
                    [
                        SeriesRow(bounds[i], None, ops, ops * scope.weights[bid].mid)
                        for (i, bid), ops in cells.items()
                        if i < n
                    ],
                    lambda _: "other",
                )
            elif rest:
                add(read.rows(scope.narrowed(**{ids: rest}), ()), lambda _: "other")
        names = [label(key) for key in keep] + (["other"] if rest else [])
        for name in names:
            values.setdefault(name, [[0, 0.0] for _ in range(n)])
        groups = names
    else:
        by = () if group_by == "none" else (group_by,)
        label_of: Callable[[Any], str] = (
            (lambda _: "all")
            if not by
            else (lambda value: value or "(none)")
            if group_by == "role"
            else _group_labels(reader.conn, group_by, None)
            if group_by in ("user", "machine")
            else str
        )
        add(read.rows(scope, by), label_of)
        ranked = sorted(values, key=lambda g: (-sum(v[0] for v in values[g]), g))
        groups, rest = ranked[:top], ranked[top:]
        if rest:
            other = [[0, 0.0] for _ in range(n)]
            for g in rest:
                for i, v in enumerate(values[g]):
                    other[i][0] += v[0]
                    other[i][1] += v[1]
            values = {**{g: values[g] for g in groups}, "other": other}
            groups = groups + ["other"]
        if not by and "all" not in values and n:
            values["all"] = [[0, 0.0] for _ in range(n)]
            groups = ["all"]
    coverage = blocks(reader.conn).coverage(bounds)
    times = iso_many(bounds[:n])
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
            "operations": int(values[g][i][0]) if coverage[i] else None,
            "bytes": values[g][i][1] if coverage[i] else None,
        }
        for g in groups
        for i in range(n)
    ]
    return {
        "range": scope.range_fields(),
        "tz": scope.filters.tz,
        "bucket": bucket,
        "group_by": group_by,
        "top": top,
        "bytes_estimate": BYTES_ESTIMATE,
        "groups": groups,
        "buckets": buckets,
        "points": points,
    }


class _Reading(NamedTuple):
    """How a series reads: per bucket (bounds), through the rollup grains that nest in the buckets, raw rows
    per local day when the buckets are days, weeks or months."""

    reader: Reader
    bounds: list[int]
    grains: tuple[str, ...]
    per_day: bool

    def rows(self, scope: Scope, by: tuple[str, ...]) -> list[SeriesRow]:
        """Series rows of the scope grouped by `by` (one group value at most): from the usage rollups, or from
        the size rollups with a size filter."""
        if scope.size_ids is not None:
            return [
                SeriesRow(r.key[0], r.key[1] if by else None, r.operations, r.operations * scope.weights[r.size_id].mid)
                for r in self.sizes(scope, by)
            ]
        out = []
        for query, when, _ in usage_queries(
            scope,
            self.reader,
            by,
            self.grains,
            True,
            ("operations", "bytes_mid"),
            bounds=self.bounds,
            per_day=self.per_day,
        ):
            assert when is not None
            for time, *group, operations, nbytes in self.reader.conn.execute(query):
                out.append(SeriesRow(when(time), group[0] if group else None, operations, nbytes))
        return out

    def sizes(self, scope: Scope, by: tuple[str, ...]):
        return size_rows(self.reader, scope, by, True, self.grains, self.bounds, per_day=self.per_day)


def _group_operations(reader: Reader, scope: Scope, by: tuple[str, ...]) -> dict:
    """Operations per group over the whole range (every group with a session, or a row in the size filter)."""
    if scope.size_ids is None:
        return {key[0]: value.operations for key, value in usage(reader, scope, by, ("operations",)).items()}
    return {key[0]: ops for key, ops in operations_by(size_rows(reader, scope, by)).items()}


def _group_labels(conn: Connection, group_by: str, ids: set | None) -> Callable[[Any], str]:
    """id -> group name for a series: the user or machine name, or its role / machine type (ids None: all)."""
    rows: Any
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
