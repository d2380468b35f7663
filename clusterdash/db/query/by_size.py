"""Rows and operations per size bucket (`SizeRow`s), honouring the size filter: from the size rollup with the
needed dimensions, from RollupPairSizes and the per-user or per-machine ones when users and machines are both
involved, or from the raw rows (UserSessions joined with IOOperations)."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import String, Table, and_, func, select

from clusterdash.db.query.measures import SizeRow
from clusterdash.db.query.scope import LABELS, SEEK_IDS, Reader, Scope, rollup_where
from clusterdash.db.query.sources import grains_of, grouping, plan, raw_sessions, raw_time, size_table
from clusterdash.db.query.sql import through, total
from clusterdash.db.query.usage import sessions
from clusterdash.db.rollups import bucket_mask
from clusterdash.db.schema import (
    io_operations,
    rollup_machine_sizes,
    rollup_machine_usage,
    rollup_pair_sizes,
    rollup_usage,
    rollup_user_sizes,
    rollup_user_usage,
    user_sessions,
)


def size_rows(
    reader: Reader,
    scope: Scope,
    by: tuple[str, ...] = (),
    with_time: bool = False,
    grains: tuple[str, ...] | None = None,
    bounds: list[int] | None = None,
    pairs: bool = True,
    per_day: bool = False,
) -> list[SizeRow]:
    """Per size bucket: rows and operations per key (time?, *group values), honouring the size filter.

    Whole periods come from the size rollup that has the needed dimensions (`grains` limits the grains used,
    e.g. to those nesting in a series' buckets). When users and machines are both involved: a per-user or
    per-machine size rollup when the session counts show it answers exactly (_pair_plan), else the whole
    months of RollupPairSizes, and for the hours outside them _pair_plan's subtraction or raw rows.
    """
    if scope.empty:
        return []
    table = size_table(scope, by)
    if table is None and pairs and grains != ():
        pair_plan = _pair_plan(reader, scope, by, subtract=not with_time)
        if pair_plan is not None and pair_plan.minus is None:  # one side's rollup answers exactly
            return size_rows(reader, pair_plan.read, by, with_time, grains, bounds, per_day=per_day)
        found = _pair_sizes(reader, scope, by, with_time, grains, bounds, per_day)
        if found is not None:
            return found
        if pair_plan is not None and pair_plan.minus is not None:
            found = size_rows(reader, pair_plan.read, by, with_time, grains, bounds, per_day=per_day)
            return _subtract(found, size_rows(reader, pair_plan.minus, by, grains=(), pairs=False))
    periods, raw = plan(scope, grains_of(table, grains), bounds)
    out = _size_rollup(reader, scope, table, by, with_time, periods) if table is not None else []
    s, o = user_sessions.c, io_operations.c
    by_columns, source = grouping(user_sessions, by)
    for lo, hi in raw:
        if table is None and not with_time:  # per user x machine, read once per request and summed here
            out.extend(_regroup(reader, by, _raw_pair_sizes(reader, scope, lo, hi)))
            continue
        index, clauses = raw_sessions(reader, scope, lo, hi)
        when, convert = raw_time(scope, lo, hi, per_day)
        groups = ([when] if with_time else []) + by_columns
        if scope.size_ids is not None:
            clauses.append(o.size_range_id.in_(scope.size_ids))
        query = (
            select(*groups, o.size_range_id, func.count(), total(o.count))
            .select_from(source.join(io_operations, o.session_id == s.id))
            .where(*clauses)
            .group_by(*groups, o.size_range_id)
        )
        for *key, bid, nrows, ops in reader.conn.execute(through(query, index)):
            if with_time:
                key[0] = convert(key[0])
            out.append(SizeRow(tuple(key), bid, nrows or 0, ops or 0))
    return out


def _pair_sizes(
    reader: Reader,
    scope: Scope,
    by: tuple[str, ...],
    with_time: bool,
    grains: tuple[str, ...] | None,
    bounds: list[int] | None,
    per_day: bool,
) -> list[SizeRow] | None:
    """Size rows of a question on users and machines together: the whole months in the range from
    RollupPairSizes, the hours around them through size_rows (per-user or per-machine rollups or raw rows).
    None when no whole month of the rollups lies in the range (or in a series bucket)."""
    usable = grains_of(rollup_pair_sizes, grains)
    periods, raw = plan(scope, usable, bounds) if scope.zone is not None and usable else ({}, [])
    if not periods:
        return None
    out = _size_rollup(reader, scope, rollup_pair_sizes, by, with_time, periods)
    rest = tuple(g for g in grains if g not in usable) if grains is not None else None
    for lo, hi in raw:  # no whole month in these hours: the recursion ends
        edge = scope.narrowed(first_hour=lo, end_hour=hi)
        cut = None if bounds is None else [lo] + [b for b in bounds if lo < b < hi] + [hi]
        out.extend(size_rows(reader, edge, by, with_time, rest, cut, per_day=per_day))
    return out


# The usage rollup with the same keys as a size rollup (less the bucket): its bucket bits tell which keys have
# rows in the filtered buckets, so a size filter seeks only those instead of every key of every period.
_BITS_OF = {
    rollup_pair_sizes.name: rollup_usage,
    rollup_user_sizes.name: rollup_user_usage,
    rollup_machine_sizes.name: rollup_machine_usage,
}


def _size_rollup(
    reader: Reader, scope: Scope, table: Table, by: tuple[str, ...], with_time: bool, periods: dict[str, list[int]]
) -> list[SizeRow]:
    """Size rows from the periods of a size rollup."""
    if not periods:
        return []
    t = table.c
    mask = bucket_mask(scope.size_ids) if scope.size_ids is not None else None
    # (SQLite only: on PostgreSQL the seeks below measured faster.)
    bits = _BITS_OF.get(table.name) if mask is not None and reader.conn.dialect.name == "sqlite" else None
    by_columns, source = grouping(table, by)
    groups = ([t.start] if with_time else []) + by_columns
    queries = []
    if bits is not None and scope.size_ids is not None:
        # Driven by the usage rollup's rows with a bit of the filtered buckets: each names one key of the size
        # rollup to seek. The join terms are expressions of the usage columns (`+ 0`, `|| ''`), so SQLite can
        # only seek the size rollup from the usage rows, not the other way round.
        b = bits.c
        keys = [c.name for c in table.primary_key.columns if c.name != "size_range_id"]
        on = [t[k] == (b[k].op("||")("") if isinstance(t[k].type, String) else b[k] + 0) for k in keys]
        driven = bits.join(table, and_(*on, t.size_range_id.in_(scope.size_ids)))
        for b_ in by:  # the labels a grouping joins (a role, a machine type not kept in the table)
            if b_ not in t and b_ in LABELS:
                other, column, _ = LABELS[b_]
                driven = driven.join(other, other.c.id == t[column])
        for grain, starts in periods.items():
            queries.append(
                select(*groups, t.size_range_id, total(t.rows), total(t.operations))
                .select_from(driven)
                .where(b.grain == grain, b.start.in_(starts), *rollup_where(scope, bits), b.buckets.op("&")(mask) != 0)
            )
    else:
        seek = _seek_keys(reader, scope, table)
        for grain, starts in periods.items():
            clauses = [t.grain == grain, t.start.in_(starts), *rollup_where(scope, table), *seek]
            if scope.size_ids is not None:
                clauses.append(t.size_range_id.in_(scope.size_ids))
            queries.append(
                select(*groups, t.size_range_id, total(t.rows), total(t.operations)).select_from(source).where(*clauses)
            )
    out: list[SizeRow] = []
    for query in queries:
        for *key, bid, nrows, ops in reader.conn.execute(query.group_by(*groups, t.size_range_id)):
            out.append(SizeRow(tuple(key), bid, nrows or 0, ops or 0))
    return out


def _seek_keys(reader: Reader, scope: Scope, table: Table) -> list:
    """With a size filter, clauses naming every key column before it: seeks instead of a scan of each period."""
    t = table.c
    seek: list = []
    if scope.size_ids is None:
        return seek
    user_col = t.user_id if "user_id" in t else None
    id_col = user_col if user_col is not None else t.machine_id if "machine_id" in t else None
    ids = scope.user_ids if user_col is not None else scope.machine_ids
    if id_col is not None and ids is None:
        every = reader.all_ids("user" if user_col is not None else "machine")
        if len(every) * len(scope.size_ids) <= 20 * SEEK_IDS:
            seek.append(id_col.in_(every))
            if "machine_type" in t and scope.types is None:
                seek.append(t.machine_type.in_(reader.all_ids("machine_type")))
    if scope.filters.direction == "both":
        seek.append(t.direction.in_(("rd", "wr")))
    return seek


class PairRow(NamedTuple):
    """Raw rows and operations of one user x machine x direction x size bucket."""

    user_id: int
    machine_id: int
    direction: str
    size_id: int
    rows: int
    operations: int


def _raw_pair_sizes(reader: Reader, scope: Scope, lo: int, hi: int) -> list[PairRow]:
    """The pair rows of the raw hours [lo, hi) in the scope. A profile asks for these four ways (per direction,
    per user or machine, per bucket); one read serves all."""

    def read() -> list[PairRow]:
        s, o = user_sessions.c, io_operations.c
        index, clauses = raw_sessions(reader, scope, lo, hi)
        if scope.size_ids is not None:
            clauses.append(o.size_range_id.in_(scope.size_ids))
        groups = [s.user_id, s.machine_id, s.direction, o.size_range_id]
        query = (
            select(*groups, func.count(), total(o.count))
            .select_from(user_sessions.join(io_operations, o.session_id == s.id))
            .where(*clauses)
            .group_by(*groups)
        )
        return [PairRow(*r) for r in reader.conn.execute(through(query, index))]

    return reader.remember(("raw pair sizes", scope, lo, hi), read)


_PAIR_FIELD = {"user": "user_id", "machine": "machine_id", "direction": "direction"}
_PAIR_FIELD.update({name: column for name, (_, column, _) in LABELS.items()})


def _regroup(reader: Reader, by: tuple[str, ...], rows: list[PairRow]) -> list[SizeRow]:
    """Pair rows summed to size rows keyed by `by`."""
    labels = {b: reader.labels(b) for b in by if b in LABELS}
    totals: dict[tuple, list[int]] = {}
    for r in rows:
        values = [getattr(r, _PAIR_FIELD[b]) for b in by]
        key = tuple(labels[b].get(v) if b in labels else v for b, v in zip(by, values)) + (r.size_id,)
        acc = totals.get(key)
        if acc is None:
            totals[key] = [r.rows or 0, r.operations or 0]
        else:
            acc[0] += r.rows or 0
            acc[1] += r.operations or 0
    return [SizeRow(key[:-1], key[-1], nrows, ops) for key, (nrows, ops) in totals.items()]


class PairPlan(NamedTuple):
    """Size rows of a user x machine question as one side's rollup: read `read`, less `minus` (None: nothing)."""

    read: Scope
    minus: Scope | None


def _pair_plan(reader: Reader, scope: Scope, by: tuple[str, ...], subtract: bool) -> PairPlan | None:
    """With a user filter and a machine filter (and neither users nor machines grouped), the size rollups per
    user or per machine still answer when one filter removes few sessions beyond the other, which the session
    counts of the usage rollups tell: e.g. a user's profile restricted to a machine type that all, or nearly all,
    of their machines have. Returns the scopes to read and to subtract, or None: read the raw rows of the
    pairs (when that is the least work)."""
    if scope.user_ids is None or scope.machine_ids is None or set(by) & {"user", "machine", "role", "machine_type"}:
        return None

    def count() -> tuple[int, dict[int, int], int]:  # the same for every grouping and series of a request
        wanted_machines = set(scope.machine_ids or ())
        of_users = sessions(reader, scope.narrowed(machine_ids=None, types=None), ("user", "machine"))
        direct = sum(n for (_u, m), n in of_users.items() if m in wanted_machines)
        other_machines = {m: n for (_u, m), n in of_users.items() if m not in wanted_machines}
        of_machines = sum(sessions(reader, scope.narrowed(user_ids=None)).values())
        return direct, other_machines, of_machines

    direct, other_machines, of_machines = reader.remember(("pair plan", scope), count)
    cost, side = min((sum(other_machines.values()), "machines"), (of_machines - direct, "users"))
    if cost and (cost >= direct or not subtract):
        return None
    if side == "machines":  # the user filter alone, minus the pairs on the other machines
        return PairPlan(
            scope.narrowed(machine_ids=None, types=None),
            scope.narrowed(machine_ids=other_machines, types=None) if cost else None,
        )
    others = set(reader.all_ids("user")) - set(scope.user_ids)
    return PairPlan(scope.narrowed(user_ids=None), scope.narrowed(user_ids=others) if cost else None)


def _subtract(rows: list[SizeRow], minus: list[SizeRow]) -> list[SizeRow]:
    """Size rows minus others; keys left without rows disappear."""
    totals: dict[tuple, list[int]] = {}
    for r in rows:
        acc = totals.setdefault((r.key, r.size_id), [0, 0])
        acc[0] += r.rows
        acc[1] += r.operations
    for r in minus:
        acc = totals[(r.key, r.size_id)]
        acc[0] -= r.rows
        acc[1] -= r.operations
    return [SizeRow(key, bid, n, ops) for (key, bid), (n, ops) in totals.items() if n]
