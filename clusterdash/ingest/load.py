"""The Loader: the one way the ingest writes and commits, for the one-shot ingest and the follower alike (its
rules in its docstring). The rows themselves are made and written by store.py. A block whose storing fails for a
reason of its own is refused and the others stored (refuse.py).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, Index

from clusterdash.db.bulk import create_indexes, drop_secondary_indexes
from clusterdash.db.engine import write_transaction
from clusterdash.db.periods import hour_of
from clusterdash.db.rollups import PendingRollups
from clusterdash.db.schema import user_sessions
from clusterdash.ingest.attribution import TouchedHours
from clusterdash.ingest.blocks import Block
from clusterdash.ingest.directory import Directory
from clusterdash.ingest.position import LogFile, Position, save_position
from clusterdash.ingest.refuse import OperationsLimit, blames_the_block, refusal_reason, refused_lines
from clusterdash.ingest.store import (
    LoadCounts,
    prepare_blocks,
    store_blocks,
    write_blocks,  # noqa: F401 - its home before store.py: callers import it here
    write_rejected,
)

log = logging.getLogger("clusterdash.ingest")

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


# Histogram rows per transaction of a Loader. Fewer, larger transactions upsert fewer rollup rows (a week or month
# split by a commit is upserted twice); the bound is memory, since a transaction's rollups are summed at its commit.
COMMIT_ROWS = 160_000


# Called after each commit with the hours (start epochs, sorted) whose blocks the transaction read complete: the
# seam through which the CLI wires alerts to the ingest (the ingest knows nothing of them). A block is complete
# once the next `Log:` line follows it, or when its reader says so (the follower: the file was quiet for `settle`
# seconds; the one-shot ingest: a finished file, or one unmodified for `settle` seconds). Blocks read again
# unchanged are reported too: the hook decides what is new to it.
AfterCommit = Callable[[list[int]], None]


class StoreFailed(RuntimeError):
    """Writing a prepared batch failed in a way that is not the database failing: nothing of the transaction is
    kept (a careful Loader refuses the block instead)."""


class Loader:
    """Writes the blocks read from one log file and commits them with the position to resume reading from: the one
    way the ingest writes, for the one-shot ingest and the follower alike. The rules of a load's transaction:

    * one write transaction (the single-writer lock) spans one or more batches, and commits every `commit_rows`
      histogram rows and at the end;
    * the read position after the last batch is saved in the same transaction as the rows before it, so what a
      restart skips is exactly what was committed (a crash, even SIGKILL, loses only the transaction in hand);
    * the rollups of its batches are summed as they come and upserted once, in the same transaction, just before
      the commit (db.rollups.PendingRollups): they never lag the rows; so is the IO of the hours it added shared
      among the stored jobs (ingest.attribution.TouchedHours);
    * users, machines and buckets are read once per transaction and the changed ones written once (Directory);
    * a bulk load on SQLite builds UserSessions' secondary indexes at the commit instead of inserting into them
      (defer_session_indexes); a rollback or a crash restores them;
    * after each commit, `after_commit` (if any) hears which hours the transaction read complete (AfterCommit);
      what it does, and any failure of it, never affects the load.

        with Loader(engine, log, row_id) as loader:  # commits on the way out, rolls back on an exception
            for batch in read_batches(log, start, ...):
                loader.write(batch.blocks, batch.position)
        row_id = loader.position_row
    """

    def __init__(
        self,
        engine: Engine,
        log_file: LogFile,
        position_row: int | None,
        commit_rows: int = COMMIT_ROWS,
        careful: bool = False,
        after_commit: AfterCommit | None = None,
    ) -> None:
        self._engine, self._log = engine, log_file
        self.after_commit = after_commit
        self.position_row = position_row  # the IngestFiles row of the position (None: a new one at the commit)
        self.commit_rows = commit_rows
        self.careful = careful  # each batch in a savepoint: see _attempt
        self._open: _Transaction | None = None

    def __enter__(self) -> Loader:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.commit()
        else:
            self._end((exc_type, exc, traceback))

    def write(
        self, blocks: Sequence[Block], position: Position, bytes_ahead: int | None = None, last_open: bool = False
    ) -> LoadCounts:
        """Store `blocks` in the transaction in hand (opening one) and note `position`, where reading resumes after
        them, to be saved with the commit; commits once the transaction holds `commit_rows` histogram rows.
        bytes_ahead: about how many bytes of log the transaction takes from here on (None: unknown, e.g. a
        compressed file), for the bulk-load choice of defer_session_indexes. last_open: the last block may still
        be growing (stored, but not reported complete to after_commit). After an exception, roll back."""
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
            complete = blocks[:-1] if last_open else blocks
            txn.hours.update(hour_of(b.epoch) for b in complete if b.epoch is not None)
        txn.position = position
        if txn.rows >= self.commit_rows:
            self.commit()
        return counts

    def _store(self, txn: _Transaction, blocks: list[Block]) -> LoadCounts:
        """Store a batch. Should it fail in a way a block can be to blame for (refuse.blames_the_block), it is tried
        again block by block, and a block that fails alone is refused: its lines are kept as rejected lines with
        the reason, the others are stored. Anything else (the database failing, a bug) is the caller's."""
        try:
            return self._attempt(txn, blocks)
        except Exception as exc:
            if not blames_the_block(exc):
                raise
            if len(blocks) == 1:
                return self._refuse(txn, blocks[0], exc)
        counts = LoadCounts()
        for block in blocks:
            counts.add(self._store(txn, [block]))
        return counts

    def _attempt(self, txn: _Transaction, blocks: list[Block]) -> LoadCounts:
        """prepare_blocks, undone in memory if it fails, then store_blocks. Everything a block's content can make
        fail fails in prepare_blocks, before a row is written, so no savepoint is needed for it (one per batch
        slows a bulk load on SQLite measurably: see the commit that removed it). A careful Loader (the follower's:
        a batch per transaction, where speed matters less) also writes the batch and its rollups in a savepoint,
        so that even a value the database refuses is the block's refusal, not the follower's end."""
        assert txn.directory is not None  # set before the first write
        saved = txn.directory.snapshot(), txn.rollups.mark(), txn.limit.added
        savepoint = txn.conn.begin_nested() if self.careful else None
        try:
            prepared = prepare_blocks(txn.conn, blocks, txn.directory, txn.limit, txn.rollups)
            if savepoint is not None:
                counts = store_blocks(txn.conn, prepared, self.source)
                txn.rollups.flush(txn.conn)
        except Exception as exc:
            if blames_the_block(exc):
                if savepoint is not None:
                    savepoint.rollback()
                txn.directory.restore(saved[0])
                txn.rollups.restore(saved[1])
                txn.limit.added = saved[2]
            raise
        if savepoint is None:
            try:
                counts = store_blocks(txn.conn, prepared, self.source)
            except Exception as exc:
                if blames_the_block(exc):  # rows of the batch may be written: it cannot be tried again block by block
                    raise StoreFailed(f"{self.source}: the database refused a batch of blocks: {exc}") from exc
                raise
        else:
            savepoint.commit()
        txn.touched.note(prepared)  # stored: the attribution shares its hours at the commit
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
        new = write_rejected(txn.conn, [refused], self.source, int(time.time()))
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
        txn.touched.share(txn.conn)  # the jobs' attribution, like the rollups: never lags the rows
        self._end(None)
        self.position_row = row_id  # only once committed: a failed commit leaves the row as it was
        log.debug("committed a transaction of %s histogram rows", f"{txn.rows:,}")
        if txn.hours and self.after_commit is not None:
            try:
                self.after_commit(sorted(txn.hours))
            except Exception:  # the hook's failure is its own (it should catch it): the load is done
                log.exception("%s: the after-commit hook failed", self.source)

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
    touched: TouchedHours = field(default_factory=TouchedHours)  # hours of new IO, for the jobs' attribution
    rows: int = 0  # histogram rows written in it
    hours: set[int] = field(default_factory=set)  # of the blocks it read complete (after_commit)
