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


class Directory:
    """Users, machines and buckets by name, with the next free ids; loaded once per transaction (a one-shot ingest
    keeps one over all the batches of its transaction: see load.Loader)."""

    def __init__(self, conn: Connection) -> None:
        self.users = {r.username: r._asdict() for r in conn.execute(select(users))}
        self.machines = {r.name: r._asdict() for r in conn.execute(select(machines))}
        self.buckets = {r.label: r.id for r in conn.execute(select(io_size_ranges.c.label, io_size_ranges.c.id))}
        self.next_user = 1 + max((u["id"] for u in self.users.values()), default=0)
        self.next_machine = 1 + max((m["id"] for m in self.machines.values()), default=0)
        self.next_log_entry = 1 + (conn.execute(select(func.max(log_entries.c.id))).scalar() or 0)
        self.next_session = 1 + (conn.execute(select(func.max(user_sessions.c.id))).scalar() or 0)
        self.new_users: list[dict] = []
        self.new_machines: list[dict] = []
        self.new_buckets: list[dict] = []
        self.changed_users: set[str] = set()
        self.changed_machines: set[str] = set()

    def snapshot(self) -> DirectorySnapshot:
        """What `restore` needs to undo everything done to the directory after this call (records are copied)."""
        return DirectorySnapshot(
            {name: dict(record) for name, record in self.users.items()},
            {name: dict(record) for name, record in self.machines.items()},
            dict(self.buckets),
            (self.next_user, self.next_machine, self.next_log_entry, self.next_session),
            ([u["username"] for u in self.new_users], [m["name"] for m in self.new_machines], list(self.new_buckets)),
            (set(self.changed_users), set(self.changed_machines)),
        )

    def restore(self, snapshot: DirectorySnapshot) -> None:
        """Back to the state of `snapshot` (after the writes made since were rolled back)."""
        self.users, self.machines, self.buckets = snapshot.users, snapshot.machines, snapshot.buckets
        self.next_user, self.next_machine, self.next_log_entry, self.next_session = snapshot.ids
        new_users, new_machines, new_buckets = snapshot.new
        self.new_users = [self.users[name] for name in new_users]
        self.new_machines = [self.machines[name] for name in new_machines]
        self.new_buckets = list(new_buckets)
        self.changed_users, self.changed_machines = snapshot.changed
        # The snapshot's records are the directory's now: a second restore needs a second snapshot.

    def user_id(self, name: str, role: str | None, affiliation: str | None, epoch: int) -> int:
        """The user's id (a new one for a new user), keeping the status seen at the latest epoch."""
        return self.see_user(name, role, affiliation, epoch, epoch)

    def see_user(self, name: str, role: str | None, affiliation: str | None, first: int, last: int) -> int:
        """The user's id (a new one for a new user), seen from epoch `first` to `last` with this status at `last`."""
        user = self.users.get(name)
        if user is None:
            user = self.users[name] = {
                "id": self.next_user,
                "username": name,
                "role": role,
                "affiliation": affiliation,
                "status_epoch": last,
                "first_seen": first,
                "last_seen": last,
            }
            self.next_user += 1
            self.new_users.append(user)
        elif _seen_again(user, {"role": role, "affiliation": affiliation}, "status_epoch", first, last):
            self.changed_users.add(name)
        return user["id"]

    def machine_id(self, name: str, machine_type: str, epoch: int) -> int:
        """The machine's id (a new one for a new machine), keeping the type seen at the latest epoch."""
        return self.see_machine(name, machine_type, epoch, epoch)

    def see_machine(self, name: str, machine_type: str, first: int, last: int) -> int:
        """The machine's id (a new one for a new machine), seen from `first` to `last`, of this type at `last`."""
        machine = self.machines.get(name)
        if machine is None:
            machine = self.machines[name] = {
                "id": self.next_machine,
                "name": name,
                "machine_type": machine_type,
                "type_epoch": last,
                "first_seen": first,
                "last_seen": last,
            }
            self.next_machine += 1
            self.new_machines.append(machine)
        elif _seen_again(machine, {"machine_type": machine_type}, "type_epoch", first, last):
            self.changed_machines.add(name)
        return machine["id"]

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
        new = ((io_size_ranges, self.new_buckets), (users, self.new_users), (machines, self.new_machines))
        for table, records in new:
            names = [c.name for c in table.columns]
            insert_rows(conn, table, names, [tuple(record[name] for name in names) for record in records])
        new_users, new_machines = {u["username"] for u in self.new_users}, {m["name"] for m in self.new_machines}
        self.changed_users -= new_users  # inserted as they are now
        self.changed_machines -= new_machines
        self.new_users, self.new_machines, self.new_buckets = [], [], []

    def flush_changes(self, conn: Connection) -> None:
        """Update the users and machines whose status, type or first/last hour changed."""
        update_by_id(conn, users, [self.users[n] for n in self.changed_users], USER_FIELDS)
        update_by_id(conn, machines, [self.machines[n] for n in self.changed_machines], MACHINE_FIELDS)
        self.changed_users, self.changed_machines = set(), set()


class DirectorySnapshot(NamedTuple):
    users: dict[str, dict]
    machines: dict[str, dict]
    buckets: dict[str, int]
    ids: tuple[int, int, int, int]  # next user, machine, log entry, session
    new: tuple[list[str], list[str], list[dict]]  # new users and machines by name, new buckets
    changed: tuple[set[str], set[str]]


USER_FIELDS = ("role", "affiliation", "status_epoch", "first_seen", "last_seen")  # what seeing a user can change
MACHINE_FIELDS = ("machine_type", "type_epoch", "first_seen", "last_seen")


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
