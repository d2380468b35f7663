"""Operations and bytes over time (time_series): per bucket of the display zone, per group, the top groups by
operations and the rest summed as "other".

Users and machines are many: they are ranked on their totals over the range (from the coarsest rollups), only
the top ones are read per bucket, and "other" is the whole scope per bucket (from the smallest table that has
it) minus the top ones, unless the rest is shorter than the top or the whole would come from raw rows too:
then the rest is read as one group. Roles and machine types are few: every group is read per bucket and
ranked on its sum.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Connection, func, select

from clusterdash.db import vocabulary
from clusterdash.db.filters import Filters
from clusterdash.db.query.buckets import (
    bucket_bounds,
    buckets_of,
    check_bucket,
    check_points,
    choose_bucket,
    series_grains,
)
from clusterdash.db.query.by_size import size_rows
from clusterdash.db.query.coverage import blocks, time_buckets
from clusterdash.db.query.measures import BYTES_ESTIMATE, operations_by
from clusterdash.db.query.scope import Reader, Scope, resolve
from clusterdash.db.query.sources import grains_of, size_table, usage_table
from clusterdash.db.query.usage import usage, usage_queries
from clusterdash.db.schema import machines, users
from clusterdash.errors import BadParameter

GROUP_BYS = ("none", "user", "machine", "machine_type", "role")
MAX_TOP = vocabulary.MAX_TOP
_SERIES = ("operations", "bytes_mid")


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
    if group_by != "none":
        groups = min(top, _group_count(reader, scope, group_by)) + 1
        check_points(bucket, scope.first_hour, scope.end_hour, groups, "top")
    bounds = bucket_bounds(bucket, scope)
    read = _Reading(reader, bounds, series_grains(bucket, scope), bucket != "hour")
    if group_by in ("user", "machine") and not (scope.size_ids is not None and size_table(scope, (group_by,)) is None):
        drawn = _top_and_other(reader, read, scope, group_by, top)
    else:  # (also users or machines when only raw rows have the filtered sizes per user x machine: one read)
        drawn = _every_group(reader, read, scope, group_by, top)
    n = len(bounds) - 1
    coverage = blocks(reader.conn).coverage(bounds)
    buckets = time_buckets(bounds, coverage)
    points = []
    for g in drawn.groups:
        operations, nbytes = drawn.operations[g].tolist(), drawn.bytes[g].tolist()
        points += [
            {
                "time": buckets[i]["time"],
                "epoch": bounds[i],
                "group": g,
                "operations": operations[i] if coverage[i] else None,
                "bytes": nbytes[i] if coverage[i] else None,
            }
            for i in range(n)
        ]
    return {
        "range": scope.range_fields(),
        "tz": scope.filters.tz,
        "bucket": bucket,
        "group_by": group_by,
        "top": top,
        "bytes_estimate": BYTES_ESTIMATE,
        "groups": drawn.groups,
        "buckets": buckets,
        "points": points,
    }


class _Columns(NamedTuple):
    """Rows of a series as columns: when (a period start, an hour or a local midnight), the group's value (an id,
    a role, a machine type; None when not grouped), operations, bytes (midpoint estimate)."""

    when: np.ndarray
    group: list
    operations: np.ndarray
    bytes: np.ndarray


class _Reading(NamedTuple):
    """How a series reads: per bucket (bounds), through the rollup grains that nest in the buckets, raw rows
    per local day when the buckets are days, weeks or months."""

    reader: Reader
    bounds: list[int]
    grains: tuple[str, ...]
    per_day: bool

    def columns(self, scope: Scope, by: tuple[str, ...]) -> _Columns:
        """The scope's rows grouped by `by` (one grouping at most): from the usage rollups and sessions, or from
        the size rows with a size filter."""
        if scope.size_ids is not None:
            sized = size_rows(self.reader, scope, by, True, self.grains, self.bounds, per_day=self.per_day)
            mid = {bid: w.mid for bid, w in scope.weights.items()}
            return _Columns(
                np.array([r.key[0] for r in sized], dtype=np.int64),
                [r.key[1] for r in sized] if by else [None] * len(sized),
                np.array([r.operations for r in sized], dtype=np.int64),
                np.array([r.operations * mid[r.size_id] for r in sized], dtype=np.float64),
            )
        parts = []
        asked = usage_queries(
            scope, self.reader, by, self.grains, True, _SERIES, bounds=self.bounds, per_day=self.per_day
        )
        for query, convert, _ in asked:
            assert convert is not None
            rows = self.reader.conn.execute(query).all()
            if rows:
                at, *value, operations, nbytes = zip(*rows)  # (the sums of grouped rows are never NULL)
                times, where = np.unique(np.array(at, dtype=np.int64), return_inverse=True)
                when = np.array([convert(t) for t in times.tolist()], dtype=np.int64)[where.reshape(-1)]
                group = list(value[0]) if value else [None] * len(rows)
                parts.append(
                    _Columns(when, group, np.array(operations, dtype=np.int64), np.array(nbytes, dtype=np.float64))
                )
        if len(parts) == 1:
            return parts[0]
        return _Columns(
            np.concatenate([p.when for p in parts] or [np.zeros(0, dtype=np.int64)]),
            [g for p in parts for g in p.group],
            np.concatenate([p.operations for p in parts] or [np.zeros(0, dtype=np.int64)]),
            np.concatenate([p.bytes for p in parts] or [np.zeros(0)]),
        )


class _Drawn:
    """Operations and bytes per bucket of each named group, and the groups to show, in order."""

    def __init__(self, bounds: list[int]) -> None:
        self.bounds = bounds
        self.operations: dict[str, np.ndarray] = {}
        self.bytes: dict[str, np.ndarray] = {}
        self.groups: list[str] = []

    def add(self, columns: _Columns, name: Callable[[Any], str]) -> None:
        """Rows into the groups name(value) per bucket (bytes summed in the order of the rows, as a loop would)."""
        n = len(self.bounds) - 1
        index = buckets_of(self.bounds, columns.when)
        inside = np.flatnonzero(index < n)
        if not len(inside):
            return
        group = columns.group if len(inside) == len(index) else [columns.group[k] for k in inside.tolist()]
        values: dict[Any, int] = {}  # each group value once, then its name (names of several values merge)
        of_value = np.fromiter((values.setdefault(g, len(values)) for g in group), dtype=np.int64, count=len(group))
        names: dict[str, int] = {}
        codes = np.array([names.setdefault(name(v), len(names)) for v in values], dtype=np.int64)[of_value]
        operations = np.zeros((len(names), n), dtype=np.int64)
        np.add.at(operations, (codes, index[inside]), columns.operations[inside])
        nbytes = np.bincount(codes * n + index[inside], columns.bytes[inside], len(names) * n).reshape(len(names), n)
        for label, code in names.items():
            self._add(label, operations[code], nbytes[code])

    def _add(self, label: str, operations: np.ndarray, nbytes: np.ndarray) -> None:
        if label in self.operations:
            self.operations[label] = self.operations[label] + operations
            self.bytes[label] = self.bytes[label] + nbytes
        else:
            self.operations[label], self.bytes[label] = operations, nbytes

    def ensure(self, label: str) -> None:
        """A group with no rows in the range still has its (zero) points."""
        if label not in self.operations:
            n = len(self.bounds) - 1
            self._add(label, np.zeros(n, dtype=np.int64), np.zeros(n))


def _top_and_other(reader: Reader, read: _Reading, scope: Scope, group_by: str, top: int) -> _Drawn:
    """Users or machines: the top ones ranked on their totals, read per bucket; "other" the scope less them."""
    drawn = _Drawn(read.bounds)
    dimension = (group_by,)
    totals = _group_operations(reader, scope, dimension)
    label = _group_labels(reader.conn, group_by, set(totals))
    ranked = sorted(totals, key=lambda key: (-totals[key], label(key)))
    keep, rest = ranked[:top], ranked[top:]
    named = scope.narrowed(types=None) if group_by == "machine" else scope  # machine lists are named machines
    ids = "user_ids" if group_by == "user" else "machine_ids"
    if keep:
        drawn.add(read.columns(named.narrowed(**{ids: keep}), dimension), label)
    drawn.groups = [label(key) for key in keep]
    for name in drawn.groups:
        drawn.ensure(name)
    if len(rest) > len(keep) and _whole_from_rollups(scope, read.grains):
        whole = _Drawn(read.bounds)
        whole.add(read.columns(scope, ()), lambda _: "other")
        whole.ensure("other")
        operations, nbytes = whole.operations["other"], whole.bytes["other"]
        for name in drawn.groups:
            operations, nbytes = operations - drawn.operations[name], nbytes - drawn.bytes[name]
        # Bytes are whole multiples of half a byte, exact as floats up to 2**52: the difference is exact.
        drawn._add("other", operations, np.where(operations == 0, 0.0, nbytes))
    elif rest:  # a short rest, or a whole read from raw rows too: the rest alone is less to read
        drawn.add(read.columns(named.narrowed(**{ids: rest}), ()), lambda _: "other")
        drawn.ensure("other")
    if rest:
        drawn.groups.append("other")
    return drawn


def _whole_from_rollups(scope: Scope, grains: tuple[str, ...]) -> bool:
    """Whether the scope's series, all groups together, is read from rollup periods (not only raw rows)."""
    table = usage_table(scope, ()) if scope.size_ids is None else size_table(scope, ())
    return scope.zone is not None and table is not None and bool(grains_of(table, grains))


