"""Summing a batch of sessions and histogram rows into rollup rows: pure numpy, no SQL.

A batch is summed to day cells first (day x user x machine x direction, per size bucket; DayCells), and every
rollup row of any grain is a sum of day cells (summarise_cells). GRAINS says which grains each table keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import NamedTuple

import numpy as np
from sqlalchemy import Table

from clusterdash.db import schema, sizes
from clusterdash.db.periods import PERIODS, hour_of, period_start
from clusterdash.db.sums import check_summable, sums_by_group

MAX_BUCKET_BIT = 62  # size bucket ids 1..62 have a bit in RollupUsage.buckets (a signed 64-bit integer)
# Grains per table, largest first (the order the queries cut a range in).
GRAINS = {
    schema.rollup_usage.name: ("y", "m", "w"),
    schema.rollup_user_usage.name: ("y", "m", "w", "d"),
    schema.rollup_machine_usage.name: ("y", "m", "w", "d"),
    schema.rollup_sizes.name: ("y", "m", "w", "d"),
    schema.rollup_user_sizes.name: ("m", "w"),
    schema.rollup_machine_sizes.name: ("m", "w"),
    schema.rollup_pair_sizes.name: ("m",),
}


# -- size buckets --------------------------------------------------------------------------------------------------


def bucket_mask(size_ids: Iterable[int]) -> int | None:
    """The RollupUsage.buckets bits of these bucket ids; None when one has no bit (then read raw rows)."""
    mask = 0
    for bid in size_ids:
        if not 1 <= bid <= MAX_BUCKET_BIT:
            return None
        mask |= 1 << bid
    return mask


class Buckets:
    """Bucket ids as dense column indexes, with per-bucket weight vectors for matrix products."""

    def __init__(self, weights: dict[int, sizes.Weights]) -> None:
        self.ids = np.array(sorted(weights), dtype=np.int64)
        self.index = np.full(int(self.ids.max(initial=0)) + 1, -1, dtype=np.int64)
        self.index[self.ids] = np.arange(len(self.ids))
        columns = [weights[int(b)] for b in self.ids]
        self.low = np.array([c.low for c in columns], dtype=np.float64)
        self.mid = np.array([c.mid for c in columns], dtype=np.float64)
        self.high = np.array([c.high or 0.0 for c in columns], dtype=np.float64)  # bytes_high skips open buckets
        self.small = np.array([c.small for c in columns], dtype=np.int64)
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


class DayCells:
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
    def of(cls, sessions: np.ndarray, is_new: np.ndarray, rows: np.ndarray, zone_name: str) -> DayCells:
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
            sum_entries(cell_of_row, rows[:, 1], np.ones(len(rows), dtype=np.int64), rows[:, 2]),
        )

    @classmethod
    def merged(cls, parts: Sequence[DayCells]) -> DayCells:
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
            sum_entries(cells, entries[:, 1], entries[:, 2], entries[:, 3]),
        )


def sum_entries(cells: np.ndarray, buckets: np.ndarray, rows: np.ndarray, operations: np.ndarray) -> np.ndarray:
    """(cell, bucket, rows, operations) summed per distinct (cell, bucket), in integers, ordered by cell and bucket.
    Cells and bucket ids are small dense integers, so the sums are two passes over cell x bucket (no sort).
    Operations are summed in int64, checked first (db.sums): a float64 sum would round past 2**53."""
    if not len(cells):
        return np.zeros((0, 4), dtype=np.int64)
    check_summable(operations, "the operations of the rollups' day cells")
    width = int(buckets.max()) + 1
    flat = cells * width + buckets
    codes: np.ndarray | None = None  # the (cell, bucket) of each group, when grouped by sorting
    if int(flat.max()) >= DENSE_LIMIT:  # thousands of distinct labels: group by sorting instead
        grouping = _group([cells, buckets])
        flat, codes = grouping.group, grouping.keys
    size = int(flat.max()) + 1
    row_sums = np.bincount(flat, weights=rows, minlength=size)  # numbers of rows: far below 2**53
    present = np.flatnonzero(row_sums)
    operation_sums = sums_by_group(flat, operations, size)[present]
    key_columns = [present // width, present % width] if codes is None else [codes[present, 0], codes[present, 1]]
    return np.column_stack(key_columns + [np.rint(row_sums[present]).astype(np.int64), operation_sums])


DENSE_LIMIT = 1 << 22  # cell x bucket bins summed densely (32 MB of float64 at most)


def summarise(
    sessions: np.ndarray, is_new: np.ndarray, rows: np.ndarray, zone_name: str, buckets: Buckets, types: dict[int, str]
) -> Iterator[tuple[Table, list[np.ndarray]]]:
    """Rollup rows adding up `sessions` and `rows` (see DayCells.of), table by table (see summarise_cells)."""
    return summarise_cells(DayCells.of(sessions, is_new, rows, zone_name), zone_name, buckets, types)


def summarise_cells(
    day_cells: DayCells, zone_name: str, buckets: Buckets, types: dict[int, str]
) -> Iterator[tuple[Table, list[np.ndarray]]]:
    """Rollup rows adding up the day cells: (table, one array per column in table order), one table and grain at a
    time, so that its rows can be written and dropped before the next ones are made (a transaction's rows for all
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
    # Operations in int64, exact (checked: every rollup row is a sum of some of them); bytes in float64.
    check_summable(entries[:, 3], "the operations of the rollups' day cells")
    operations = sums_by_group(flat, entries[:, 3], n_cells * n_buckets).reshape(n_cells, n_buckets)
    cell_period = _periods(cells[:, 0], zone_name)

    usage_counts = np.column_stack(  # sessions, rows, operations, small operations, unbounded rows
        [
            day_cells.sessions,
            row_counts.sum(axis=1),
            operations.sum(axis=1),
            operations @ buckets.small,
            row_counts @ buckets.unbounded,
        ]
    ).astype(np.int64)
    as_float = operations.astype(np.float64)
    byte_estimates = np.column_stack([as_float @ buckets.low, as_float @ buckets.mid, as_float @ buckets.high])
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

    # A grain at a time: a transaction's rows of one grain are what is held (an hour of 50,000 users makes 200,000
    # rows of RollupUserUsage over its four grains).
    for table in (schema.rollup_usage, schema.rollup_user_usage, schema.rollup_machine_usage):
        spec = keyed(table)
        for grain in GRAINS[table.name]:
            grouping = _group([cell_period[grain]] + [column for column, _ in spec])
            keys, ints, floats = grouping.keys, grouping.sums(usage_counts), grouping.sums(byte_estimates)
            ored = grouping.ors(bits)
            columns = _columns(
                [[grain] * len(keys), keys[:, 0]]
                + stored(keys, spec)
                + [
                    ints[:, 0],
                    ints[:, 1],
                    ints[:, 2],
                    ints[:, 3],
                    floats[:, 0],
                    floats[:, 1],
                    floats[:, 2],
                    ints[:, 4],
                    ored,
                ]
            )
            del grouping, keys, ints, floats, ored
            yield table, columns
            del columns

    for table in (schema.rollup_sizes, schema.rollup_user_sizes, schema.rollup_machine_sizes, schema.rollup_pair_sizes):
        spec = keyed(table)
        for grain in GRAINS[table.name]:
            grouping = _group([cell_period[grain]] + [column for column, _ in spec])
            keys, counts, ops = grouping.keys, grouping.sums(row_counts), grouping.sums(operations)
            g, j = np.nonzero(counts)
            columns = _columns(
                [[grain] * len(g), keys[g, 0]] + stored(keys, spec, g) + [buckets.ids[j], counts[g, j], ops[g, j]]
            )
            del grouping, keys, counts, ops, g, j
            yield table, columns
            del columns


_DIRECTION_NAMES = np.array(schema.DIRECTIONS, dtype=object)


def _columns(columns: list) -> list[np.ndarray]:
    """One array per column from arrays or lists (strings as object arrays)."""
    return [np.asarray(column, dtype=object if isinstance(column, list) else None) for column in columns]


def int_array(tuples: Iterable[tuple], width: int, count: int | None = None) -> np.ndarray:
    """An (n, width) int64 array from n tuples of ints (fromiter over a chain: no Python loop per value)."""
    if count is None:
        tuples = list(tuples)
        count = len(tuples)
    flat = np.fromiter(chain.from_iterable(tuples), dtype=np.int64, count=count * width)
    return flat.reshape(count, width)


def not_in(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
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
