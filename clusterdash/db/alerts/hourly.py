"""What judging alert rules reads: hour by hour, per user x machine x direction, the operations, small operations
and estimated bytes, as numpy arrays; which hours the log holds; who the users and machines are.

The rollup an hour is read from is UserSessions itself: each session is one (hour, direction, machine, user)
histogram and carries its totals (operations, small operations, byte estimates: kept by the ingest in the same
transaction as its rows), read through the epoch index. The day, week, month and year rollups are too coarse for a
rule's window of hours. Only a rule about a range of size buckets reads histogram rows (IOOperations), and only
those of the hours it judges.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Connection, Select, case, func, select

from clusterdash.db import sizes
from clusterdash.db.bulk import in_chunks
from clusterdash.db.periods import HOUR, epoch_bounds, hour_of
from clusterdash.db.schema import DIRECTIONS, io_operations, io_size_ranges, log_entries, machines, user_sessions, users

Ranges = Sequence[tuple[int, int]]  # [first hour, end hour) pairs


@dataclass(frozen=True)
class HourRows:
    """Rows of IO, one per (hour, user, machine, direction) or finer (a rule on sizes: per bucket), as arrays."""

    hour: np.ndarray  # int64: the start of the hour
    user: np.ndarray  # int64: Users.id
    machine: np.ndarray  # int64: Machines.id
    direction: np.ndarray  # int8: 0 rd, 1 wr (schema.DIRECTIONS)
    operations: np.ndarray  # float64
    small: np.ndarray  # float64: operations in buckets at or below sizes.SMALL_IO_LIMIT
    bytes: np.ndarray  # float64: estimated (count x bucket midpoint)

    def __len__(self) -> int:
        return len(self.hour)

    def take(self, which: np.ndarray) -> HourRows:
        """The rows a boolean mask or an index array picks."""
        return HourRows(*(getattr(self, f.name)[which] for f in fields(self)))


def merged(ranges: Iterable[tuple[int, int]], bridge: int = 0) -> list[tuple[int, int]]:
    """Hour ranges sorted, overlapping or touching ones joined (and those less than `bridge` seconds apart, with the
    hours between), empty ones dropped. Arrays, not a loop: a replay's year is tens of thousands of ranges."""
    pairs = np.asarray([r for r in ranges if r[0] < r[1]], dtype=np.int64).reshape(-1, 2)
    if not len(pairs):
        return []
    pairs = pairs[np.argsort(pairs[:, 0], kind="stable")]
    reach = np.maximum.accumulate(pairs[:, 1])  # the furthest end so far
    starts = np.concatenate([[True], pairs[1:, 0] > reach[:-1] + bridge])  # a range that begins a new run
    first = np.flatnonzero(starts)
    last = np.concatenate([first[1:] - 1, [len(pairs) - 1]])
    return list(zip(pairs[first, 0].tolist(), reach[last].tolist()))


# Ranges closer than this are read as one (a replay's ranges are split only by the log's gaps); a baseline's weeks
# stay apart.
BRIDGE = 2 * 24 * HOUR


def _rows(
    conn: Connection, query: Select, column: Any, ranges: Ranges, weights: dict[int, sizes.Weights] | None = None
) -> HourRows:
    """The rows of `query` for the hours in `ranges` (`column`: the epoch it filters on), column by column into
    arrays: epoch, user, machine, direction as 0/1, then operations, small operations and bytes (the sessions'
    totals) or, with `weights`, a count and its bucket (histogram rows, weighted here)."""
    parts: list[list] = [[] for _ in range(7 if weights is None else 6)]
    for lo, hi in merged(ranges, BRIDGE):
        first, end = epoch_bounds(lo, hi)
        found = conn.execute(query.where(column >= first, column < end)).all()
        for part, values in zip(parts, zip(*found)):
            part.extend(values)
    epoch, user, machine, direction, operations = (np.asarray(part) for part in parts[:5])
    operations = operations.astype(np.float64)
    if weights is None:
        small, estimated = (np.asarray(part, dtype=np.float64) for part in parts[5:])
    else:
        bucket = np.asarray(parts[5], dtype=np.int64)
        mid, is_small = np.zeros(max(weights, default=0) + 1), np.zeros(max(weights, default=0) + 1, dtype=bool)
        for bucket_id, w in weights.items():
            mid[bucket_id], is_small[bucket_id] = w.mid, w.small
        small, estimated = np.where(is_small[bucket], operations, 0.0), operations * mid[bucket]
    return HourRows(
        hour_of(epoch.astype(np.int64)),
        user.astype(np.int64),
        machine.astype(np.int64),
        direction.astype(np.int8),
        operations,
        small,
        estimated,
    )


def _direction(column: Any) -> Any:
    """0 for reads, 1 for writes (schema.DIRECTIONS), in SQL."""
    return case((column == DIRECTIONS[1], 1), else_=0)


def session_rows(conn: Connection, ranges: Ranges) -> HourRows:
    """Every session of the hours in `ranges`, with its totals."""
    s = user_sessions.c
    columns = (s.epoch, s.user_id, s.machine_id, _direction(s.direction), s.operations, s.small_operations, s.bytes_mid)
    return _rows(conn, select(*columns), s.epoch, ranges)


