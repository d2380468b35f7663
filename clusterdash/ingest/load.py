"""Parsed blocks -> database rows, in batches, idempotently.

A block is identified by its epoch, and inside it a histogram row by
(direction, machine, user, bucket): whatever file a block is read from, and
however often, each of those is stored once. The fast paths:

* a block whose epoch is new is inserted whole, with ids assigned here (the
  caller holds the single-writer lock, see db.engine.write_transaction), so
  there is no SELECT or RETURNING per row;
* a block already stored with the same content digest is skipped whole: a
  re-read costs one SELECT per batch;
* only a block that differs from what is stored (an earlier read saw it
  half-written, or two copies disagree) is merged row by row; a row already
  stored keeps its first count.

Users, machines and size buckets are resolved through dictionaries loaded once
per transaction. Rows with a zero count are not stored: they add nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Connection, Index, bindparam, func, insert, select, update

from clusterdash.db import sizes
from clusterdash.db.bulk import drop_secondary_indexes, insert_rows
from clusterdash.db.rollups import PendingRollups, add_to_rollups
from clusterdash.db.schema import (
    DIRECTIONS,
    io_operations,
    io_size_ranges,
    log_entries,
    machines,
    rejected_lines,
    user_sessions,
    users,
)
from clusterdash.ingest.parse import Block, Histograms, bucket_of

SESSION_COLUMNS = (
    "id",
    "log_entry_id",
    "user_id",
    "machine_id",
    "direction",
    "epoch",
    "operations",
    "small_operations",
    "bytes_low",
    "bytes_mid",
    "bytes_high",
)
OPERATION_COLUMNS = ("session_id", "size_range_id", "count")
ENTRY_COLUMNS = ("id", "epoch", "wallclock", "lost_events", "digest", "ingested_at")


@dataclass
class LoadCounts:
    """What one or more write() calls added to the database."""

    blocks_new: int = 0
    blocks_merged: int = 0  # already stored, but this read added rows to it
    blocks_unchanged: int = 0
    sessions: int = 0
    rows: int = 0  # IOOperations rows (non-zero counts)
    operations: dict[str, int] = field(default_factory=lambda: {"rd": 0, "wr": 0})
    rejected_lines: int = 0

    def add(self, other: LoadCounts) -> None:
        for name in ("blocks_new", "blocks_merged", "blocks_unchanged", "sessions", "rows", "rejected_lines"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for direction, count in other.operations.items():
            self.operations[direction] += count


@dataclass(slots=True)
class SessionTotals:
    operations: int
    small_operations: int
    bytes_low: float
    bytes_mid: float
    bytes_high: float | None


def session_totals(rows: dict[str, int]) -> SessionTotals:
    """Operations and byte estimates of one histogram (bucket label -> count). Bytes lie between count x lower
    and count x upper bound; the estimate is count x midpoint. Negative sizes count 0 bytes; an open bucket has
    no upper bound, so its midpoint is its lower bound and the histogram's upper estimate is None."""
    ops = small = 0
    low = mid = 0.0
    high: float | None = 0.0
    for label, count in rows.items():
        if not count:
            continue
        weights = _WEIGHTS.get(label) or _weights(label)
        ops += count
        if weights[3]:
            small += count
        low += count * weights[0]
        mid += count * weights[1]
        if high is not None:
            high = None if weights[2] is None else high + count * weights[2]
    return SessionTotals(ops, small, low, mid, high)


_WEIGHTS: dict[str, tuple[float, float, float | None, bool]] = {}


def _weights(label: str) -> tuple[float, float, float | None, bool]:
    """Per-operation bytes of a bucket (lower, midpoint, upper) and whether it is small IO."""
    bucket = bucket_of(label)
    weights = _WEIGHTS[label] = tuple(sizes.weights(bucket.lower, bucket.upper))
    return weights


