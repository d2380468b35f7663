"""Parsed blocks -> database rows, idempotently; and the Loader, the one way the ingest writes and commits.

A block is identified by its epoch, and inside it a histogram row by (direction, machine, user, bucket): whatever
file a block is read from, and however often, each of those is stored once. The fast paths:

* a block whose epoch is new is inserted whole, with ids assigned here (the caller holds the single-writer lock,
  see db.engine.write_transaction), so there is no SELECT or RETURNING per row;
* a block already stored with the same content digest is skipped whole: a re-read costs one SELECT per batch;
* only a block that differs from what is stored (an earlier read saw it half-written, or two copies disagree) is
  merged row by row (merge.py); a row already stored keeps its first count.

Rows with a zero count are not stored: they add nothing. A block whose storing fails for a reason of its own is
refused and the others stored (Loader, refuse.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, Index, Row, insert, select

from clusterdash.db.bulk import create_indexes, drop_secondary_indexes, insert_rows
from clusterdash.db.engine import database_unavailable, write_transaction
from clusterdash.db.rollups import PendingRollups, add_to_rollups
from clusterdash.db.schema import io_operations, log_entries, rejected_lines, user_sessions
from clusterdash.ingest.blocks import Block, Rejected
from clusterdash.ingest.directory import Directory
from clusterdash.ingest.merge import merge_blocks, merge_duplicate_epochs
from clusterdash.ingest.position import LogFile, Position, save_position
from clusterdash.ingest.refuse import OperationsLimit, refusal_reason, refused_lines
from clusterdash.ingest.sessions import OPERATION_COLUMNS, SESSION_COLUMNS, NewSessions

log = logging.getLogger("clusterdash.ingest")

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
    rejected_lines: int = 0  # new in the database
    blocks_refused: int = 0  # not stored: storing them failed (see Loader)
    refused: list[Rejected] = field(default_factory=list)  # their lines, those the parser had not rejected already

    def add(self, other: LoadCounts) -> None:
        names = (
            "blocks_new",
            "blocks_merged",
            "blocks_unchanged",
            "sessions",
            "rows",
            "rejected_lines",
            "blocks_refused",
        )
        for name in names:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for direction, count in other.operations.items():
            self.operations[direction] += count
        self.refused.extend(other.refused)


_SUMMED = ("blocks_new", "blocks_merged", "blocks_unchanged", "sessions", "rows", "rejected_lines", "blocks_refused")


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
    limit: the transaction's OperationsLimit (one is made otherwise); TotalTooLarge, before anything is written,
    when the operations added would take the database's total past INT64_MAX."""
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

    if merge:
        merged, unchanged = merge_blocks(conn, names, merge, new)
        counts.blocks_merged += merged
        counts.blocks_unchanged += unchanged
    added = new.columns(names)
    (limit or OperationsLimit()).take(conn, sum(added.operations.values()))
    for direction, operations in added.operations.items():
        counts.operations[direction] += operations
    if directory is None:
        names.flush(conn)
    else:
        names.flush_new(conn)
    insert_rows(conn, log_entries, ENTRY_COLUMNS, new_entries)
    insert_rows(conn, user_sessions, SESSION_COLUMNS, added.sessions)
    insert_rows(conn, io_operations, OPERATION_COLUMNS, added.io_rows)
    # Same transaction: the rollups never lag the rows.
    if rollups is not None:
        rollups.add(conn, added.rollup_sessions, added.io_rows)
    else:
        add_to_rollups(conn, added.rollup_sessions, added.io_rows)
    counts.sessions += len(added.sessions)
    counts.rows += len(added.io_rows)
    counts.rejected_lines = _write_rejected(conn, blocks, source, now)
    return counts


BYTES_PER_SESSION = 800  # of log text, for a real-shaped log: ~9 histogram rows of 79 bytes and a header


