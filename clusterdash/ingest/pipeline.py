"""One-shot ingest: paths -> files -> lines -> blocks -> database, in batches of blocks per transaction.

A file read before is read on from where the last read stopped, if it still
holds the bytes read then (see position.py): taking one new hour from a year of
log costs work proportional to the new bytes. The position is stored in the
same transaction as the rows it covers.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from clusterdash.db.bulk import create_indexes
from clusterdash.db.engine import write_transaction
from clusterdash.db.rollups import PendingRollups
from clusterdash.ingest.fastparse import parse_pieces
from clusterdash.ingest.load import Directory, LoadCounts, defer_session_indexes, write_blocks
from clusterdash.ingest.parse import Block
from clusterdash.ingest.position import CHECK_BYTES, START, LogFile, Position, find_position, save_position

log = logging.getLogger("clusterdash.ingest")

BATCH_BLOCKS = 128  # parsed together (fastparse): about 25k histogram rows; more saves little and costs memory


class InputError(Exception):
    """A path that cannot be read: the message names it and says why."""


@dataclass
class FileReport:
    path: str
    blocks: int = 0
    entries: int = 0
    rows: int = 0
    operations: dict[str, int] = field(default_factory=lambda: {"rd": 0, "wr": 0})
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (line, text, reason)
    resumed_at: int = 0  # byte offset the read started from: the blocks before it were stored by an earlier read

    def count(self, block: Block) -> None:
        if block.epoch is not None:
            self.blocks += 1
        histograms = block.columns()
        self.entries += len(histograms.headers)
        self.rows += len(histograms.counts)
        for direction, operations in histograms.operations().items():
            self.operations[direction] += operations
        self.rejected.extend((r.line, r.text, r.reason) for r in block.rejected)


@dataclass
class IngestReport:
    """What was read (per file) and what it added to the database."""

    files: list[FileReport] = field(default_factory=list)
    added: LoadCounts = field(default_factory=LoadCounts)

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    def operations(self, direction: str) -> int:
        return sum(f.operations[direction] for f in self.files)

    @property
    def rejected(self) -> list[tuple[str, int, str, str]]:
        return [(f.path, line, text, reason) for f in self.files for line, text, reason in f.rejected]


_ROTATION_SUFFIX = re.compile(r"\.(\d+)(\.gz)?$")


def expand_paths(paths: Iterable[str]) -> list[Path]:
    """Files named, files matching a glob, and for a directory its `*.log*` files. Oldest rotation first
    (io_usage.log.3.gz, .2.gz, .1, then io_usage.log), which is the order the hours were written in."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found.extend(p for p in sorted(path.iterdir()) if p.is_file() and ".log" in p.name)
        elif path.exists():
            found.append(path)
        elif glob.has_magic(raw):
            matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(raw)))
            if not matches:
                raise InputError(f"{raw}: no file matches this pattern")
            found.extend(p for p in matches if p.is_file())
        else:
            raise InputError(f"{raw}: no such file or directory")
    for path in found:
        if not os.access(path, os.R_OK):
            raise InputError(f"{path}: permission denied")

    def rotation_order(p: Path):
        m = _ROTATION_SUFFIX.search(p.name)
        return (str(p.parent), p.name[: m.start()] if m else p.name, -(int(m.group(1)) if m else 0))

    return sorted(dict.fromkeys(found), key=rotation_order)


READ_SIZE = 1 << 20


def split_pieces(stream, first_line: int = 1, first_offset: int = 0) -> Iterator[tuple[bytes, int, int, bool]]:
    """(bytes, first line number, start offset, complete) of each block in a binary stream: each piece starts
    at a `Log:` line (except text before the first one) and is complete when the next `Log:` line follows it,
    so only the last piece can be incomplete. Reads in large chunks and finds block boundaries with bytes.find:
    no Python code runs per line, and offsets are exact byte positions."""
    buffer = b""
    line, offset = first_line, first_offset
    while True:
        data = stream.read(READ_SIZE)
        scanned = max(0, len(buffer) - 4)  # what earlier reads already searched (minus a possible split match)
        buffer += data
        start = 0
        while True:
            cut = buffer.find(b"\nLog:", max(start, scanned))
            if cut < 0:
                break
            piece = buffer[start : cut + 1]
            if piece:
                yield piece, line, offset, True
                line += piece.count(b"\n")
                offset += len(piece)
            start = cut + 1
        buffer = buffer[start:]
        if not data:
            break
    if buffer:
        yield buffer, line, offset, False


