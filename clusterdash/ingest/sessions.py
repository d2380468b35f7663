"""The sessions (histograms) a batch of blocks adds, and their totals.

Why columns: a month of log is ~130k rows in ~14k sessions, and per-row Python work (a tuple, a lookup, a few float
products per row) costs more than SQLite's insert; collected as columns the rows are extended in bulk, and ids,
totals and the arrays for the insert and the rollups are computed by numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from clusterdash.db.schema import DIRECTIONS
from clusterdash.db.sums import check_summable, sums_by_group
from clusterdash.ingest.blocks import Histograms
from clusterdash.ingest.directory import Directory, label_weights

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


class NewRows(NamedTuple):
    """What a batch adds, ready to insert: UserSessions rows in SESSION_COLUMNS order; IOOperations rows as an
    (n, 3) array of session id, size range id, count (zero counts left out); the sessions for the rollups as an
    (n, 5) array of id, epoch, user id, machine id, direction (0 rd, 1 wr); and the operations added per
    direction."""

    sessions: list[tuple]
    io_rows: np.ndarray
    rollup_sessions: np.ndarray
    operations: dict[str, int]


SESSION_TOTALS = ("operations", "small_operations", "bytes_low", "bytes_mid", "bytes_high")  # SessionTotals' fields


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
        weights = label_weights(label)
        ops += count
        if weights.small:
            small += count
        low += count * weights.low
        mid += count * weights.mid
        if high is not None:
            high = None if weights.high is None else high + count * weights.high
    return SessionTotals(ops, small, low, mid, high)


class NewSessions:
    """The sessions a batch adds, kept as columns, and the histogram rows it adds (to them or to sessions stored
    earlier)."""

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
        self.added_operations = dict.fromkeys(DIRECTIONS, 0)  # in added_rows

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

    def columns(self, directory: Directory) -> NewRows:
        """The rows to insert and to add to the rollups (see NewRows)."""
        for _, label, _ in self.added_rows:
            directory.bucket_id(label)
        user_ids, machine_ids, is_write = self._resolve(directory)
        ids = np.array(self.ids, dtype=np.int64)
        bucket_ids = np.concatenate(self.bucket_parts) if self.bucket_parts else np.zeros(0, dtype=np.int64)
        row_counts = np.concatenate(self.count_parts) if self.count_parts else np.zeros(0, dtype=np.int64)
        owner = np.repeat(np.arange(len(ids)), self.lengths)
        # Operations in integers (exact at any size, and checked: the total of a batch fits in 64 bits, so every
        # session's does); bytes in floats, summed in row order as session_totals does, to the same last bit.
        check_summable(row_counts, "the operations of a batch")
        is_small, *byte_weights = directory.weights()
        operations = sums_by_group(owner, row_counts, len(ids))
        small = sums_by_group(owner, row_counts * (is_small[bucket_ids] > 0), len(ids))
        low, mid, high, unbounded = (
            np.bincount(owner, weights=row_counts * weight[bucket_ids], minlength=len(ids)) for weight in byte_weights
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
                operations.tolist(),
                small.tolist(),
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
        by_direction = dict(self.added_operations)
        by_direction["rd"] += int(row_counts[~is_write[owner]].sum())
        by_direction["wr"] += int(row_counts[is_write[owner]].sum())
        rollup_sessions = np.column_stack(
            [ids, np.array(self.epochs, dtype=np.int64), user_ids, machine_ids, is_write.astype(np.int64)]
        )
        return NewRows(sessions, ops.reshape(-1, 3), rollup_sessions.reshape(-1, 5), by_direction)

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