def defer_session_indexes(conn: Connection, directory: Directory, bytes_ahead: int | None) -> list[Index]:
    """Before a bulk load of `bytes_ahead` bytes of log (None: unknown, e.g. compressed) in the caller's
    transaction: drop UserSessions' secondary indexes when the load will add more sessions than the table holds,
    which makes building them afresh cheaper than inserting into them (the first ingest of a log). Returns the
    indexes to create again before the commit (db.bulk.create_indexes)."""
    stored = directory.next_session - 1  # session ids are dense: the last one is the count
    expected = None if bytes_ahead is None else bytes_ahead // BYTES_PER_SESSION
    if expected is not None and expected <= stored:
        return []
    if stored > DEFER_INDEXES_BELOW:  # even a large load: its share of the table is only known as it goes
        return []
    return drop_secondary_indexes(conn, user_sessions)


DEFER_INDEXES_BELOW = 20_000  # stored sessions: about what one transaction of COMMIT_ROWS rows adds


def _write_rejected(conn: Connection, blocks: list[Block], source: str, now: int) -> int:
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
                    "text": rejected.text.replace("\x00", "\ufffd"),  # PostgreSQL's text cannot hold NUL
                    "reason": rejected.reason,
                    "seen_at": now,
                },
            )
    if not candidates:
        return 0
    known: set[str] = set()
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


# Histogram rows per transaction of a Loader. Fewer, larger transactions upsert fewer rollup rows (a week or month
# split by a commit is upserted twice); the bound is memory, since a transaction's rollups are summed at its commit.
COMMIT_ROWS = 160_000