def block_digest(block: Block) -> str:
    """A digest of a block: equal digests mean a re-read has nothing to add. The parser's digest of the block's
    text when it has one; else one of its content."""
    if block.digest:
        return block.digest
    parts = [str(block.epoch), str(block.lost_events)]
    for entry in sorted(block.entries, key=lambda e: e.key):
        parts.append("|".join(entry.key))
        parts.extend(f"{label}={count}" for label, count in sorted(entry.rows.items()) if count)
        parts.append(";")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def rejected_identity(block: Block, source: str, rejected) -> str:
    """Identity of a rejected line, equal for every copy of the same block: the block's Log: line (or, before any
    Log: line, the file), the line's place in the block and its text."""
    anchor = block.anchor or f"file:{source}"
    digest = hashlib.sha1(f"{anchor}\n{rejected.ordinal}\n{rejected.text}".encode()).hexdigest()
    return digest


def merge_duplicate_epochs(blocks: Iterable[Block]) -> list[Block]:
    """One block per epoch: a batch can hold two copies of the same hour (e.g. a file and its rotated copy).
    The first copy's rows win; later copies only add what the first lacks."""
    by_epoch: dict[int, Block] = {}
    merged: list[Block] = []
    for block in blocks:
        if block.epoch is None:
            merged.append(block)
            continue
        first = by_epoch.get(block.epoch)
        if first is None:
            by_epoch[block.epoch] = block
            merged.append(block)
            continue
        first.digest = None  # its content is now the union of two copies
        first.lost_events = max(first.lost_events, block.lost_events)
        first.rejected.extend(block.rejected)
        entries = {e.key: e for e in first.entries}
        for entry in block.entries:
            mine = entries.get(entry.key)
            if mine is None:
                first.entries.append(entry)
                entries[entry.key] = entry
            else:
                for bucket, count in entry.rows.items():
                    mine.rows.setdefault(bucket, count)
    return merged


class Directory:
    """Users, machines and buckets by name, with the next free ids; loaded once per transaction (a one-shot ingest
    keeps one over all the batches of its transaction: see write_blocks)."""

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
        """Per size bucket, arrays indexed by its id: (1, small IO?, bytes per operation low, mid, high, open?).
        Times a row's count, its share of each session total (the rules of _weights)."""
        size = 1 + max(self.buckets.values(), default=0)
        one, small, low, mid, high, unbounded = (np.zeros(size) for _ in range(6))
        for label, bucket_id in self.buckets.items():
            lower, middle, upper, is_small = _WEIGHTS.get(label) or _weights(label)
            one[bucket_id], small[bucket_id], low[bucket_id], mid[bucket_id] = 1.0, float(is_small), lower, middle
            high[bucket_id], unbounded[bucket_id] = (0.0, 1.0) if upper is None else (upper, 0.0)
        return one, small, low, mid, high, unbounded

    def flush(self, conn: Connection) -> None:
        """Write new and changed users, machines and buckets (before the rows that refer to them are committed)."""
        self.flush_new(conn)
        self.flush_changes(conn)

    def flush_new(self, conn: Connection) -> None:
        """Insert the users, machines and buckets seen for the first time."""
        if self.new_buckets:
            conn.execute(insert(io_size_ranges), self.new_buckets)
        if self.new_users:
            conn.execute(insert(users), self.new_users)
        if self.new_machines:
            conn.execute(insert(machines), self.new_machines)
        new_users, new_machines = {u["username"] for u in self.new_users}, {m["name"] for m in self.new_machines}
        self.changed_users -= new_users  # inserted as they are now
        self.changed_machines -= new_machines
        self.new_users, self.new_machines, self.new_buckets = [], [], []

    def flush_changes(self, conn: Connection) -> None:
        """Update the users and machines whose status, type or first/last hour changed."""
        changed_users = [self.users[n] for n in self.changed_users]
        if changed_users:
            conn.execute(
                update(users)
                .where(users.c.id == bindparam("uid"))
                .values(
                    role=bindparam("role"),
                    affiliation=bindparam("affiliation"),
                    status_epoch=bindparam("status_epoch"),
                    first_seen=bindparam("first_seen"),
                    last_seen=bindparam("last_seen"),
                ),
                [
                    {
                        "uid": u["id"],
                        "role": u["role"],
                        "affiliation": u["affiliation"],
                        "status_epoch": u["status_epoch"],
                        "first_seen": u["first_seen"],
                        "last_seen": u["last_seen"],
                    }
                    for u in changed_users
                ],
            )
        changed_machines = [self.machines[n] for n in self.changed_machines]
        if changed_machines:
            conn.execute(
                update(machines)
                .where(machines.c.id == bindparam("mid"))
                .values(
                    machine_type=bindparam("machine_type"),
                    type_epoch=bindparam("type_epoch"),
                    first_seen=bindparam("first_seen"),
                    last_seen=bindparam("last_seen"),
                ),
                [
                    {
                        "mid": m["id"],
                        "machine_type": m["machine_type"],
                        "type_epoch": m["type_epoch"],
                        "first_seen": m["first_seen"],
                        "last_seen": m["last_seen"],
                    }
                    for m in changed_machines
                ],
            )
        self.changed_users, self.changed_machines = set(), set()


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


