"""Reading a log file: its bytes cut into blocks at the `Log:` lines, parsed a batch at a time, each batch with
the position to resume from after it (position.py). Knows when a block may be taken: once the next one has begun,
or at the caller's word (the writer is done, or has been quiet); and when a file begins inside the last block of
the file written before it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from clusterdash.ingest.blocks import Block
from clusterdash.ingest.fastparse import parse_pieces
from clusterdash.ingest.parse import log_line_epoch
from clusterdash.ingest.position import CHECK_BYTES, LogFile, Position

BATCH_BLOCKS = 128  # parsed together (fastparse): about 25k histogram rows; more saves little and costs memory

READ_SIZE = 1 << 20


def split_pieces(
    stream: BinaryIO, first_line: int = 1, first_offset: int = 0
) -> Iterator[tuple[bytes, int, int, bool]]:
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
        for (piece, _, offset, _), line_after, block in zip(pending, lines_after, _parse_pieces(pending)):
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


def _head_of_block(
    log: LogFile, piece: bytes, offset: int, complete: bool, continues: Callable[[], bytes] | None
) -> bytes | None:
    """The start of the block that `piece` finishes (see read_batches: continues), b"" when it finishes none,
    None when that cannot be told yet (the next hour has not begun)."""
    if offset != 0 or continues is None or piece.startswith(b"Log:") or not _starts_inside_a_block(piece):
        return b""
    head = continues()
    head_hour = log_line_epoch(head)
    if head_hour is None:
        return b""
    if not complete:
        return None
    next_hour = log_line_epoch(log.read_at(len(piece), 200))
    return head if next_hour is not None and next_hour > head_hour else b""


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


def _parse_pieces(pieces: list[tuple[bytes, int, int, bytes]]) -> list[Block | None]:
    """Blocks of (bytes, first line, offset, head) pieces; head: the first part of the block, from the file before
    (numbered as the lines before line 1)."""
    texts = [
        (head + piece, line - head.count(b"\n")) if head and piece else (piece, line) for piece, line, _, head in pieces
    ]
    found = iter(parse_pieces([(data, line) for data, line in texts if data]))
    return [next(found) if data else None for data, _ in texts]
