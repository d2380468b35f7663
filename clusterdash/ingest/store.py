"""Parsed blocks -> database rows, idempotently: write_blocks, in two halves (prepare_blocks reads and computes,
store_blocks writes), so that whatever a block's content can make fail fails before a row is written.

A block is identified by its epoch, and inside it a histogram row by (direction, machine, user, bucket): whatever
file a block is read from, and however often, each of those is stored once. The fast paths:

* a block whose epoch is new is inserted whole, with ids assigned here (the caller holds the single-writer lock,
  see db.engine.write_transaction), so there is no SELECT or RETURNING per row;
* a block already stored with the same content digest is skipped whole: a re-read costs one SELECT per batch;
* only a block that differs from what is stored (an earlier read saw it half-written, or two copies disagree) is
  merged row by row (merge.py); a row already stored keeps its first count.

Rows with a zero count are not stored: they add nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Row, select

from clusterdash.db.bulk import insert_rows
from clusterdash.db.rejected import keep_new_lines
from clusterdash.db.rollups import PendingRollups, add_to_rollups
from clusterdash.db.schema import io_operations, log_entries, rejected_lines, user_sessions
from clusterdash.ingest.blocks import Block, Rejected
from clusterdash.ingest.directory import Directory
from clusterdash.ingest.merge import Merged, merge_blocks, merge_duplicate_epochs, store_merged
from clusterdash.ingest.refuse import OperationsLimit
from clusterdash.ingest.sessions import OPERATION_COLUMNS, SESSION_COLUMNS, NewRows, NewSessions

ENTRY_COLUMNS = ("id", "epoch", "wallclock", "lost_events", "digest", "ingested_at")

# The counts LoadCounts.add sums.
_SUMMED = ("blocks_new", "blocks_merged", "blocks_unchanged", "sessions", "rows", "rejected_lines", "blocks_refused")


@dataclass
class LoadCounts:
    """What one or more write() calls added to the database."""

    blocks_new: int = 0
    blocks_merged: int = 0  # already stored, but this read added rows to it
    blocks_unchanged: int = 0
    sessions: int = 0
    rows: int = 0  # IOOperations rows (non-zero counts)
    operations: dict[str, int] = field(default_factory=lambda: {"rd": 0, "wr": 0})
    rejected_lines: int = 0  # new in the database
    blocks_refused: int = 0  # not stored: storing them failed (see Loader)
    refused: list[Rejected] = field(default_factory=list)  # their lines, those the parser had not rejected already

    def add(self, other: LoadCounts) -> None:
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for direction, count in other.operations.items():
            self.operations[direction] += count
        self.refused.extend(other.refused)


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


def rejected_identity(block: Block, source: str, rejected: Rejected) -> str:
    """Identity of a rejected line, equal for every copy of the same block: the block's Log: line (or, before any
    Log: line, the file), the line's place in the block and its text."""
    anchor = block.anchor or f"file:{source}"
    digest = hashlib.sha1(f"{anchor}\n{rejected.ordinal}\n{rejected.text}".encode()).hexdigest()
    return digest


def write_blocks(
    conn: Connection,
    blocks: Iterable[Block],
    source: str,
    rollups: PendingRollups | None = None,
    directory: Directory | None = None,
    limit: OperationsLimit | None = None,
) -> LoadCounts:
    """Store `blocks` (read from `source`) inside the caller's write transaction. Idempotent. The rollups are
    brought up to date before this returns, or, given `rollups`, when the caller flushes it (before it commits).
    directory: the transaction's Directory, for a caller that writes several batches in one transaction: new users,
    machines and buckets are inserted here, and the caller writes the changed ones (directory.flush_changes)
    before it commits, once rather than after every batch (every user's last hour moves with each batch).
    limit: the transaction's OperationsLimit (one is made otherwise)."""
    return store_blocks(conn, prepare_blocks(conn, blocks, directory, limit, rollups), source)


@dataclass
class Prepared:
    """A batch ready to store: everything that can fail because of what the blocks hold has been done."""

    blocks: list[Block]  # one per epoch (merge_duplicate_epochs)
    counts: LoadCounts
    directory: Directory
    owns_directory: bool  # made for this batch: written whole by store_blocks
    new_entries: list[tuple]  # LogEntries rows
    added: NewRows
    merged: Merged | None
    rollups_pending: bool  # added to the caller's PendingRollups already; else store_blocks adds them
    now: int


