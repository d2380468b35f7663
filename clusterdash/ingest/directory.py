"""Users, machines and size buckets by name, with the ids the loader gives new ones: read once per write
transaction (the caller holds the single-writer lock, so ids can be assigned here without a round trip per row) and
written back before it commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from sqlalchemy import Connection, Table, bindparam, func, select, update

from clusterdash.db import sizes
from clusterdash.db.bulk import insert_rows
from clusterdash.db.schema import io_size_ranges, log_entries, machines, user_sessions, users
from clusterdash.ingest.parse import bucket_of

_WEIGHTS: dict[str, sizes.Weights] = {}


def label_weights(label: str) -> sizes.Weights:
    """Bytes per operation of a bucket label the parser accepted (lower, midpoint, upper) and whether it is small
    IO (db.sizes.weights), remembered per label."""
    weights = _WEIGHTS.get(label)
    if weights is None:
        bucket = bucket_of(label)
        weights = _WEIGHTS[label] = sizes.weights(bucket.lower, bucket.upper)
    return weights


class Named:
    """The users or the machines by name: their records (column -> value), the next free id, and those new and those
    changed since the last flush. Seeing one keeps the status (`status` columns) seen at the latest epoch
    (`status_epoch`), and its first and last epochs seen."""

    def __init__(self, conn: Connection, table: Table, name: str, status: tuple[str, ...], status_epoch: str) -> None:
        self.table, self.name, self.status_epoch = table, name, status_epoch
        self.fields = (*status, status_epoch, "first_seen", "last_seen")  # what seeing one again can change
        self.records = {getattr(r, name): r._asdict() for r in conn.execute(select(table))}
        self.next_id = 1 + max((r["id"] for r in self.records.values()), default=0)
        self.new: list[dict] = []
        self.changed: set[str] = set()

    def see(self, name: str, status: dict, first: int, last: int) -> int:
        """The id of `name` (a new one if new), seen from epoch `first` to `last` with `status` at `last`."""
        record = self.records.get(name)
        if record is None:
            record = self.records[name] = {
                "id": self.next_id,
                self.name: name,
                **status,
                self.status_epoch: last,
                "first_seen": first,
                "last_seen": last,
            }
            self.next_id += 1
            self.new.append(record)
        elif _seen_again(record, status, self.status_epoch, first, last):
            self.changed.add(name)
        return record["id"]

    def snapshot(self) -> NamedSnapshot:
        return NamedSnapshot(
            {name: dict(record) for name, record in self.records.items()},
            self.next_id,
            [record[self.name] for record in self.new],
            set(self.changed),
        )

    def restore(self, snapshot: NamedSnapshot) -> None:
        self.records, self.next_id, self.changed = snapshot.records, snapshot.next_id, snapshot.changed
        self.new = [self.records[name] for name in snapshot.new]

    def inserted(self) -> None:
        """The new records were inserted as they are now: none is new or changed any more."""
        self.changed -= {record[self.name] for record in self.new}
        self.new = []

    def flush_changes(self, conn: Connection) -> None:
        update_by_id(conn, self.table, [self.records[name] for name in self.changed], self.fields)
        self.changed = set()


class NamedSnapshot(NamedTuple):
    records: dict[str, dict]
    next_id: int
    new: list[str]  # by name
    changed: set[str]


class Directory:
    """Users, machines and buckets by name, with the next free ids; loaded once per transaction (a one-shot ingest
    keeps one over all the batches of its transaction: see load.Loader)."""

    def __init__(self, conn: Connection) -> None:
        self.users = Named(conn, users, "username", ("role", "affiliation"), "status_epoch")
        self.machines = Named(conn, machines, "name", ("machine_type",), "type_epoch")
        self.buckets = {r.label: r.id for r in conn.execute(select(io_size_ranges.c.label, io_size_ranges.c.id))}
        self.next_log_entry = 1 + (conn.execute(select(func.max(log_entries.c.id))).scalar() or 0)
        self.next_session = 1 + (conn.execute(select(func.max(user_sessions.c.id))).scalar() or 0)
        self.new_buckets: list[dict] = []

    def snapshot(self) -> DirectorySnapshot:
        """What `restore` needs to undo everything done to the directory after this call (records are copied)."""
        return DirectorySnapshot(
            self.users.snapshot(),
            self.machines.snapshot(),
            dict(self.buckets),
            (self.next_log_entry, self.next_session),
            list(self.new_buckets),
        )

    def restore(self, snapshot: DirectorySnapshot) -> None:
        """Back to the state of `snapshot` (after the writes made since were rolled back)."""
        self.users.restore(snapshot.users)
        self.machines.restore(snapshot.machines)
        self.buckets = snapshot.buckets
        self.next_log_entry, self.next_session = snapshot.ids
        self.new_buckets = list(snapshot.new_buckets)
        # The snapshot's records are the directory's now: a second restore needs a second snapshot.

    def user_id(self, name: str, role: str | None, affiliation: str | None, epoch: int) -> int:
        """The user's id (a new one for a new user), keeping the status seen at the latest epoch."""
        return self.see_user(name, role, affiliation, epoch, epoch)

    def see_user(self, name: str, role: str | None, affiliation: str | None, first: int, last: int) -> int:
        """The user's id (a new one for a new user), seen from epoch `first` to `last` with this status at `last`."""
        return self.users.see(name, {"role": role, "affiliation": affiliation}, first, last)

    def machine_id(self, name: str, machine_type: str, epoch: int) -> int:
        """The machine's id (a new one for a new machine), keeping the type seen at the latest epoch."""
        return self.see_machine(name, machine_type, epoch, epoch)

    def see_machine(self, name: str, machine_type: str, first: int, last: int) -> int:
        """The machine's id (a new one for a new machine), seen from `first` to `last`, of this type at `last`."""
        return self.machines.see(name, {"machine_type": machine_type}, first, last)

    def bucket_id(self, label: str) -> int:
        bucket_id = self.buckets.get(label)
        if bucket_id is None:
            bucket = bucket_of(label)
            bucket_id = 1 + max(self.buckets.values(), default=0)
            self.buckets[label] = bucket_id
            self.new_buckets.append(
                {"id": bucket_id, "label": label, "lower_bytes": bucket.lower, "upper_bytes": bucket.upper}
            )
        return bucket_id

    def weights(self) -> tuple[np.ndarray, ...]:
        """Per size bucket, arrays indexed by its id: (small IO?, bytes per operation low, mid, high, open?).
        Times a row's count, its share of each session total (db.sizes.weights)."""
        size = 1 + max(self.buckets.values(), default=0)
        small, low, mid, high, unbounded = (np.zeros(size) for _ in range(5))
        for label, bucket_id in self.buckets.items():
            w = label_weights(label)
            small[bucket_id], low[bucket_id], mid[bucket_id] = float(w.small), w.low, w.mid
            high[bucket_id], unbounded[bucket_id] = (0.0, 1.0) if w.high is None else (w.high, 0.0)
        return small, low, mid, high, unbounded

    def flush(self, conn: Connection) -> None:
        """Write new and changed users, machines and buckets (before the rows that refer to them are committed)."""
        self.flush_new(conn)
        self.flush_changes(conn)

    def flush_new(self, conn: Connection) -> None:
        """Insert the users, machines and buckets seen for the first time."""
        # As tuples through db.bulk (COPY on PostgreSQL): an hour can bring tens of thousands of new users.
        new = ((io_size_ranges, self.new_buckets), (users, self.users.new), (machines, self.machines.new))
        for table, records in new:
            names = [c.name for c in table.columns]
            insert_rows(conn, table, names, [tuple(record[name] for name in names) for record in records])
        self.users.inserted()
        self.machines.inserted()
        self.new_buckets = []

    def flush_changes(self, conn: Connection) -> None:
        """Update the users and machines whose status, type or first/last hour changed."""
        self.users.flush_changes(conn)
        self.machines.flush_changes(conn)


