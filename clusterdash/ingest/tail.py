"""Tailing one log file into the database: when a block may be taken (the next one has begun, or the file has
been quiet for `settle` seconds), storing each batch with its position through a Loader, and retrying while the
database is locked or away. Which file to tail, through rotations, is follow.py's part."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from clusterdash.db.engine import database_unavailable
from clusterdash.ingest.load import AfterCommit, Loader
from clusterdash.ingest.position import LogFile, Position, digest, find_position
from clusterdash.ingest.read import Batch, read_batches
from clusterdash.ingest.store import LoadCounts

log = logging.getLogger("clusterdash.follow")

FOLLOW_BATCH_BLOCKS = 64  # ~1 MB of log: a follower catching up commits, and shows progress, every second or so
RETRY_FIRST_DELAY, RETRY_MAX_DELAY = 0.5, 30.0

T = TypeVar("T")


class Stopping(Exception):
    """A stop was asked for: unwinds the follower after the transaction in hand has committed."""


@dataclass
class Reading:
    """A file being read, where its stored position stands, and what was seen of it."""

    file: LogFile
    position: Position  # as committed
    row_id: int | None  # its IngestFiles row
    size_seen: int | None = None
    changed_at: float = field(default_factory=time.monotonic)  # when the size last changed (monotonic clock)
    read_size: int | None = None  # the size when the file was last read through
    open_taken_size: int | None = None  # the size when its last, open block was last taken
    saved_head: bytes | None = None  # the first bytes as stored with its position (None: not stored yet)
    # The last block of the file written before this one, which this one may finish (see read_batches).
    continues: Callable[[], bytes] | None = None

    @property
    def name(self) -> str:
        return str(self.file.path)

    @property
    def head_fingerprint(self) -> tuple[str, int]:
        return digest(self.file.head), len(self.file.head)

    def intact(self) -> bool:
        """Does the file still hold every byte read from it so far? False after a truncation or a rewrite."""
        size = self.file.size()
        if size is not None and (size < self.position.offset or (self.size_seen is not None and size < self.size_seen)):
            return False
        if not self.file.head_unchanged():
            return False
        p = self.position
        return digest(self.file.read_at(p.offset - p.check_length, p.check_length)) == p.check


class Tail:
    """Reads files into the database as they grow, for a follower: `poll` and `settle` in seconds, `stop` ends any
    wait (and raises Stopping after the transaction in hand). Every block it takes is complete (the next one has
    begun, or the file was quiet for `settle` seconds, or is finished), and after_commit hears of it so."""

    def __init__(
        self, engine: Engine, poll: float, settle: float, stop: threading.Event, after_commit: AfterCommit | None = None
    ) -> None:
        self.engine = engine
        self.poll, self.settle = poll, settle
        self.stop = stop
        self.after_commit = after_commit

    def read(self, reading: Reading, final: bool = False) -> float:
        """Take the complete blocks that are new in `reading`; the last, open one too when the file has been
        quiet for `settle` seconds (whole lines only), or when `final` (the writer is done with this file)."""
        now = time.monotonic()
        quiet = self.quiet(reading, now)
        size = reading.size_seen
        take_last = final or (quiet and reading.open_taken_size != size)
        if reading.read_size == size and not take_last:
            return self.timeout(reading, now)
        reading.file.refresh_head()
        if reading.saved_head != reading.file.head:
            # Say which file is being read before anything is read from it: if the follower dies before its first
            # commit and the file is then rotated or truncated, the next start knows to look for it beside the name.
            self.commit(reading, Batch([], reading.position))
        # Whole lines only, even from a finished file: a line cut short there may go on in the next file.
        for batch in read_batches(
            reading.file,
            reading.position,
            take_last,
            whole_lines_only=True,
            batch_blocks=FOLLOW_BATCH_BLOCKS,
            continues=reading.continues,
        ):
            self.commit(reading, batch)
            if self.stop.is_set():
                raise Stopping
        reading.read_size = size
        if take_last:
            reading.open_taken_size = size
        elif size is not None and size > reading.position.offset:
            log.debug(
                "%s: the block at byte %d is not complete yet (%d bytes so far); taken when the next one "
                "starts or after %gs of quiet",
                reading.name,
                reading.position.offset,
                size - reading.position.offset,
                self.settle,
            )
        return self.timeout(reading, now)

    def quiet(self, reading: Reading, now: float) -> bool:
        """Note the file's size; has it stayed the same for `settle` seconds?"""
        size = reading.file.size()
        if size != reading.size_seen:
            reading.size_seen, reading.changed_at = size, now
        return now - reading.changed_at >= self.settle

    def timeout(self, reading: Reading, now: float | None = None) -> float:
        """Wake up in time to take an open block once the file has been quiet for `settle` seconds."""
        now = time.monotonic() if now is None else now
        pending = (
            reading.size_seen is not None
            and reading.open_taken_size != reading.size_seen
            and reading.size_seen > reading.position.offset
        )
        if not pending:
            return self.poll
        return max(0.01, min(self.poll, reading.changed_at + self.settle - now))

    def reading_of(self, file: LogFile) -> Reading:
        """A Reading of `file` from its stored position (closes the file if that cannot be read)."""
        try:
            position, row_id = self.retrying(
                lambda: self.read_only(lambda conn: find_position(conn, file)), "reading the stored position"
            )
        except BaseException:
            file.close()
            raise
        return Reading(file, position, row_id)

    def read_only(self, query: Callable[[Any], T]) -> T:
        with self.engine.connect() as conn:
            return query(conn)

    def commit(self, reading: Reading, batch: Batch) -> None:
        """Store a batch and the position after it in one transaction; the position in memory moves only after
        the commit, so whatever fails is read again."""

        def write() -> tuple[LoadCounts, int | None]:
            with Loader(
                self.engine, reading.file, reading.row_id, careful=True, after_commit=self.after_commit
            ) as loader:
                counts = loader.write(batch.blocks, batch.position, batch.position.offset - reading.position.offset)
            return counts, loader.position_row

        if batch.blocks:
            log.debug(
                "storing %d block(s) from %s, then the position: byte %d",
                len(batch.blocks),
                reading.name,
                batch.position.offset,
            )
        else:
            log.debug("storing the position in %s: byte %d", reading.name, batch.position.offset)
        counts, reading.row_id = self.retrying(write, f"storing blocks from {reading.name}")
        reading.position, reading.saved_head = batch.position, reading.file.head
        data = sum(1 for b in batch.blocks if b.is_data)
        if data:
            # A block read again (an open block that grew, a rotated file's last block) adds nothing: not news.
            level = logging.INFO if counts.blocks_new or counts.blocks_merged else logging.DEBUG
            log.log(
                level,
                "took %d block(s) from %s (%d new, %d completed, %d already stored)%s; next block at byte %d",
                data,
                reading.name,
                counts.blocks_new,
                counts.blocks_merged,
                counts.blocks_unchanged,
                ", the last one still open" if batch.took_open_block else "",
                batch.position.offset,
            )
        rejected = [r for b in batch.blocks for r in b.rejected] + counts.refused
        if rejected:
            log.warning(
                "rejected %d line(s) in %s, kept in the database (first: line %d: %s)",
                len(rejected),
                reading.name,
                rejected[0].line,
                rejected[0].reason,
            )

    def retrying(self, action: Callable[[], T], doing: str) -> T:
        """Run `action`; while the database is locked or away, wait (doubling the wait) and run it again."""
        delay = RETRY_FIRST_DELAY
        while True:
            try:
                return action()
            except DBAPIError as exc:
                if not database_unavailable(exc):
                    raise  # a bug, not the weather
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                log.warning(
                    "database unavailable while %s (%s); the position stays, retrying in %gs", doing, reason, delay
                )
            if self.stop.wait(delay):
                raise Stopping
            delay = min(2 * delay, RETRY_MAX_DELAY)