def write_blocks(
    conn: Connection,
    blocks: Iterable[Block],
    source: str,
    rollups: PendingRollups | None = None,
    directory: Directory | None = None,
) -> LoadCounts:
    """Store `blocks` (read from `source`) inside the caller's write transaction. Idempotent. The rollups are
    brought up to date before this returns, or, given `rollups`, when the caller flushes it (before it commits).
    directory: the transaction's Directory, for a caller that writes several batches in one transaction: new users,
    machines and buckets are inserted here, and the caller writes the changed ones (directory.flush_changes)
    before it commits, once rather than after every batch (every user's last hour moves with each batch)."""
    counts = LoadCounts()
    blocks = merge_duplicate_epochs(blocks)
    own_directory = directory is None
    directory = Directory(conn) if own_directory else directory
    now = int(time.time())
    data_blocks = [b for b in blocks if b.epoch is not None]
    stored = {}
    if data_blocks:
        # A range, not IN (the batch's epochs): one statement text, compiled once (a batch is a few days of hours).
        wanted = {b.epoch for b in data_blocks}
        rows = conn.execute(
            select(log_entries.c.id, log_entries.c.epoch, log_entries.c.digest, log_entries.c.lost_events).where(
                log_entries.c.epoch.between(min(wanted), max(wanted))
            )
        )
        stored = {r.epoch: r for r in rows if r.epoch in wanted}

    new_entries = []
    new = _NewSessions()
    merge: list[tuple[Block, str, object]] = []
    for block in data_blocks:
        digest = block_digest(block)
        previous = stored.get(block.epoch)
        if previous is None:
            entry_id = directory.next_log_entry
            directory.next_log_entry += 1
            new_entries.append((entry_id, block.epoch, block.wallclock, block.lost_events, digest, now))
            new.add(directory, block.epoch, entry_id, block.columns())
            counts.blocks_new += 1
        elif previous.digest == digest:
            counts.blocks_unchanged += 1
        else:
            merge.append((block, digest, previous))

    if merge:
        _merge_blocks(conn, directory, merge, new, counts)
    sessions, ops, rollup_sessions = new.columns(directory, counts)
    if own_directory:
        directory.flush(conn)
    else:
        directory.flush_new(conn)
    insert_rows(conn, log_entries, ENTRY_COLUMNS, new_entries)
    insert_rows(conn, user_sessions, SESSION_COLUMNS, sessions)
    insert_rows(conn, io_operations, OPERATION_COLUMNS, ops)
    # Same transaction: the rollups never lag the rows.
    if rollups is not None:
        rollups.add(conn, rollup_sessions, ops)
    else:
        add_to_rollups(conn, rollup_sessions, ops)
    counts.sessions += len(sessions)
    counts.rows += len(ops)
    counts.rejected_lines = _write_rejected(conn, blocks, source, now)
    return counts


BYTES_PER_SESSION = 800  # of log text, for a real-shaped log: ~9 histogram rows of 79 bytes and a header