def prepare_blocks(
    conn: Connection,
    blocks: Iterable[Block],
    directory: Directory | None = None,
    limit: OperationsLimit | None = None,
    rollups: PendingRollups | None = None,
) -> Prepared:
    """The first half of write_blocks: reads and computes, writes nothing. Whatever a block's content can make fail
    fails here (TotalTooLarge when the operations added would take the database's total past INT64_MAX, a value
    out of range...), before a row is written; it changes only `directory`, `limit` and `rollups` (see
    Directory.snapshot, PendingRollups.mark)."""
    counts = LoadCounts()
    blocks = merge_duplicate_epochs(blocks)
    names = Directory(conn) if directory is None else directory
    now = int(time.time())
    data_blocks = [b for b in blocks if b.epoch is not None]
    stored: dict[int, Row] = {}
    if data_blocks:
        # A range, not IN (the batch's epochs): one statement text, compiled once (a batch is a few days of hours).
        wanted = {b.epoch for b in data_blocks if b.epoch is not None}
        rows = conn.execute(
            select(log_entries.c.id, log_entries.c.epoch, log_entries.c.digest, log_entries.c.lost_events).where(
                log_entries.c.epoch.between(min(wanted), max(wanted))
            )
        )
        stored = {r.epoch: r for r in rows if r.epoch in wanted}

    new_entries = []
    new = NewSessions()
    merge: list[tuple[Block, Row]] = []
    for block in data_blocks:
        epoch = block.epoch
        assert epoch is not None  # data blocks only
        digest = block_digest(block)
        previous = stored.get(epoch)
        if previous is None:
            entry_id = names.next_log_entry
            names.next_log_entry += 1
            new_entries.append((entry_id, epoch, block.wallclock, block.lost_events, digest, now))
            new.add(names, epoch, entry_id, block.columns())
            counts.blocks_new += 1
        elif previous.digest == digest:
            counts.blocks_unchanged += 1
        else:
            merge.append((block, previous))

    merged = merge_blocks(conn, names, merge, new) if merge else None
    if merged is not None:
        counts.blocks_merged += merged.blocks
        counts.blocks_unchanged += merged.unchanged
    added = new.columns(names)
    (limit or OperationsLimit()).take(conn, sum(added.operations.values()))
    for direction, operations in added.operations.items():
        counts.operations[direction] += operations
    counts.sessions += len(added.sessions)
    counts.rows += len(added.io_rows)
    if rollups is not None:  # summed to day cells now (what can fail there fails before anything is written)
        rollups.add(conn, added.rollup_sessions, added.io_rows)
    return Prepared(blocks, counts, names, directory is None, new_entries, added, merged, rollups is not None, now)


def store_blocks(conn: Connection, prepared: Prepared, source: str) -> LoadCounts:
    """The second half of write_blocks: write what prepare_blocks made (values it checked: a failure here is the
    database's, not a block's)."""
    added = prepared.added
    if prepared.owns_directory:
        prepared.directory.flush(conn)
    else:
        prepared.directory.flush_new(conn)
    insert_rows(conn, log_entries, ENTRY_COLUMNS, prepared.new_entries)
    insert_rows(conn, user_sessions, SESSION_COLUMNS, added.sessions)
    insert_rows(conn, io_operations, OPERATION_COLUMNS, added.io_rows)
    if prepared.merged is not None:
        store_merged(conn, prepared.merged)
    if not prepared.rollups_pending:  # same transaction: the rollups never lag the rows
        add_to_rollups(conn, added.rollup_sessions, added.io_rows)
    prepared.counts.rejected_lines = write_rejected(conn, prepared.blocks, source, prepared.now)
    return prepared.counts


def write_rejected(conn: Connection, blocks: list[Block], source: str, now: int) -> int:
    """Insert the rejected lines not already stored; returns how many were new."""
    candidates: dict[str, dict] = {}
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
    return keep_new_lines(conn, rejected_lines, candidates)