def bucket_rows(conn: Connection, ranges: Ranges, bucket_ids: Sequence[int]) -> HourRows:
    """The histogram rows in the size buckets `bucket_ids` of the hours in `ranges` (one per session and bucket),
    each bucket's bytes estimated by db/sizes.py's rule."""
    s, o = user_sessions.c, io_operations.c
    weights = {bucket: w for bucket, w in sizes.stored_weights(conn).items() if bucket in set(bucket_ids)}
    query = (
        select(s.epoch, s.user_id, s.machine_id, _direction(s.direction), o.count, o.size_range_id)
        .join(io_operations, o.session_id == s.id)
        .where(o.size_range_id.in_(sorted(weights)))
    )
    return _rows(conn, query, s.epoch, ranges if weights else [], weights)


class Bucket(NamedTuple):
    id: int
    lower: float | None  # bytes; None: the bucket of negative sizes
    upper: float | None  # exclusive; None: an open bucket


def stored_buckets(conn: Connection) -> list[Bucket]:
    r = io_size_ranges.c
    return [Bucket(*row) for row in conn.execute(select(r.id, r.lower_bytes, r.upper_bytes).order_by(r.id))]


def logged_hours(conn: Connection, first_hour: int, end_hour: int) -> np.ndarray:
    """The hours in [first_hour, end_hour) that the log holds a block for, sorted."""
    first, end = epoch_bounds(first_hour, end_hour)
    epochs = conn.execute(select(log_entries.c.epoch).where(log_entries.c.epoch >= first, log_entries.c.epoch < end))
    return np.unique(hour_of(np.fromiter(epochs.scalars(), dtype=np.int64)))


def latest_hour(conn: Connection) -> int | None:
    """The newest hour the log holds, or None for an empty database."""
    epoch = conn.execute(select(func.max(log_entries.c.epoch))).scalar()
    return None if epoch is None else hour_of(int(epoch))


def hour_contents(conn: Connection, hours: Iterable[int]) -> dict[int, tuple[int, int]]:
    """(sessions, operations) of each of `hours` that the log holds: what the hour held when it was read. A block
    completed by a later read has more of both; one read again unchanged has the same."""
    wanted = sorted(set(hours))
    if not wanted:
        return {}
    e, s = log_entries.c, user_sessions.c
    found: dict[int, tuple[int, int]] = {}
    for lo, hi in merged((h, h + HOUR) for h in wanted):
        first, end = epoch_bounds(lo, hi)
        query = (
            select(e.epoch, func.count(s.id), func.coalesce(func.sum(s.operations), 0))
            .select_from(log_entries.outerjoin(user_sessions, s.log_entry_id == e.id))
            .where(e.epoch >= first, e.epoch < end)
            .group_by(e.epoch)
        )
        for epoch, sessions, operations in conn.execute(query):
            hour = hour_of(int(epoch))
            before = found.get(hour, (0, 0))
            found[hour] = (before[0] + int(sessions), before[1] + int(operations))
    return {hour: found[hour] for hour in wanted if hour in found}


@dataclass(frozen=True)
class Directory:
    """Who the users and machines of some rows are. Arrays are indexed by id (ids are small and dense)."""

    user_names: dict[int, str]
    user_roles: dict[int, str | None]
    user_first: dict[int, int]  # the hour first seen
    machine_names: dict[int, str]
    machine_types: dict[int, str]
    machine_first: dict[int, int]
    role_first: dict[str, int]  # the hour the first user with this role (now) was first seen
    type_first: dict[str, int]
    server_first: int | None

    def lookup(self, table: dict[int, object], ids: np.ndarray, missing: object = None) -> np.ndarray:
        """table[id] for each id, as an object array."""
        return np.asarray([table.get(int(i), missing) for i in ids], dtype=object)


def directory(conn: Connection, user_ids: Iterable[int], machine_ids: Iterable[int]) -> Directory:
    """The names, current roles and types, and first hours of these users and machines, and of every role, machine
    type and the server as a whole (the hour its first member was seen)."""
    u, m = users.c, machines.c
    user_ids, machine_ids = sorted({int(i) for i in user_ids}), sorted({int(i) for i in machine_ids})
    user_rows = _by_ids(conn, select(u.id, u.username, u.role, u.first_seen), u.id, user_ids)
    machine_rows = _by_ids(conn, select(m.id, m.name, m.machine_type, m.first_seen), m.id, machine_ids)
    roles = {
        role: hour_of(int(first))
        for role, first in conn.execute(select(u.role, func.min(u.first_seen)).group_by(u.role))
    }
    types = {
        name: hour_of(int(first))
        for name, first in conn.execute(select(m.machine_type, func.min(m.first_seen)).group_by(m.machine_type))
    }
    server = conn.execute(select(func.min(u.first_seen))).scalar()
    return Directory(
        user_names={r[0]: r[1] for r in user_rows},
        user_roles={r[0]: r[2] for r in user_rows},
        user_first={r[0]: hour_of(int(r[3])) for r in user_rows},
        machine_names={r[0]: r[1] for r in machine_rows},
        machine_types={r[0]: r[2] for r in machine_rows},
        machine_first={r[0]: hour_of(int(r[3])) for r in machine_rows},
        role_first={role: first for role, first in roles.items() if role is not None},
        type_first=types,
        server_first=None if server is None else hour_of(int(server)),
    )


def user_ids_named(conn: Connection, names: Iterable[str]) -> list[int]:
    wanted = list(dict.fromkeys(names))
    found: list[int] = []
    for chunk in in_chunks(wanted):
        found += conn.execute(select(users.c.id).where(users.c.username.in_(chunk))).scalars().all()
    return found


def _by_ids(conn: Connection, query, column, ids: list[int]) -> list:
    rows: list = []
    for chunk in in_chunks(ids):
        rows += conn.execute(query.where(column.in_(chunk))).all()
    return rows
