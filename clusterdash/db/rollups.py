"""Rollups: the histogram rows summed per day, week, month and year, kept by the ingest in its own transaction.

Why: SQLite aggregates a few million rollup rows a second here, but a year holds 1.5M histogram rows in 170k
sessions; a request must read thousands of rows, not millions. The tables (declared in db/schema.py), with
their rows for one year of demo data (1.48M histogram rows):

  table               dimensions                                     grains    rows
  RollupUsage         user x machine x direction (+ bucket bits)     y m w     48k
  RollupUserUsage     user x machine type x direction (+ bits)       y m w d   56k
  RollupMachineUsage  machine x direction (+ bucket bits)            y m w d   26k
  RollupSizes         direction x size bucket                        y m w d   17k
  RollupUserSizes     user x machine type x direction x size bucket    m w     236k
  RollupMachineSizes  machine x direction x size bucket                m w     87k
  RollupPairSizes     user x machine x direction x size bucket           m     170k

A period is a day, an ISO week (from Monday), a month or a year of the *rollup zone*, one IANA zone per database
(RollupState; the display zone of the server). Queries read the smallest table that has the dimensions they
need, whole periods from it and the hours at the range's edges from the raw tables (db/queries.py). The grains
are what the reads need against what the writes cost: a size rollup per user or machine per day would hold a
fifth of the raw rows, and user x machine per day is answered from UserSessions (which carries each session's
totals) at little cost. Per user x machine x size bucket only months are kept (11.5% of the raw rows; weeks
would hold 19%): a size filter with users and machines both involved (the user x machine table, the
machines of a role, the users of a machine) would otherwise read raw rows, a year of them for the dashboard's table.
The hours outside whole months, and series in weeks, still read raw rows for such questions; the bucket bits
of the usage rollups answer "who used these sizes" and tell which keys of a size rollup a size filter needs.

Maintenance. The ingest hands the new sessions and histogram rows of a transaction to add_to_rollups before it
commits (the rollups never lag the rows): after each batch in follow mode, once per ~160k rows in a one-shot ingest
(PendingRollups, which sums each batch to day cells as it comes). They are summed with numpy per day cell (day x
user x machine x direction) x bucket, then per day, week, month and year, and upserted set-wise (every measure is
additive, so a batch adds to what is stored). `clusterdash init` records an empty database's rollups as complete.
Without a complete rollup state (an older database, another layout version) the first ingest or server start
rebuilds everything from the raw tables (rebuild_rollups); a web request never does: the queries then read the raw
tables. The per-user rollups are filed under each machine's current type (RollupMachineTypes); should a
machine's type change, the ingest rebuilds them.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from itertools import chain
from typing import NamedTuple

import numpy as np
from sqlalchemy import BigInteger, Connection, Engine, Float, Integer, String, Table, delete, inspect, select

from clusterdash.db import sizes
from clusterdash.db.bulk import execute_values
from clusterdash.db.periods import PERIODS, hour_of, period_start, zone
from clusterdash.db.schema import (
    DIRECTIONS,
    ROLLUP_TABLES,
    io_operations,
    machines,
    metadata,
    rollup_machine_sizes,
    rollup_machine_types,
    rollup_machine_usage,
    rollup_pair_sizes,
    rollup_sizes,
    rollup_state,
    rollup_usage,
    rollup_user_sizes,
    rollup_user_usage,
    user_sessions,
)

log = logging.getLogger("clusterdash.rollups")

VERSION = 9  # of the rollup layout: a database with another version is rebuilt
MAX_BUCKET_BIT = 62  # size bucket ids 1..62 have a bit in RollupUsage.buckets (a signed 64-bit integer)
# Grains per table, largest first (the order the queries cut a range in).
GRAINS = {
    rollup_usage.name: ("y", "m", "w"),
    rollup_user_usage.name: ("y", "m", "w", "d"),
    rollup_machine_usage.name: ("y", "m", "w", "d"),
    rollup_sizes.name: ("y", "m", "w", "d"),
    rollup_user_sizes.name: ("m", "w"),
    rollup_machine_sizes.name: ("m", "w"),
    rollup_pair_sizes.name: ("m",),
}
LEGACY_TABLES = ("RollupZone",)  # layout 1 kept its zone here
USAGE_MEASURES = (
    "sessions",
    "rows",
    "operations",
    "small_operations",
    "bytes_low",
    "bytes_mid",
    "bytes_high",
    "unbounded_rows",
)


# -- the state --------------------------------------------------------------------------------------------------

_tables_seen: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def _state_table_exists(conn: Connection) -> bool:
    """Whether RollupState exists (remembered per engine once it does: tables are created, not dropped)."""
    engine = conn.engine
    if _tables_seen.get(engine):
        return True
    exists = inspect(conn).has_table(rollup_state.name)
    if exists:
        _tables_seen[engine] = True
    return exists


def rollup_zone(conn: Connection) -> str | None:
    """The zone of the rollups when they are complete and of this layout; None when the queries must read the
    raw tables (never built, being rebuilt, an older layout)."""
    if not _state_table_exists(conn):
        return None
    row = conn.execute(select(rollup_state.c.zone, rollup_state.c.version).where(rollup_state.c.id == 1)).first()
    return row[0] if row is not None and row[1] == VERSION else None


def _stored_state(conn: Connection) -> tuple[str, int] | None:
    if not _state_table_exists(conn):
        return None
    row = conn.execute(select(rollup_state.c.zone, rollup_state.c.version).where(rollup_state.c.id == 1)).first()
    return None if row is None else (row[0], row[1])


def _missing_indexes(conn: Connection) -> list:
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    missing = []
    for table in metadata.sorted_tables:
        if table.name in existing and table.indexes:
            names = {i["name"] for i in inspector.get_indexes(table.name)}
            missing += [index for index in table.indexes if index.name not in names]
    return missing


def default_zone() -> str:
    """The zone for rollups built by an ingest before any server chose one: CLUSTERDASH_TZ, else UTC."""
    from clusterdash.config import from_environment

    try:
        name = str(from_environment()["tz"] or "UTC")
        zone(name)
        return name
    except Exception:  # a bad CLUSTERDASH_TZ is the server's to report; the rollups just use UTC
        return "UTC"


def ensure_rollups(engine: Engine, zone_name: str | None = None) -> str:
    """Make the rollups complete, in `zone_name` when given (else the stored zone, else default_zone());
    returns their zone. For `serve`/create_app start-up and `clusterdash init`: a missing, older or other-zone
    rollup is rebuilt here, in one write transaction, with a log line saying so and how long it took.
    Cheap when nothing is to do."""
    if zone_name is not None:
        zone(zone_name)
    with engine.connect() as conn:
        state = _stored_state(conn)
        complete = state is not None and not _missing_indexes(conn)
    if complete and state[1] == VERSION and (zone_name is None or state[0] == zone_name):
        return state[0]
    from clusterdash.db.engine import write_transaction

    with write_transaction(engine) as conn:
        metadata.create_all(conn, checkfirst=True)  # a database from before the rollups, or a fresh one
        for index in _missing_indexes(conn):  # declared since the table was created
            index.create(conn)
        _tables_seen[engine] = True
        state = _stored_state(conn)  # again, under the writer lock: another process may have done it
        if state is not None and state[1] == VERSION and (zone_name is None or state[0] == zone_name):
            return state[0]
        target = zone_name or (state[0] if state is not None else default_zone())
        why = (
            "there were none"
            if state is None
            else f"layout {state[1]} -> {VERSION}"
            if state[1] != VERSION
            else f"zone {state[0]} -> {target}"
        )
        log.warning("rebuilding the rollups in %s (%s) ...", target, why)
        started = time.perf_counter()
        sessions = rebuild_rollups(conn, target)
        log.warning(
            "rebuilt the rollups in %s: %s sessions in %.1f s", target, f"{sessions:,}", time.perf_counter() - started
        )
    return target


# -- size buckets --------------------------------------------------------------------------------------------------


def bucket_mask(size_ids: Iterable[int]) -> int | None:
    """The RollupUsage.buckets bits of these bucket ids; None when one has no bit (then read raw rows)."""
    mask = 0
    for bid in size_ids:
        if not 1 <= bid <= MAX_BUCKET_BIT:
            return None
        mask |= 1 << bid
    return mask


class _Buckets:
    """Bucket ids as dense column indexes, with per-bucket weight vectors for matrix products."""

    def __init__(self, weights: dict[int, sizes.Weights]) -> None:
        self.ids = np.array(sorted(weights), dtype=np.int64)
        self.index = np.full(int(self.ids.max(initial=0)) + 1, -1, dtype=np.int64)
        self.index[self.ids] = np.arange(len(self.ids))
        columns = [weights[int(b)] for b in self.ids]
        self.low = np.array([c.low for c in columns], dtype=np.float64)
        self.mid = np.array([c.mid for c in columns], dtype=np.float64)
        self.high = np.array([c.high or 0.0 for c in columns], dtype=np.float64)  # bytes_high skips open buckets
        self.small = np.array([c.small for c in columns], dtype=np.float64)
        self.unbounded = np.array([c.open for c in columns], dtype=np.int64)
        self.bits = np.array([1 << int(b) if 1 <= b <= MAX_BUCKET_BIT else 0 for b in self.ids], dtype=np.int64)


# -- summing a batch -------------------------------------------------------------------------------------------


def _days(hours: np.ndarray, zone_name: str) -> np.ndarray:
    """Per hour (epoch of its start): the start of its day in the zone (zone arithmetic once per distinct hour)."""
    unique, inverse = np.unique(hours, return_inverse=True)
    day_of_hour = np.array([period_start("d", int(h), zone_name) for h in unique.tolist()], dtype=np.int64)
    return day_of_hour[inverse.reshape(-1)]


def _periods(days: np.ndarray, zone_name: str) -> dict[str, np.ndarray]:
    """Per day start: the start of its day, week, month and year in the zone, computed once per distinct day (a
    day's week, month and year are those of its first instant)."""
    unique, inverse = np.unique(days, return_inverse=True)
    out = {"d": days}
    for grain in PERIODS[1:]:
        starts = np.array([period_start(grain, int(d), zone_name) for d in unique.tolist()], dtype=np.int64)
        out[grain] = starts[inverse.reshape(-1)]
    return out


_KEY_LIMIT = 1 << 62  # a combined key stays below this: int64 arithmetic cannot overflow


class _Grouping(NamedTuple):
    """Rows grouped by key: `keys` (g, c) the distinct key rows in key order, `group` each row's group index,
    `order` the rows sorted by group (stably) and `starts` where each group begins in that order. The sort is
    made once and serves every sum over the same grouping."""

    keys: np.ndarray
    group: np.ndarray
    order: np.ndarray
    starts: np.ndarray

    def sums(self, matrix: np.ndarray) -> np.ndarray:
        """Rows of `matrix` summed per group."""
        return np.add.reduceat(matrix[self.order], self.starts, axis=0) if len(self.starts) else matrix[:0]

    def ors(self, values: np.ndarray) -> np.ndarray:
        """Integer values OR-ed per group."""
        return np.bitwise_or.reduceat(values[self.order], self.starts) if len(self.starts) else values[:0]


def _group(columns: Sequence[np.ndarray]) -> _Grouping:
    """The distinct rows of the given equal-length int64 columns, and which rows are each (see _Grouping). The
    columns are combined into one int64 key by mixed-radix arithmetic on their value ranges (ids, directions and
    type codes span little), so that one 1-D sort finds the groups; a column of wide range (epochs) is ranked
    first, and the key is compacted whenever the next column could overflow it."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    span_so_far = 1
    for column in columns:
        low = int(column.min(initial=0))
        span = int(column.max(initial=0)) - low + 1
        if span > len(column):  # sparse values: rank them
            values, column = np.unique(column, return_inverse=True)
            column, low, span = column.reshape(-1), 0, len(values)
        if span_so_far * span >= _KEY_LIMIT:
            _, key = np.unique(key, return_inverse=True)
            key = key.reshape(-1)
            span_so_far = int(key.max(initial=0)) + 1
        key = key * span + (column - low)
        span_so_far *= span
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    begins = np.r_[True, ordered[1:] != ordered[:-1]] if len(key) else np.zeros(0, dtype=bool)
    starts = np.flatnonzero(begins)
    group = np.empty(len(key), dtype=np.int64)
    group[order] = np.cumsum(begins) - 1
    first = order[starts]  # a stable sort puts each group's first row first
    return _Grouping(np.stack([c[first] for c in columns], axis=1), group, order, starts)


class _DayCells:
    """Histogram rows summed per day cell (day x user x machine x direction) and size bucket: every rollup row, of
    any grain, is a sum of these. keys: (c, 4) day start, user, machine, direction (0 rd, 1 wr); sessions: new
    sessions per cell; entries: (e, 4) cell index, size bucket id, rows, operations.

    Why this intermediate: a transaction's rows are summed to day cells batch by batch, so what waits for the
    commit is a few times smaller than the rows themselves (a day holds up to 24 sessions of a user on a machine),
    and a one-shot ingest can keep fewer, larger transactions in the same memory."""

    __slots__ = ("keys", "sessions", "entries")

    def __init__(self, keys: np.ndarray, sessions: np.ndarray, entries: np.ndarray) -> None:
        self.keys, self.sessions, self.entries = keys, sessions, entries

    @classmethod
    def of(cls, sessions: np.ndarray, is_new: np.ndarray, rows: np.ndarray, zone_name: str) -> _DayCells:
        """The day cells of `sessions` (id, epoch, user, machine, direction 0/1; only those with is_new count as
        sessions) and of `rows` (session id, size bucket id, count), every row's session among `sessions`."""
        order = np.argsort(sessions[:, 0], kind="stable")
        sessions, is_new = sessions[order], is_new[order]
        hours = hour_of(sessions[:, 1])
        by_cell = _group([_days(hours, zone_name), sessions[:, 2], sessions[:, 3], sessions[:, 4]])
        keys, cell_of_session = by_cell.keys, by_cell.group
        counted = np.bincount(cell_of_session, weights=is_new.astype(np.float64), minlength=len(keys))
        cell_of_row = cell_of_session[np.searchsorted(sessions[:, 0], rows[:, 0])]
        return cls(
            keys,
            np.rint(counted).astype(np.int64),
            _sum_entries(cell_of_row, rows[:, 1], np.ones(len(rows), dtype=np.int64), rows[:, 2]),
        )

    @classmethod
    def merged(cls, parts: Sequence[_DayCells]) -> _DayCells:
        """One set of cells from several (a cell that several batches touch is summed into one)."""
        if len(parts) == 1:
            return parts[0]
        keys = np.concatenate([p.keys for p in parts])
        offsets = np.cumsum([0] + [len(p.keys) for p in parts[:-1]])
        by_key = _group([keys[:, i] for i in range(4)])
        merged_keys, cell_of_key = by_key.keys, by_key.group
        sessions = np.bincount(
            cell_of_key,
            weights=np.concatenate([p.sessions for p in parts]).astype(np.float64),
            minlength=len(merged_keys),
        )
        entries = np.concatenate([p.entries for p in parts])
        cells = cell_of_key[entries[:, 0] + np.repeat(offsets, [len(p.entries) for p in parts])]
        return cls(
            merged_keys,
            np.rint(sessions).astype(np.int64),
            _sum_entries(cells, entries[:, 1], entries[:, 2], entries[:, 3]),
        )


def _sum_entries(cells: np.ndarray, buckets: np.ndarray, rows: np.ndarray, operations: np.ndarray) -> np.ndarray:
    """(cell, bucket, rows, operations) summed per distinct (cell, bucket), in integers, ordered by cell and bucket.
    Cells and bucket ids are small dense integers, so the sums are two bincounts over cell x bucket (no sort)."""
    if not len(cells):
        return np.zeros((0, 4), dtype=np.int64)
    width = int(buckets.max()) + 1
    flat = cells * width + buckets
    if int(flat.max()) >= _DENSE_LIMIT:  # thousands of distinct labels: group by sorting instead
        grouping = _group([cells, buckets])
        keys, flat = grouping.keys, grouping.group
        width, codes = None, keys
    size = int(flat.max()) + 1
    row_sums = np.bincount(flat, weights=rows, minlength=size)  # float64, exact for sums below 2**53, as before
    present = np.flatnonzero(row_sums)
    operation_sums = np.bincount(flat, weights=operations, minlength=size)[present]
    key_columns = [present // width, present % width] if width is not None else [codes[present, 0], codes[present, 1]]
    return np.stack(key_columns + [np.rint(row_sums[present]), np.rint(operation_sums)], axis=1).astype(np.int64)


_DENSE_LIMIT = 1 << 22  # cell x bucket bins summed densely (32 MB of float64 at most)


def _summarise(
    sessions: np.ndarray, is_new: np.ndarray, rows: np.ndarray, zone_name: str, buckets: _Buckets, types: dict[int, str]
) -> Iterator[tuple[Table, list[np.ndarray]]]:
    """Rollup rows adding up `sessions` and `rows` (see _DayCells.of), table by table (see _summarise_cells)."""
    return _summarise_cells(_DayCells.of(sessions, is_new, rows, zone_name), zone_name, buckets, types)


def _summarise_cells(
    day_cells: _DayCells, zone_name: str, buckets: _Buckets, types: dict[int, str]
) -> Iterator[tuple[Table, list[np.ndarray]]]:
    """Rollup rows adding up the day cells: (table, one array per column in table order), one table at a time, so
    that a table's rows can be written and dropped before the next table's are made (a transaction's rows for all
    seven tables at once were the largest thing an ingest held: 6 MB of a year's 24 MB peak).
    `types`: each machine's type (the per-user rollups are kept per machine type)."""
    cells, entries = day_cells.keys, day_cells.entries
    n_cells, n_buckets = len(cells), len(buckets.ids)
    flat = entries[:, 0] * n_buckets + buckets.index[entries[:, 1]]
    row_counts = (
        np.bincount(flat, weights=entries[:, 2].astype(np.float64), minlength=n_cells * n_buckets)
        .reshape(n_cells, n_buckets)
        .astype(np.int64)
    )
    operations = np.bincount(flat, weights=entries[:, 3].astype(np.float64), minlength=n_cells * n_buckets).reshape(
        n_cells, n_buckets
    )
    cell_period = _periods(cells[:, 0], zone_name)

    usage = np.column_stack(
        [
            day_cells.sessions.astype(np.float64),
            row_counts.sum(axis=1),
            operations.sum(axis=1),
            operations @ buckets.small,
            operations @ buckets.low,
            operations @ buckets.mid,
            operations @ buckets.high,
            row_counts @ buckets.unbounded,
        ]
    )
    bits = (row_counts > 0).astype(np.int64) @ buckets.bits

    # Key columns per cell, with how each becomes a stored value.
    type_names = sorted(set(types.values()))
    type_code = np.zeros(int(cells[:, 2].max(initial=0)) + 1, dtype=np.int64)
    for mid, name in types.items():
        if mid < len(type_code):
            type_code[mid] = type_names.index(name)
    names = np.array(type_names or [""], dtype=object)
    key_columns = {
        "user_id": (cells[:, 1], None),
        "machine_id": (cells[:, 2], None),
        "machine_type": (type_code[cells[:, 2]], names),
        "direction": (cells[:, 3], _DIRECTION_NAMES),
    }

    def keyed(table):
        return [
            key_columns[c.name]
            for c in table.primary_key.columns
            if c.name in key_columns and c.name != "size_range_id"
        ]

    def stored(keys: np.ndarray, spec: list, rows_at=slice(None)) -> list:
        return [
            keys[rows_at, 1 + i] if convert is None else convert[keys[rows_at, 1 + i]]
            for i, (_, convert) in enumerate(spec)
        ]

    for table in (rollup_usage, rollup_user_usage, rollup_machine_usage):
        spec, parts = keyed(table), []
        for grain in GRAINS[table.name]:
            grouping = _group([cell_period[grain]] + [column for column, _ in spec])
            keys, measures, ored = grouping.keys, grouping.sums(usage), grouping.ors(bits)
            ints = np.rint(measures).astype(np.int64)
            parts.append(
                [[grain] * len(keys), keys[:, 0]]
                + stored(keys, spec)
                + [
                    ints[:, 0],
                    ints[:, 1],
                    ints[:, 2],
                    ints[:, 3],
                    measures[:, 4],
                    measures[:, 5],
                    measures[:, 6],
                    ints[:, 7],
                    ored,
                ]
            )
        yield table, _concat(parts)

    for table in (rollup_sizes, rollup_user_sizes, rollup_machine_sizes, rollup_pair_sizes):
        spec, parts = keyed(table), []
        for grain in GRAINS[table.name]:
            grouping = _group([cell_period[grain]] + [column for column, _ in spec])
            keys, counts, ops = grouping.keys, grouping.sums(row_counts), grouping.sums(operations)
            g, j = np.nonzero(counts)
            parts.append(
                [[grain] * len(g), keys[g, 0]]
                + stored(keys, spec, g)
                + [buckets.ids[j], counts[g, j], np.rint(ops[g, j]).astype(np.int64)]
            )
        yield table, _concat(parts)


_DIRECTION_NAMES = np.array(DIRECTIONS, dtype=object)


def _concat(parts: list[list]) -> list[np.ndarray]:
    """One array per column from per-grain lists of arrays or lists (strings as object arrays)."""
    return [
        np.concatenate([np.asarray(part, dtype=object if isinstance(part, list) else None) for part in column])
        for column in zip(*parts)
    ]


# -- writing ---------------------------------------------------------------------------------------------------

_PG_TYPES = {BigInteger: "bigint", Integer: "integer", Float: "double precision", String: "text"}


@cache
def _upsert_sql(table_name: str, dialect: str) -> tuple[str, str]:
    """(head, tail) of the upsert: on SQLite the VALUES rows go between them (bulk.execute_values); on
    PostgreSQL the head is the whole statement, one array per column."""
    table = metadata.tables[table_name]
    names = [c.name for c in table.columns]
    keys = [c.name for c in table.primary_key.columns]
    quoted = ", ".join(f'"{n}"' for n in names)
    sets = ", ".join(
        f'"{c.name}" = "{table.name}"."{c.name}" {"|" if c.name == "buckets" else "+"} excluded."{c.name}"'
        for c in table.columns
        if c.name not in keys
    )
    conflict = f"ON CONFLICT ({', '.join(chr(34) + k + chr(34) for k in keys)}) DO UPDATE SET {sets}"
    if dialect == "sqlite":
        return f'INSERT INTO "{table.name}" ({quoted})', conflict
    arrays = ", ".join(f"%s::{_PG_TYPES[type(c.type)]}[]" for c in table.columns)
    return f'INSERT INTO "{table.name}" ({quoted}) SELECT * FROM unnest({arrays}) {conflict}', ""


def _upsert(conn: Connection, table: Table, columns: list[list]) -> None:
    """Add rows given as one list or array per column (table order, keys unique) to the table: new keys are inserted,
    the measures of stored keys summed (the `buckets` bit sets OR-ed)."""
    if not columns or len(columns[0]) == 0:
        return
    if conn.dialect.name == "sqlite":
        head, tail = _upsert_sql(table.name, "sqlite")
        execute_values(conn, head, len(columns), columns, tail, by_column=True)
    else:  # one statement, one array per column
        conn.exec_driver_sql(
            _upsert_sql(table.name, "postgresql")[0],
            tuple(c.tolist() if isinstance(c, np.ndarray) else c for c in columns),
        )


def _write(conn: Connection, summary: Iterable[tuple[Table, list[np.ndarray]]]) -> None:
    for table, columns in summary:
        _upsert(conn, table, columns)


# -- the ingest's entry point ------------------------------------------------------------------------------------


def add_to_rollups(conn: Connection, new_sessions: np.ndarray, new_rows: np.ndarray) -> None:
    """Add to the rollups what the caller has just inserted: `new_sessions` as an (n, 5) integer array of id,
    epoch, user_id, machine_id, direction (0 rd, 1 wr) and new histogram rows as an (n, 3) array of session_id,
    size_range_id, count, some of which may belong to sessions stored earlier (a block completed by a later read).

    Called once at the end of ingest.load.write_blocks, in its transaction. When the rollups are not complete
    (no state, an older layout) they are rebuilt from the raw tables instead, which hold this batch already.
    """
    if not len(new_sessions) and not len(new_rows):
        return
    state = _stored_state(conn)
    if state is None or state[1] != VERSION:
        metadata.create_all(conn, tables=list(ROLLUP_TABLES), checkfirst=True)
        _tables_seen[conn.engine] = True
        target = state[0] if state is not None else default_zone()
        first = int(new_sessions[:, 0].min()) if len(new_sessions) else None
        if (
            first is not None
            and not len(_not_in(new_rows[:, 0], new_sessions[:, 0]))
            and conn.execute(select(user_sessions.c.id).where(user_sessions.c.id < first).limit(1)).first() is None
        ):
            _reset_tables(conn)  # nothing stored before this batch: start the rollups with it
            _set_state(conn, target)
            state = (target, VERSION)
        else:
            started = time.perf_counter()
            count = rebuild_rollups(conn, target)
            log.info(
                "built the rollups in %s during the ingest: %s sessions in %.1f s",
                target,
                f"{count:,}",
                time.perf_counter() - started,
            )
            return
    rows = new_rows.reshape(-1, 3)
    _add_cells(conn, _DayCells.of(*_with_stored_sessions(conn, new_sessions, rows), rows, state[0]), state[0])


def _with_stored_sessions(
    conn: Connection, new_sessions: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(sessions, is_new): the new sessions, plus the stored ones that some of `rows` were added to (a block
    completed by a later read); only the new ones count as sessions."""
    sessions = new_sessions.reshape(-1, 5)
    is_new = np.ones(len(sessions), dtype=bool)
    older = sorted(set(_not_in(rows[:, 0], sessions[:, 0]).tolist()))  # usually none (np.unique would import numpy.ma)
    if older:
        extra = _session_keys(conn, older)
        sessions = np.concatenate([sessions, extra])
        is_new = np.concatenate([is_new, np.zeros(len(extra), dtype=bool)])
    return sessions, is_new


def _add_cells(conn: Connection, cells: _DayCells, zone_name: str) -> None:
    """Add day cells (of rows the caller has inserted) to the rollups in `zone_name`, their current zone."""
    types = _machine_types(conn)
    filed = dict(conn.execute(select(rollup_machine_types.c.machine_id, rollup_machine_types.c.machine_type)).all())
    if any(types.get(mid) != name for mid, name in filed.items()):
        # A machine's type changed (the loader keeps the latest): its history moves to the new type. Rare enough
        # to rebuild everything, which also covers these cells (their rows are stored already).
        started = time.perf_counter()
        count = rebuild_rollups(conn, zone_name)
        log.warning(
            "a machine type changed: rebuilt the rollups (%s sessions in %.1f s)",
            f"{count:,}",
            time.perf_counter() - started,
        )
        return
    new_types = [{"machine_id": mid, "machine_type": name} for mid, name in types.items() if mid not in filed]
    if new_types:
        conn.execute(rollup_machine_types.insert(), new_types)
    _write(conn, _summarise_cells(cells, zone_name, _Buckets(sizes.stored_weights(conn)), types))


class PendingRollups:
    """The rollups of a transaction that spans several batches of blocks (a one-shot ingest), added once, before
    it commits: a week or month that several batches touch is then upserted once instead of once per batch (a
    third of the rollup rows of a month of log). Each batch is summed to day cells as it comes (_DayCells), so
    what waits is smaller than its rows; the parsed blocks are not kept."""

    def __init__(self) -> None:
        self._cells: list[_DayCells] = []
        self._zone: str | None = None
        self.rows = 0

    def add(self, conn: Connection, new_sessions: np.ndarray, new_rows: np.ndarray) -> None:
        """Take the new sessions and rows (as for add_to_rollups) the caller has just inserted through `conn`."""
        if not len(new_sessions) and not len(new_rows):
            return
        rows = new_rows.reshape(-1, 3)
        self.rows += len(rows)
        if self._zone is None:
            state = _stored_state(conn)
            if state is None or state[1] != VERSION:  # started or rebuilt there, complete afterwards
                add_to_rollups(conn, new_sessions, rows)
                return
            self._zone = state[0]
        self._cells.append(_DayCells.of(*_with_stored_sessions(conn, new_sessions, rows), rows, self._zone))

    def flush(self, conn: Connection) -> None:
        """Add everything pending to the rollups, in the caller's transaction (the one that wrote the rows)."""
        if self._cells:
            # Merged first and the batches' cells let go, so that they are not held while the rollup rows are made.
            cells, self._cells = _DayCells.merged(self._cells), []
            _add_cells(conn, cells, self._zone)
        # The zone is read again by the next transaction: between two, a server may rebuild them in another.
        self._zone, self.rows = None, 0


def _machine_types(conn: Connection) -> dict[int, str]:
    return dict(conn.execute(select(machines.c.id, machines.c.machine_type)).all())


def _int_array(tuples: Iterable[tuple], width: int, count: int | None = None) -> np.ndarray:
    """An (n, width) int64 array from n tuples of ints (fromiter over a chain: no Python loop per value)."""
    if count is None:
        tuples = list(tuples)
        count = len(tuples)
    flat = np.fromiter(chain.from_iterable(tuples), dtype=np.int64, count=count * width)
    return flat.reshape(count, width)


def _not_in(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The values not among `ids` (non-negative integers), through a table over the ids' range: no sort of the
    (many) values, as np.setdiff1d would do."""
    if not len(ids):
        return values
    low, high = int(ids.min()), int(ids.max())
    known = np.zeros(high - low + 1, dtype=bool)
    known[ids - low] = True
    inside = (values >= low) & (values <= high)
    found = np.zeros(len(values), dtype=bool)
    found[inside] = known[values[inside] - low]
    return values[~found]


def mark_empty_rollups_complete(conn: Connection) -> None:
    """On a database with no sessions yet, record the (empty) rollups as complete, in default_zone(): the first
    ingest then adds to them rather than first checking for a rebuild. A database with sessions is left to
    ensure_rollups or the ingest (which rebuild them)."""
    if _stored_state(conn) is None and conn.execute(select(user_sessions.c.id).limit(1)).first() is None:
        _set_state(conn, default_zone())


def _session_keys(conn: Connection, ids: list[int]) -> np.ndarray:
    s = user_sessions.c
    found = []
    for i in range(0, len(ids), 500):
        found += conn.execute(
            select(s.id, s.epoch, s.user_id, s.machine_id, s.direction).where(s.id.in_(ids[i : i + 500]))
        ).all()
    return _int_array(
        ((sid, epoch, uid, mid, 0 if d == "rd" else 1) for sid, epoch, uid, mid, d in found), 5, len(found)
    )


# -- rebuilding -----------------------------------------------------------------------------------------------


def _reset_tables(conn: Connection) -> None:
    """Empty every rollup table; a table whose stored columns differ from its declaration (an older layout) is
    dropped and created again."""
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    for name in LEGACY_TABLES:
        if name in existing:
            conn.exec_driver_sql(f'DROP TABLE "{name}"')
    for table in ROLLUP_TABLES:
        if table.name in existing:
            stored = [c["name"] for c in inspector.get_columns(table.name)]
            if stored == [c.name for c in table.columns]:
                conn.execute(delete(table))
                continue
            table.drop(conn)
        table.create(conn)


def rebuild_rollups(conn: Connection, zone_name: str | None = None, chunk: int = 40000) -> int:
    """Recompute every rollup from the raw tables, in `zone_name` (default: the stored zone), and record the
    state; returns the number of sessions. Streams the sessions in id order, `chunk` at a time."""
    zone_name = zone_name or (_stored_state(conn) or (default_zone(), 0))[0]
    zone(zone_name)
    _reset_tables(conn)
    buckets = _Buckets(sizes.stored_weights(conn))
    types = _machine_types(conn)
    if types:
        conn.execute(
            rollup_machine_types.insert(), [{"machine_id": mid, "machine_type": name} for mid, name in types.items()]
        )
    s, o = user_sessions.c, io_operations.c
    last, total = 0, 0
    while True:
        found = conn.execute(
            select(s.id, s.epoch, s.user_id, s.machine_id, s.direction).where(s.id > last).order_by(s.id).limit(chunk)
        ).all()
        if not found:
            break
        sessions = _int_array(
            ((sid, epoch, uid, mid, 0 if d == "rd" else 1) for sid, epoch, uid, mid, d in found), 5, len(found)
        )
        high = int(sessions[-1, 0])
        rows = _int_array(
            conn.execute(
                select(o.session_id, o.size_range_id, o.count).where(o.session_id > last, o.session_id <= high)
            ).all(),
            3,
        )
        _write(conn, _summarise(sessions, np.ones(len(sessions), dtype=bool), rows, zone_name, buckets, types))
        last, total = high, total + len(found)
    _set_state(conn, zone_name)
    return total


def _set_state(conn: Connection, zone_name: str) -> None:
    conn.execute(delete(rollup_state))
    conn.execute(rollup_state.insert().values(id=1, zone=zone_name, version=VERSION, built_at=int(time.time())))
