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
from typing import NamedTuple

import numpy as np
from sqlalchemy import Connection, func, select

from clusterdash.db import sizes
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


def merged(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Hour ranges sorted, overlapping or touching ones joined, empty ones dropped."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(r for r in ranges if r[0] < r[1]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _rows(found: list, with_weights: dict[int, sizes.Weights] | None = None) -> HourRows:
    if not found:
        empty = np.zeros(0)
        return HourRows(
            empty.astype(np.int64), *(empty.astype(np.int64),) * 2, empty.astype(np.int8), empty, empty, empty
        )
    epoch, user, machine, direction, a, b, c = zip(*found)
    hours = hour_of(np.asarray(epoch, dtype=np.int64))
    directions = np.asarray([DIRECTIONS.index(d) for d in direction], dtype=np.int8)
    if with_weights is None:  # session totals: operations, small operations, bytes
        operations, small, estimated = (np.asarray(v, dtype=np.float64) for v in (a, b, c))
    else:  # histogram rows: count, bucket id (c unused)
        operations = np.asarray(a, dtype=np.float64)
        mids = np.asarray([with_weights[bucket].mid for bucket in b], dtype=np.float64)
        smalls = np.asarray([with_weights[bucket].small for bucket in b], dtype=bool)
        small, estimated = np.where(smalls, operations, 0.0), operations * mids
    return HourRows(
        hours,
        np.asarray(user, dtype=np.int64),
        np.asarray(machine, dtype=np.int64),
        directions,
        operations,
        small,
        estimated,
    )


def session_rows(conn: Connection, ranges: Ranges) -> HourRows:
    """Every session of the hours in `ranges`, with its totals."""
    s = user_sessions.c
    found: list = []
    for lo, hi in merged(ranges):
        first, end = epoch_bounds(lo, hi)
        query = select(s.epoch, s.user_id, s.machine_id, s.direction, s.operations, s.small_operations, s.bytes_mid)
        found += conn.execute(query.where(s.epoch >= first, s.epoch < end)).all()
    return _rows(found)


def bucket_rows(conn: Connection, ranges: Ranges, bucket_ids: Sequence[int]) -> HourRows:
    """The histogram rows in the size buckets `bucket_ids` of the hours in `ranges` (one per session and bucket)."""
    if not bucket_ids:
        return _rows([])
    s, o = user_sessions.c, io_operations.c
    found: list = []
    for lo, hi in merged(ranges):
        first, end = epoch_bounds(lo, hi)
        query = (
            select(s.epoch, s.user_id, s.machine_id, s.direction, o.count, o.size_range_id, o.size_range_id)
            .join(io_operations, o.session_id == s.id)
            .where(s.epoch >= first, s.epoch < end, o.size_range_id.in_(list(bucket_ids)))
        )
        found += conn.execute(query).all()
    return _rows(found, with_weights=sizes.stored_weights(conn))


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
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found += conn.execute(select(users.c.id).where(users.c.username.in_(chunk))).scalars().all()
    return found


def _by_ids(conn: Connection, query, column, ids: list[int]) -> list:
    rows: list = []
    for start in range(0, len(ids), 500):
        rows += conn.execute(query.where(column.in_(ids[start : start + 500]))).all()
    return rows