class Loader:
    """Writes the blocks read from one log file and commits them with the position to resume reading from: the one
    way the ingest writes, for the one-shot ingest and the follower alike. The rules of a load's transaction:

    * one write transaction (the single-writer lock) spans one or more batches, and commits every `commit_rows`
      histogram rows and at the end;
    * the read position after the last batch is saved in the same transaction as the rows before it, so what a
      restart skips is exactly what was committed (a crash, even SIGKILL, loses only the transaction in hand);
    * the rollups of its batches are summed as they come and upserted once, in the same transaction, just before
      the commit (db.rollups.PendingRollups): they never lag the rows;
    * users, machines and buckets are read once per transaction and the changed ones written once (Directory);
    * a bulk load on SQLite builds UserSessions' secondary indexes at the commit instead of inserting into them
      (defer_session_indexes); a rollback or a crash restores them.

        with Loader(engine, log, row_id) as loader:  # commits on the way out, rolls back on an exception
            for batch in read_batches(log, start, ...):
                loader.write(batch.blocks, batch.position)
        row_id = loader.position_row
    """

    def __init__(
        self, engine: Engine, log_file: LogFile, position_row: int | None, commit_rows: int = COMMIT_ROWS
    ) -> None:
        self._engine, self._log = engine, log_file
        self.position_row = position_row  # the IngestFiles row of the position (None: a new one at the commit)
        self.commit_rows = commit_rows
        self._open: _Transaction | None = None

    def __enter__(self) -> Loader:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.commit()
        else:
            self._end((exc_type, exc, traceback))

    def write(self, blocks: Sequence[Block], position: Position, bytes_ahead: int | None = None) -> LoadCounts:
        """Store `blocks` in the transaction in hand (opening one) and note `position`, where reading resumes after
        them, to be saved with the commit; commits once the transaction holds `commit_rows` histogram rows.
        bytes_ahead: about how many bytes of log the transaction takes from here on (None: unknown, e.g. a
        compressed file), for the bulk-load choice of defer_session_indexes. After an exception, roll back."""
        if self._open is None:
            stack = contextlib.ExitStack()
            self._open = _Transaction(stack, stack.enter_context(write_transaction(self._engine)))
        txn = self._open
        counts = LoadCounts()
        if blocks:
            if txn.directory is None:
                txn.directory = Directory(txn.conn)
                txn.deferred = defer_session_indexes(txn.conn, txn.directory, bytes_ahead)
                if txn.deferred:
                    names = ", ".join(str(index.name) for index in txn.deferred)
                    log.debug("bulk load: indexes %s dropped until the commit", names)
            counts = self._store(txn, list(blocks))
            txn.rows += counts.rows
        txn.position = position
        if txn.rows >= self.commit_rows:
            self.commit()
        return counts

    def _store(self, txn: _Transaction, blocks: list[Block]) -> LoadCounts:
        """write_blocks in a savepoint. Should it fail for any reason but the database failing (db.engine.
        database_unavailable: that is the caller's to retry), the batch is tried again block by block, and a block
        that fails alone is refused: its lines are kept as rejected lines with the reason, the others are stored."""
        try:
            return self._attempt(txn, blocks)
        except Exception as exc:
            if database_unavailable(exc):
                raise
            if len(blocks) == 1:
                return self._refuse(txn, blocks[0], exc)
        counts = LoadCounts()
        for block in blocks:
            counts.add(self._store(txn, [block]))
        return counts

    def _attempt(self, txn: _Transaction, blocks: list[Block]) -> LoadCounts:
        """write_blocks in a savepoint, undone (database and memory alike) if it fails."""
        assert txn.directory is not None  # set before the first write
        saved = txn.directory.snapshot(), txn.rollups.mark(), txn.limit.added
        savepoint = txn.conn.begin_nested()
        try:
            counts = write_blocks(txn.conn, blocks, self.source, txn.rollups, txn.directory, txn.limit)
        except Exception as exc:
            if not database_unavailable(exc):  # else the whole transaction is lost: the caller rolls it back
                savepoint.rollback()
                txn.directory.restore(saved[0])
                txn.rollups.restore(saved[1])
                txn.limit.added = saved[2]
            raise
        savepoint.commit()
        return counts

    def _refuse(self, txn: _Transaction, block: Block, exc: Exception) -> LoadCounts:
        reason = refusal_reason(exc)
        lines = refused_lines(block, reason)
        log.warning(
            "%s: refused the block at line %d (epoch %s), %d line(s) kept as rejected lines: %s",
            self.source,
            block.line,
            block.epoch,
            len(lines),
            reason,
        )
        refused = Block(block.epoch, block.wallclock, block.line, block.anchor, rejected=lines)
        new = _write_rejected(txn.conn, [refused], self.source, int(time.time()))
        parsed = {id(r) for r in block.rejected}
        return LoadCounts(rejected_lines=new, blocks_refused=1, refused=[r for r in lines if id(r) not in parsed])

    @property
    def source(self) -> str:
        return str(self._log.path)

    def commit(self) -> None:
        """Save the position noted last, finish the transaction's indexes, users, machines and rollups, and commit."""
        txn = self._open
        if txn is None:
            return
        row_id = self.position_row
        if txn.position is not None:
            row_id = save_position(txn.conn, self._log, txn.position, row_id)
        create_indexes(txn.conn, txn.deferred)
        if txn.directory is not None:
            txn.directory.flush_changes(txn.conn)
        txn.rollups.flush(txn.conn)
        self._end(None)
        self.position_row = row_id  # only once committed: a failed commit leaves the row as it was
        log.debug("committed a transaction of %s histogram rows", f"{txn.rows:,}")

    def rollback(self) -> None:
        """Drop what was written since the last commit (the rollback restores any index dropped for it)."""
        self._end((RuntimeError, RuntimeError("load abandoned"), None))

    def _end(self, failure: tuple | None) -> None:
        """End the transaction in hand: commit it (failure None) or roll it back (failure: an exc_info triple)."""
        txn, self._open = self._open, None
        if txn is None:
            return
        if failure is None:
            txn.stack.close()
        else:
            txn.stack.__exit__(*failure)


@dataclass
class _Transaction:
    """A Loader's open write transaction and what it keeps until its commit."""

    stack: contextlib.ExitStack  # holds db.engine.write_transaction: closing it commits
    conn: Connection
    position: Position | None = None  # read up to here: saved with the commit
    directory: Directory | None = None  # users, machines and buckets, read at its first blocks
    deferred: list[Index] = field(default_factory=list)  # UserSessions indexes to create at the commit
    rollups: PendingRollups = field(default_factory=PendingRollups)
    limit: OperationsLimit = field(default_factory=OperationsLimit)  # the database's total, checked
    rows: int = 0  # histogram rows written in it