@dataclass
class Batch:
    """Blocks to store in one transaction, and the position to store with them."""

    blocks: list[Block]
    position: Position
    took_open_block: bool = False  # the last block is the one still open at end of file


def read_batches(
    log: LogFile,
    start: Position,
    take_last: bool,
    whole_lines_only: bool = False,
    batch_blocks: int = BATCH_BLOCKS,
    on_bytes: Callable[[int], None] | None = None,
    continues: Callable[[], bytes] | None = None,
) -> Iterator[Batch]:
    """Read `log` from `start` in batches of blocks, each with the position to resume from after it.

    The position never moves past a block that is not known to be complete (no `Log:` line after it yet): if
    the writer was still writing it, the next read takes it again and the loader merges what was missing.
    take_last: take that last block too (one-shot: the writer is done; follow: the file has been quiet).
    whole_lines_only: but not a last line without its newline (a count cut short would be stored for good).
    continues: the last block of the file written before this one (asked for only when needed). A file that
    starts with data but no `Log:` line may hold the rest of that block, cut off by a copytruncate or a rotation
    in the middle of an hour: the two parts are parsed as the one block they are, if the hour after them in this
    file comes after that block's hour (a copy that merely overlaps the file before is not a continuation). Until
    that hour has begun, such a start is not taken."""
    tail = log.read_at(start.offset - start.check_length, start.check_length)
    log.stream.seek(start.offset)
    position = saved = start
    batch: list[Block] = []
    pending: list[tuple[bytes, int, int, bytes]] = []  # complete pieces, parsed together (fastparse)
    took_open = False

    def take_pending(next_line: int | None) -> None:
        """Parse the pending pieces; next_line: the line number after the last of them, if known."""
        nonlocal position, tail
        if not pending:
            return
        lines_after = [line for _, line, _, _ in pending[1:]]
        lines_after.append(next_line if next_line is not None else pending[-1][1] + pending[-1][0].count(b"\n"))
        for (piece, line, offset, _), line_after, block in zip(pending, lines_after, _parse_pieces(pending)):
            tail = piece[-CHECK_BYTES:] if len(piece) >= CHECK_BYTES else (tail + piece)[-CHECK_BYTES:]
            position = position.after(
                offset + len(piece), line_after, tail, 1 if block is not None and block.is_data else 0
            )
            if block is not None:
                batch.append(block)
        pending.clear()

    for piece, line, offset, complete in split_pieces(log.stream, start.line_number, start.offset):
        if on_bytes is not None:
            on_bytes(len(piece))
        head = _head_of_block(log, piece, offset, complete, continues)
        if not complete:
            take_pending(line)
            if take_last and head is not None:
                if whole_lines_only:
                    piece = piece[: piece.rfind(b"\n") + 1]
                block = _parse_pieces([(piece, line, offset, head)])[0]
                if block is not None:
                    batch.append(block)
                    took_open = True
            break
        if len(pending) >= batch_blocks:
            take_pending(line)
            yield Batch(batch, position)
            batch, saved = [], position
        pending.append((piece, line, offset, head or b""))
    take_pending(None)
    if batch or position != saved:
        yield Batch(batch, position, took_open)


_EPOCH = re.compile(rb"^Log: [^\n]*\((\d+)\)")


def _head_of_block(
    log: LogFile, piece: bytes, offset: int, complete: bool, continues: Callable[[], bytes] | None
) -> bytes | None:
    """The start of the block that `piece` finishes (see read_batches: continues), b"" when it finishes none,
    None when that cannot be told yet (the next hour has not begun)."""
    if offset != 0 or continues is None or piece.startswith(b"Log:") or not _starts_inside_a_block(piece):
        return b""
    head = continues()
    head_hour = _EPOCH.match(head)
    if head_hour is None:
        return b""
    if not complete:
        return None
    next_hour = _EPOCH.match(log.read_at(len(piece), 200))
    return head if next_hour is not None and int(next_hour.group(1)) > int(head_hour.group(1)) else b""


def _starts_inside_a_block(piece: bytes) -> bool:
    """Does the piece start with something other than bpftrace's notices: an entry, a row, the end of a row?"""
    for raw in piece.split(b"\n"):
        text = raw.strip()
        if text and not text.startswith((b"Attaching ", b"Lost ")):
            return True
    return False