def _every_group(reader: Reader, read: _Reading, scope: Scope, group_by: str, top: int) -> _Drawn:
    """Every group read per bucket, the top ones by operations shown and the rest summed as "other"."""
    drawn = _Drawn(read.bounds)
    by = () if group_by == "none" else (group_by,)
    name: Callable[[Any], str] = (
        (lambda _: "all")
        if not by
        else (lambda value: value or "(none)")
        if group_by == "role"
        else _group_labels(reader.conn, group_by, None)
        if group_by in ("user", "machine")
        else str
    )
    drawn.add(read.columns(scope, by), name)
    ranked = sorted(drawn.operations, key=lambda g: (-int(drawn.operations[g].sum()), g))
    drawn.groups, rest = ranked[:top], ranked[top:]
    if rest:
        n = len(read.bounds) - 1
        operations, nbytes = np.zeros(n, dtype=np.int64), np.zeros(n)
        for g in rest:  # in rank order: the same float sums as ever
            operations, nbytes = operations + drawn.operations[g], nbytes + drawn.bytes[g]
        drawn._add("other", operations, nbytes)
        drawn.groups.append("other")
    if not by and not drawn.groups and len(read.bounds) > 1:
        drawn.ensure("all")
        drawn.groups = ["all"]
    return drawn


def _group_count(reader: Reader, scope: Scope, group_by: str) -> int:
    """At most how many groups a series grouped by `group_by` can have in the scope (before "other")."""
    ids = {"user": scope.user_ids, "machine": scope.machine_ids}.get(group_by)
    if ids is not None:
        return len(ids)
    table = users if group_by in ("user", "role") else machines
    column = {"user": users.c.id, "role": users.c.role, "machine": machines.c.id}.get(group_by, machines.c.machine_type)
    return int(reader.conn.execute(select(func.count(column.distinct())).select_from(table)).scalar_one()) + 1


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