class DirectorySnapshot(NamedTuple):
    users: NamedSnapshot
    machines: NamedSnapshot
    buckets: dict[str, int]
    ids: tuple[int, int]  # next log entry, session
    new_buckets: list[dict]


def update_by_id(conn: Connection, table: Table, records: list[dict], columns: Sequence[str]) -> None:
    """Set `columns` of the rows of `table` whose id is each record's "id" to the record's values (one statement,
    executed for every record)."""
    if records:
        conn.execute(
            update(table).where(table.c.id == bindparam("row_id")).values({c: bindparam(c) for c in columns}),
            [{"row_id": r["id"], **{c: r[c] for c in columns}} for r in records],
        )


def _seen_again(record: dict, status: dict, status_epoch: str, first: int, last: int) -> bool:
    """Update a stored user's or machine's record for being seen again, from epoch `first` to `last`, with `status`
    (field -> value) at `last`; returns whether it changed. The status kept is the one seen at the latest epoch
    (record[status_epoch]): an older hour read later cannot change it, whatever order the hours come in."""
    changed = False
    if last >= record[status_epoch]:
        for field_name, value in status.items():
            if record[field_name] != value:
                record[field_name], changed = value, True
        if last > record[status_epoch]:
            record[status_epoch], changed = last, True
    if first < record["first_seen"]:
        record["first_seen"], changed = first, True
    if last > record["last_seen"]:
        record["last_seen"], changed = last, True
    return changed