LAST_BLOCK_LIMIT = 4 << 20  # a block is ~17 KB; the largest seen is well under 1 MB


def last_block_of(log: LogFile, start: int = 0) -> bytes:
    """The bytes of the last block of a file no one writes any more (from its last `Log:` line at or after
    `start` to the end): what a file written after it may continue."""
    if log.compressed:  # its length is unknown without decompressing: keep the last bytes while streaming
        log.stream.seek(start)
        data = b""
        while chunk := log.stream.read(READ_SIZE):
            data = (data + chunk)[-LAST_BLOCK_LIMIT:]
    else:
        size = log.size() or 0
        start = max(start, size - LAST_BLOCK_LIMIT)
        data = log.read_at(start, size - start)
    cut = data.rfind(b"\nLog:")
    if cut >= 0:
        return data[cut + 1 :]
    return data if data.startswith(b"Log:") else b""


def last_block_of_path(path: Path | None) -> bytes:
    if path is None:
        return b""
    try:
        with LogFile.open(path) as log:
            return last_block_of(log)
    except (OSError, EOFError):
        return b""


def predecessors(files: list[Path]) -> list[Path | None]:
    """For each file (in the order expand_paths gives), the file written just before it: the previous rotation
    of the same log in the list, or else, for a live log, its newest rotation beside it."""
    from clusterdash.ingest.watch import rotated_siblings

    found: list[Path | None] = []
    for i, path in enumerate(files):
        if i > 0 and _rotation_group(files[i - 1]) == _rotation_group(path):
            found.append(files[i - 1])
        else:
            siblings = rotated_siblings(path)
            found.append(siblings[0] if siblings else None)
    return found


def _rotation_group(path: Path) -> tuple[str, str]:
    m = _ROTATION_SUFFIX.search(path.name)
    return str(path.parent), path.name[: m.start()] if m else path.name


def _parse_pieces(pieces: list[tuple[bytes, int, int, bytes]]) -> list[Block | None]:
    """Blocks of (bytes, first line, offset, head) pieces; head: the first part of the block, from the file before
    (numbered as the lines before line 1)."""
    texts = [
        (head + piece, line - head.count(b"\n")) if head and piece else (piece, line) for piece, line, _, head in pieces
    ]
    blocks = parse_pieces([(data, line) for data, line in texts if data])
    found = iter(blocks)
    out: list[Block | None] = []
    for (piece, _, offset, _), (data, _) in zip(pieces, texts):
        block = next(found) if data else None
        if block is not None:
            block.start_offset, block.end_offset = offset, offset + len(piece)
        out.append(block)
    return out


def ingest_file(
    engine: Engine,
    path: Path,
    on_bytes: Callable[[int], None] | None = None,
    resume: bool = True,
    predecessor: Path | None = None,
) -> tuple[FileReport, LoadCounts]:
    """Read one file into the database, from where an earlier read of the same bytes stopped (resume=False: from
    the start). The last block is taken at end of file (but not a last line without its newline), and the stored
    position stays at its start, so that if the file grows the block is read again and completed.
    predecessor: the file written before this one (its rotated predecessor), whose last block this one may finish."""
    report, added = FileReport(str(path)), LoadCounts()
    try:
        log = LogFile.open(path)
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: {getattr(exc, 'strerror', None) or exc}") from exc
    with log:
        with engine.connect() as conn:
            start, row_id = find_position(conn, log)
        if not resume:
            start = START
        report.resumed_at = start.offset
        added.blocks_unchanged += start.blocks_before  # stored by the read that saved this position
        if on_bytes is not None and not log.compressed:
            on_bytes(start.offset)
        transaction = _Transaction(engine, log, row_id)
        size, read_from = log.size() or 0, start.offset
        try:
            # A plain file may be live: a last line without its newline may be a row cut short by the writer, and
            # a stored count is never corrected, so it waits for the next read. A compressed file is finished.
            for batch in read_batches(
                log,
                start,
                take_last=True,
                whole_lines_only=not log.compressed,
                on_bytes=on_bytes,
                continues=lambda: last_block_of_path(predecessor),
            ):
                for block in batch.blocks:
                    report.count(block)
                conn = transaction.connection(bytes_ahead=None if log.compressed else max(0, size - read_from))
                added.add(
                    write_blocks(
                        conn, batch.blocks, str(path), rollups=transaction.rollups, directory=transaction.directory
                    )
                )
                transaction.position = batch.position
                read_from = batch.position.offset
                if transaction.rollups.rows >= COMMIT_ROWS:
                    transaction.commit()
            transaction.commit()
        except (OSError, EOFError) as exc:  # e.g. a truncated .gz: what was read so far is committed
            transaction.commit()
            where = log.stream.tell() if not log.stream.closed else "?"
            raise InputError(f"{path}: cannot read past byte {where}: {exc}") from exc
        finally:
            transaction.rollback()  # anything else went wrong: nothing of the open transaction is kept
    return report, added