def defer_session_indexes(conn: Connection, directory: Directory, bytes_ahead: int | None) -> list[Index]:
    """Before a bulk load of `bytes_ahead` bytes of log (None: unknown, e.g. compressed) in the caller's
    transaction: drop UserSessions' secondary indexes when the load will add more sessions than the table holds,
    which makes building them afresh cheaper than inserting into them (the first ingest of a month: its sessions
    go in ~2x faster). Returns the indexes to create again before the commit (db.bulk.create_indexes)."""
    stored = directory.next_session - 1  # session ids are dense: the last one is the count
    expected = None if bytes_ahead is None else bytes_ahead // BYTES_PER_SESSION
    if expected is not None and expected <= stored:
        return []
    if stored > DEFER_INDEXES_BELOW:  # even a large load: its share of the table is only known as it goes
        return []
    return drop_secondary_indexes(conn, user_sessions)


DEFER_INDEXES_BELOW = 20_000  # stored sessions: about what one transaction of a one-shot ingest adds


class _NewSessions:
    """The sessions a batch adds, kept as columns, and the histogram rows it adds (to them or to sessions stored
    earlier). Why columns: a month of log is ~130k rows in ~14k sessions, and per-row Python work (a tuple, a
    lookup, a few float products per row) costs more than SQLite's insert; collected this way the rows are
    extended in bulk, and ids, totals and the arrays for the insert and the rollups are computed by numpy."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.entry_ids: list[int] = []
        self.epochs: list[int] = []
        self.header_parts: list[tuple[list, np.ndarray]] = []  # (distinct header fields, each entry's code)
        self.lengths: list[int] = []  # rows per session, zeros included
        self.bucket_parts: list[np.ndarray] = []  # every row's size bucket id, block after block
        self.count_parts: list[np.ndarray] = []
        self._names: dict[int, tuple[list, np.ndarray]] = {}  # id of a batch's label list -> (it, its bucket ids)
        self.added_rows: list[tuple[int, str, int]] = []  # (session id, label, count) for stored sessions

    def add(self, directory: Directory, epoch: int, log_entry_id: int, histograms: Histograms) -> None:
        """New sessions for the entries of the block with this epoch and LogEntries id."""
        headers = histograms.headers  # (direction, machine, machine type, user, role, affiliation) per entry
        count = len(headers)
        if not count:
            return
        first = directory.next_session
        directory.next_session += count
        self.ids.extend(range(first, first + count))
        self.entry_ids.extend([log_entry_id] * count)
        self.epochs.extend([epoch] * count)
        if histograms.header_codes is not None:
            self.header_parts.append((histograms.header_names, histograms.header_codes))
        else:
            self.header_parts.append((headers, np.arange(count)))
        bounds = histograms.bounds
        self.lengths.extend([hi - lo for lo, hi in zip(bounds, bounds[1:])])
        self.bucket_parts.append(self._bucket_ids(directory, histograms))
        self.count_parts.append(np.asarray(histograms.counts, dtype=np.int64))

    def _bucket_ids(self, directory: Directory, histograms: Histograms) -> np.ndarray:
        """The bucket id of each row: through the batch's distinct labels when the parser coded them."""
        if histograms.codes is None:
            return np.fromiter(map(directory.bucket_id, histograms.labels), np.int64, len(histograms.labels))
        names = histograms.names
        known = self._names.get(id(names))
        if known is None:
            known = self._names[id(names)] = (names, np.full(len(names), _UNRESOLVED, dtype=np.int64))
        ids = known[1]
        found = ids[histograms.codes]
        if (found == _UNRESOLVED).any():  # labels first used here (only these: a label of the batch's rejected
            # or stored blocks gets no IOSizeRanges row from this batch)
            for code in set(histograms.codes[found == _UNRESOLVED].tolist()):
                ids[code] = directory.bucket_id(names[code])
            found = ids[histograms.codes]
        return found

    def columns(self, directory: Directory, counts: LoadCounts) -> tuple[list[tuple], np.ndarray, np.ndarray]:
        """(UserSessions rows in SESSION_COLUMNS order; IOOperations rows as an (n, 3) array of session id, size
        range id, count, zero counts left out; the sessions for the rollups as an (n, 5) array of id, epoch,
        user id, machine id, direction 0 rd / 1 wr). Adds the operations to `counts`."""
        for _, label, _ in self.added_rows:
            directory.bucket_id(label)
        user_ids, machine_ids, is_write = self._resolve(directory)
        ids = np.array(self.ids, dtype=np.int64)
        bucket_ids = np.concatenate(self.bucket_parts) if self.bucket_parts else np.zeros(0, dtype=np.int64)
        row_counts = np.concatenate(self.count_parts) if self.count_parts else np.zeros(0, dtype=np.int64)
        owner = np.repeat(np.arange(len(ids)), self.lengths)
        # Summed in row order, as session_totals does, so the float totals are the same to the last bit.
        operations, small, low, mid, high, unbounded = (
            np.bincount(owner, weights=row_counts * weight[bucket_ids], minlength=len(ids))
            for weight in directory.weights()
        )
        highs = [None if u else h for h, u in zip(high.tolist(), unbounded.tolist())]
        sessions = list(
            zip(
                self.ids,
                self.entry_ids,
                user_ids.tolist(),
                machine_ids.tolist(),
                _DIRECTION_NAMES[is_write.astype(np.int64)].tolist(),
                self.epochs,
                np.rint(operations).astype(np.int64).tolist(),
                np.rint(small).astype(np.int64).tolist(),
                low.tolist(),
                mid.tolist(),
                highs,
            )
        )
        stored = row_counts != 0
        ops = np.column_stack([ids[owner[stored]], bucket_ids[stored], row_counts[stored]])
        if self.added_rows:
            ops = np.concatenate(
                [
                    ops,
                    np.array(
                        [(sid, directory.buckets[label], count) for sid, label, count in self.added_rows],
                        dtype=np.int64,
                    ),
                ]
            )
        counts.operations["rd"] += int(row_counts[~is_write[owner]].sum())
        counts.operations["wr"] += int(row_counts[is_write[owner]].sum())
        rollup_sessions = np.column_stack(
            [ids, np.array(self.epochs, dtype=np.int64), user_ids, machine_ids, is_write.astype(np.int64)]
        )
        return sessions, ops.reshape(-1, 3), rollup_sessions.reshape(-1, 5)

    def _resolve(self, directory: Directory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(user id, machine id, is a write) of every new session, with the directory told once per user and per
        machine of the batch when it was first and last seen and its status (type) at the last: the status in
        the latest hour, and in that hour the last entry's, as entry by entry. Python runs per distinct header
        of the batch, not per entry."""
        fields: list[tuple] = []
        base_of: dict[int, int] = {}
        parts = []
        for distinct, codes in self.header_parts:
            base = base_of.get(id(distinct))
            if base is None:
                base = base_of[id(distinct)] = len(fields)
                fields.extend(distinct)
            parts.append(codes + base)
        header = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        epochs = np.array(self.epochs, dtype=np.int64)
        users: dict[str, int] = {}
        machines_: dict[str, int] = {}
        user_of = np.array([users.setdefault(f[3], len(users)) for f in fields], dtype=np.int64)[header]
        machine_of = np.array([machines_.setdefault(f[1], len(machines_)) for f in fields], dtype=np.int64)[header]
        user_ids = np.zeros(len(users), dtype=np.int64)  # users of the batch's other blocks (stored ones) stay 0
        names = list(users)
        for i, first, last, at in _seen(user_of, epochs):
            f = fields[header[at]]
            user_ids[i] = directory.see_user(names[i], f[4], f[5], first, last)
        machine_ids = np.zeros(len(machines_), dtype=np.int64)
        names = list(machines_)
        for i, first, last, at in _seen(machine_of, epochs):
            machine_ids[i] = directory.see_machine(names[i], fields[header[at]][2], first, last)
        is_write = np.array([f[0] == "wr" for f in fields], dtype=bool)[header]
        return user_ids[user_of], machine_ids[machine_of], is_write


_DIRECTION_NAMES = np.array(DIRECTIONS, dtype=object)  # by is-a-write: 0 rd, 1 wr
_UNRESOLVED = -1  # a label code not yet given its bucket id


def _seen(key: np.ndarray, epochs: np.ndarray):
    """Per distinct key: (key, first epoch, last epoch, index of its last entry in its last epoch)."""
    order = np.lexsort((np.arange(len(key)), epochs, key))  # by key, then epoch, then position
    ordered = key[order]
    ends = np.flatnonzero(np.r_[ordered[1:] != ordered[:-1], True]) if len(key) else np.zeros(0, dtype=np.int64)
    starts = np.r_[0, ends[:-1] + 1] if len(ends) else ends
    return zip(
        ordered[ends].tolist(), epochs[order[starts]].tolist(), epochs[order[ends]].tolist(), order[ends].tolist()
    )


def _merge_blocks(conn, directory, merge, new: _NewSessions, counts) -> None:
    """Add to stored blocks the sessions and rows they lack; a stored row keeps its count."""
    entry_ids = [previous.id for _, _, previous in merge]
    stored_sessions = {}
    for s in conn.execute(
        select(
            user_sessions.c.id,
            user_sessions.c.log_entry_id,
            user_sessions.c.direction,
            user_sessions.c.machine_id,
            user_sessions.c.user_id,
        ).where(user_sessions.c.log_entry_id.in_(entry_ids))
    ):
        stored_sessions[(s.log_entry_id, s.direction, s.machine_id, s.user_id)] = s.id
    label_of = {v: k for k, v in directory.buckets.items()}
    stored_rows: dict[int, dict[str, int]] = {}
    if stored_sessions:
        for r in conn.execute(
            select(io_operations).where(io_operations.c.session_id.in_(list(stored_sessions.values())))
        ):
            stored_rows.setdefault(r.session_id, {})[label_of[r.size_range_id]] = r.count
    totals_updates = []
    for block, digest, previous in merge:
        changed = False
        for entry in block.entries:
            key = (
                previous.id,
                entry.direction,
                directory.machine_id(entry.machine, entry.machine_type, block.epoch),
                directory.user_id(entry.user, entry.role, entry.affiliation, block.epoch),
            )
            session_id = stored_sessions.get(key)
            if session_id is None:
                new.add(directory, block.epoch, previous.id, Histograms.of([entry]))
                changed = True
                continue
            have = stored_rows.setdefault(session_id, {})
            added = {b: c for b, c in entry.rows.items() if c and b not in have}
            if not added:
                continue
            for label, count in added.items():
                new.added_rows.append((session_id, label, count))
                counts.operations[entry.direction] += count
            have.update(added)
            t = session_totals(have)
            totals_updates.append(
                {
                    "sid": session_id,
                    "operations": t.operations,
                    "small_operations": t.small_operations,
                    "bytes_low": t.bytes_low,
                    "bytes_mid": t.bytes_mid,
                    "bytes_high": t.bytes_high,
                }
            )
            changed = True
        if block.lost_events > previous.lost_events:
            conn.execute(
                update(log_entries).where(log_entries.c.id == previous.id).values(lost_events=block.lost_events)
            )
            changed = True
        if changed:
            counts.blocks_merged += 1
        else:
            counts.blocks_unchanged += 1
    if totals_updates:
        conn.execute(
            update(user_sessions)
            .where(user_sessions.c.id == bindparam("sid"))
            .values(
                operations=bindparam("operations"),
                small_operations=bindparam("small_operations"),
                bytes_low=bindparam("bytes_low"),
                bytes_mid=bindparam("bytes_mid"),
                bytes_high=bindparam("bytes_high"),
            ),
            totals_updates,
        )


def _write_rejected(conn: Connection, blocks: list[Block], source: str, now: int) -> int:
    """Insert the rejected lines not already stored; returns how many were new."""
    candidates = {}
    for block in blocks:
        for rejected in block.rejected:
            identity = rejected_identity(block, source, rejected)
            candidates.setdefault(
                identity,
                {
                    "identity": identity,
                    "source": source,
                    "line_number": rejected.line,
                    "block_epoch": block.epoch,
                    "text": rejected.text,
                    "reason": rejected.reason,
                    "seen_at": now,
                },
            )
    if not candidates:
        return 0
    known = set()
    identities = list(candidates)
    for start in range(0, len(identities), 500):
        chunk = identities[start : start + 500]
        known.update(
            conn.execute(select(rejected_lines.c.identity).where(rejected_lines.c.identity.in_(chunk))).scalars()
        )
    fresh = [row for identity, row in candidates.items() if identity not in known]
    if fresh:
        conn.execute(insert(rejected_lines), fresh)
    return len(fresh)
