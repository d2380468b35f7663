"""Where to resume reading a log file: a position, the file it belongs to, and their rows in IngestFiles.

A position says: every block before `offset` is complete and stored. It is
saved in the same transaction as the rows it covers, and trusted for a file
only while that file still holds the bytes it was computed from: the same
first bytes (`head_fingerprint`), at least `offset` bytes, and the same bytes
just before `offset` (`check`). Content decides, not the name or the inode:

* an rsync'd copy (new inode, same prefix, more at the end) resumes where the
  old file stopped;
* a rotated file (new name, same inode and bytes) is found by its inode;
* a truncated file, or a new file on a reused inode, fails the check and is
  read from the start.

Reading from the start again is always safe, because the loader stores a block
once whatever file it comes from; a position only saves work. Hence the rule
when in doubt: do not resume.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Connection, func, insert, or_, select, update

from clusterdash.db.schema import ingest_files

HEAD_BYTES = 1024  # enough to hold the first Log: line, whose epoch makes the head unique to a file's content
CHECK_BYTES = 1024  # the end of the last block taken: dozens of histogram rows


def digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def signed64(number: int) -> int:
    """An inode or device number as a signed 64-bit integer (the database's BIGINT): some file systems use all
    64 bits."""
    return number - (1 << 64) if number >= (1 << 63) else number


@dataclass(frozen=True)
class Position:
    """Where the next unread block starts, and what proves the file still holds what was read before it."""

    offset: int = 0
    line_number: int = 1
    check: str = digest(b"")  # of the check_length bytes just before offset
    check_length: int = 0
    blocks_before: int = 0  # data blocks (hours) in the bytes before offset

    def after(self, offset: int, line_number: int, tail: bytes, blocks: int) -> Position:
        """The position after reading on to `offset`; `tail`: the bytes just before it."""
        tail = tail[-CHECK_BYTES:]
        return Position(offset, line_number, digest(tail), len(tail), self.blocks_before + blocks)


START = Position()


@dataclass(frozen=True)
class StoredPosition:
    """A row of IngestFiles: a position and the file content it belongs to."""

    row_id: int
    path: str
    device: int | None
    inode: int | None
    head_fingerprint: str
    head_length: int
    position: Position
    sequence: int
    updated_at: int  # epoch seconds


class LogFile:
    """An open log file, plain or gzip, and what identifies it.

    It keeps its file descriptor open: a file that is renamed or deleted while
    it is read can still be read to its end through it, which is how the
    follower finishes a rotated file."""

    def __init__(self, path: Path, raw: BinaryIO, stream: BinaryIO, compressed: bool) -> None:
        self.path = path
        self.raw = raw
        self.stream = stream  # decompressed bytes; offsets everywhere are offsets in this stream
        self.compressed = compressed
        self._last_read: tuple[tuple[int, int], bytes] = ((-1, -1), b"")
        st = os.fstat(raw.fileno())
        self.device, self.inode = signed64(st.st_dev), signed64(st.st_ino)
        self.head = self.read_at(0, HEAD_BYTES)

    @classmethod
    def open(cls, path: Path) -> LogFile:
        """Open `path`; gzip is recognised by its magic number, not its name. Raises OSError."""
        raw = open(path, "rb")  # noqa: SIM115 - the LogFile holds it; its close() closes it
        try:
            compressed = os.pread(raw.fileno(), 2, 0) == b"\x1f\x8b"
            stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            return cls(Path(path), raw, stream, compressed)
        except BaseException:
            raw.close()
            raise

    def __enter__(self) -> LogFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.compressed:
            self.stream.close()
        self.raw.close()

    @property
    def identity(self) -> tuple[int, int]:
        return self.device, self.inode

    def size(self) -> int | None:
        """Current size in bytes of a plain file; None for gzip (unknown without decompressing it all)."""
        return None if self.compressed else os.fstat(self.raw.fileno()).st_size

    def read_at(self, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        if not self.compressed:
            return os.pread(self.raw.fileno(), length, offset)
        # gzip seeks by decompressing: forward is cheap, backward starts over. Checking a position and then
        # reading on from it asks for the same bytes twice: remember the last answer.
        if self._last_read[0] != (offset, length):
            self.stream.seek(offset)
            self._last_read = ((offset, length), self.stream.read(length))
        return self._last_read[1]

    def refresh_head(self) -> None:
        """Re-read the first bytes if the file was shorter than HEAD_BYTES when they were last read. Only more of
        the same bytes are taken: other bytes mean a truncation, which the reader has to notice, not adopt."""
        if len(self.head) < HEAD_BYTES and not self.compressed:
            head = self.read_at(0, HEAD_BYTES)
            if head.startswith(self.head):
                self.head = head

    def head_unchanged(self) -> bool:
        """Does the file still start with the bytes read from it before? (False after a truncation.)"""
        return self.read_at(0, len(self.head)) == self.head

    def holds(self, head_fingerprint: str, head_length: int, position: Position) -> bool:
        """Does this file hold the bytes `position` was computed from: the same head, and the same bytes before
        its offset? Then every block before the offset has been read and stored already."""
        if head_length > len(self.head) or digest(self.head[:head_length]) != head_fingerprint:
            return False
        size = self.size()
        if size is not None and size < position.offset:
            return False
        start = position.offset - position.check_length
        return digest(self.read_at(start, position.check_length)) == position.check

    def holds_stored(self, stored: StoredPosition) -> bool:
        return self.holds(stored.head_fingerprint, stored.head_length, stored.position)


def _stored(row) -> StoredPosition:
    position = Position(row.offset, row.line_number, row.check, row.check_length, row.blocks_before)
    return StoredPosition(
        row.id,
        row.path,
        row.device,
        row.inode,
        row.head_fingerprint,
        row.head_length,
        position,
        row.sequence,
        row.updated_at,
    )


def find_position(conn: Connection, log: LogFile) -> tuple[Position, int | None]:
    """Where to start reading `log`, and the IngestFiles row to save its progress in (None: a new row).

    Candidates are the rows of the same name, the same inode or the same first bytes; the furthest one that
    the file still holds wins. A row is reused for the same file under a new name (rotation) or a new file
    under the same name (rsync); a copy elsewhere gets its own row, starting from the position it holds."""
    t = ingest_files.c
    conditions = [t.path == str(log.path), (t.device == log.device) & (t.inode == log.inode)]
    if len(log.head) == HEAD_BYTES:
        conditions.append(t.head_fingerprint == digest(log.head))
    rows = conn.execute(select(ingest_files).where(or_(*conditions)).order_by(t.offset.desc())).all()
    for stored in map(_stored, rows):
        if log.holds_stored(stored):
            return stored.position, reusable_row(stored, log)
    same_file = [r for r in rows if r.path == str(log.path) and (r.device, r.inode) == log.identity]
    # Nothing to resume: the file was truncated or rewritten in place. Its old row describes bytes that are gone.
    return START, (same_file[0].id if same_file else None)


def reusable_row(stored: StoredPosition, log: LogFile) -> int | None:
    """The row to keep saving `log`'s progress in, when `log` holds `stored`: the same file or a replacement."""
    if stored.path == str(log.path) or (stored.device, stored.inode) == log.identity:
        return stored.row_id
    return None


def latest_position(conn: Connection, path: Path) -> StoredPosition | None:
    """The position saved last under `path`: the file a follower of `path` was reading when it stopped."""
    row = conn.execute(
        select(ingest_files).where(ingest_files.c.path == str(path)).order_by(ingest_files.c.sequence.desc()).limit(1)
    ).first()
    return _stored(row) if row is not None else None


def save_position(conn: Connection, log: LogFile, position: Position, row_id: int | None) -> int:
    """Store `position` for `log` inside the caller's write transaction; returns the row id to use next time."""
    sequence = 1 + (conn.execute(select(func.max(ingest_files.c.sequence))).scalar() or 0)
    values = {
        "path": str(log.path),
        "device": log.device,
        "inode": log.inode,
        "head_fingerprint": digest(log.head),
        "head_length": len(log.head),
        "offset": position.offset,
        "line_number": position.line_number,
        "check": position.check,
        "check_length": position.check_length,
        "blocks_before": position.blocks_before,
        "sequence": sequence,
        "updated_at": int(time.time()),
    }
    if row_id is not None:
        if conn.execute(update(ingest_files).where(ingest_files.c.id == row_id).values(**values)).rowcount:
            return row_id
    return conn.execute(insert(ingest_files).values(**values).returning(ingest_files.c.id)).scalar_one()