COMMIT_ROWS = 160_000  # histogram rows per transaction of a one-shot ingest: a month of a busy server. Fewer,
# larger transactions upsert fewer rollup rows (a week or month split by a commit is upserted twice): a month in
# one transaction ingests ~15 % faster than in two. The bound is memory: the rollups of a transaction are summed
# at commit (a year of log peaks at 92 MB with this, 98 MB with 250k, for no measurable gain in speed).


class _Transaction:
    """A write transaction kept open across batches of blocks, committed every COMMIT_ROWS rows: the parsed
    blocks of a batch are dropped once written, while the rollups of all its batches are summed and upserted
    once, at commit (db.rollups.PendingRollups), and users and machines read once and updated once (Directory).
    The read position after its last batch is saved in it, just before it commits."""

    def __init__(self, engine: Engine, log: LogFile, position_row: int | None) -> None:
        self._engine = engine
        self._log, self._position_row = log, position_row
        self.position: Position | None = None  # read up to here: saved with the commit
        self._open: contextlib.ExitStack | None = None
        self._conn = None
        self._deferred: list = []  # UserSessions indexes dropped for this transaction, created again at commit
        self.directory: Directory | None = None  # users, machines and buckets, read once per transaction
        self.rollups = PendingRollups()

    def connection(self, bytes_ahead: int | None = None):
        """The open transaction's connection, opening one if needed; bytes_ahead: how much log is left to read
        from here (None: unknown), for the bulk-load choice of defer_session_indexes."""
        if self._open is None:
            self._open = contextlib.ExitStack()
            self._conn = self._open.enter_context(write_transaction(self._engine))
            self.directory = Directory(self._conn)
            self._deferred = defer_session_indexes(self._conn, self.directory, bytes_ahead)
            if self._deferred:
                log.debug(
                    "bulk load: indexes %s dropped until the commit", ", ".join(index.name for index in self._deferred)
                )
        return self._conn

    def commit(self) -> None:
        if self._open is not None:
            if self.position is not None:
                self._position_row = save_position(self._conn, self._log, self.position, self._position_row)
                self.position = None
            create_indexes(self._conn, self._deferred)
            self.directory.flush_changes(self._conn)
            rows = self.rollups.rows
            self.rollups.flush(self._conn)
            self._open, stack, self._deferred = None, self._open, []
            stack.close()
            log.debug("committed a transaction of %s histogram rows", f"{rows:,}")

    def rollback(self) -> None:
        if self._open is not None:
            self._open, stack, self._deferred = None, self._open, []  # the rollback restores the indexes
            self.position, self.directory = None, None
            self.rollups = PendingRollups()
            stack.__exit__(RuntimeError, RuntimeError("ingest failed"), None)


def ingest_paths(
    engine: Engine, paths: Iterable[str], progress: bool | None = None, resume: bool = True
) -> IngestReport:
    """Ingest every file `paths` names. progress: a bar on stderr (None: only when stderr is a terminal).
    resume=False reads every file from its start, even one read before (the result is the same, only slower)."""
    files = expand_paths(paths)
    report = IngestReport()
    show = sys.stderr.isatty() if progress is None else progress
    with _progress_bar(sum(f.stat().st_size for f in files)) if show else contextlib.nullcontext() as bar:
        for path, predecessor in zip(files, predecessors(files)):
            file_report, added = ingest_file(
                engine, path, on_bytes=bar.update if bar is not None else None, resume=resume, predecessor=predecessor
            )
            report.files.append(file_report)
            report.added.add(added)
    return report


def _progress_bar(total_bytes: int):
    from tqdm import tqdm  # imported only when a bar is shown: it costs ~30 ms, a tenth of a month's ingest

    return tqdm(total=total_bytes, unit="B", unit_scale=True, desc="ingest", leave=False)
