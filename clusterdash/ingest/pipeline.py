"""One-shot ingest: paths -> files -> lines -> blocks -> database, in batches of blocks per transaction."""

from __future__ import annotations

import glob
import gzip
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

from sqlalchemy import Engine

from clusterdash.db.engine import write_transaction
from clusterdash.ingest.load import LoadCounts, write_blocks
from clusterdash.ingest.parse import Block, parse_block_text

BATCH_BLOCKS = 256  # about 50k histogram rows: large enough to amortise a commit, small enough to keep memory flat


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

    def count(self, block: Block) -> None:
        if block.epoch is not None:
            self.blocks += 1
        for entry in block.entries:
            self.entries += 1
            self.rows += len(entry.rows)
            self.operations[entry.direction] += sum(entry.rows.values())
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


def open_binary(path: Path):
    """The file's bytes, decompressed when it is gzip (by its magic number, not its name)."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


READ_SIZE = 1 << 20


def read_blocks(stream, first_line: int = 1, first_offset: int = 0,
                on_bytes: Optional[Callable[[int], None]] = None) -> Iterator[Block]:
    """Split a binary stream into blocks at its `Log:` lines and parse each; the last block is taken at the end of
    the stream (in one-shot mode the writer is done). Reads in large chunks and finds block boundaries with
    bytes.find, so no Python code runs per line here; offsets are exact byte positions."""
    for chunk, line, start in split_blocks(stream, first_line, first_offset):
        block = parse_block_text(chunk.decode("utf-8", "replace"), line)
        if block is not None:
            block.start_offset, block.end_offset = start, start + len(chunk)
            yield block
        if on_bytes is not None:
            on_bytes(len(chunk))


def split_blocks(stream, first_line: int = 1, first_offset: int = 0, final: bool = True) -> Iterator[tuple[bytes, int, int]]:
    """(bytes, first line number, start offset) of each block in `stream`: each piece starts at a `Log:` line
    (except text before the first one). With final=False the last piece, which the writer may still be
    extending, is not yielded."""
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
            piece = buffer[start:cut + 1]
            if piece:
                yield piece, line, offset
                line += piece.count(b"\n")
                offset += len(piece)
            start = cut + 1
        buffer = buffer[start:]
        if not data:
            break
    if buffer and final:
        yield buffer, line, offset


def batched(blocks: Iterable[Block], size: int = BATCH_BLOCKS) -> Iterator[list[Block]]:
    batch: list[Block] = []
    for block in blocks:
        batch.append(block)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def ingest_file(engine: Engine, path: Path, on_bytes: Optional[Callable[[int], None]] = None) -> tuple[FileReport, LoadCounts]:
    report, added = FileReport(str(path)), LoadCounts()
    try:
        stream = open_binary(path)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from exc
    with stream:
        try:
            for batch in batched(read_blocks(stream, on_bytes=on_bytes)):
                for block in batch:
                    report.count(block)
                with write_transaction(engine) as conn:
                    added.add(write_blocks(conn, batch, str(path)))
        except (OSError, EOFError) as exc:  # e.g. a truncated .gz: what was read so far is committed
            raise InputError(f"{path}: cannot read past byte {stream.tell() if not stream.closed else '?'}: {exc}") from exc
    return report, added


def ingest_paths(engine: Engine, paths: Iterable[str], progress: bool | None = None) -> IngestReport:
    """Ingest every file `paths` names. progress: a bar on stderr (None: only when stderr is a terminal)."""
    from tqdm import tqdm

    files = expand_paths(paths)
    report = IngestReport()
    total = sum(f.stat().st_size for f in files)
    with tqdm(total=total, unit="B", unit_scale=True, disable=(None if progress is None else not progress),
              desc="ingest", leave=False) as bar:
        for path in files:
            file_report, added = ingest_file(engine, path, on_bytes=bar.update if not bar.disable else None)
            report.files.append(file_report)
            report.added.add(added)
    return report
