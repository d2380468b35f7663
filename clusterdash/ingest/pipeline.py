"""One-shot ingest: paths -> files -> batches of blocks -> database, through one Loader per file.

A file read before is read on from where the last read stopped, if it still holds the bytes read then (see
position.py): taking one new hour from a year of log costs work proportional to the new bytes. The position is
stored in the same transaction as the rows it covers (load.Loader).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from clusterdash.errors import InputError
from clusterdash.ingest.blocks import Block
from clusterdash.ingest.load import AfterCommit, Loader
from clusterdash.ingest.paths import expand_paths, predecessors
from clusterdash.ingest.position import START, LogFile, find_position
from clusterdash.ingest.read import last_block_of_path, read_batches
from clusterdash.ingest.store import LoadCounts


@dataclass
class FileReport:
    path: str
    blocks: int = 0
    entries: int = 0
    rows: int = 0
    operations: dict[str, int] = field(default_factory=lambda: {"rd": 0, "wr": 0})
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (line, text, reason)
    resumed_at: int = 0  # byte offset the read started from: the blocks before it were stored by an earlier read

    def count(self, blocks: Iterable[Block]) -> None:
        for block in blocks:
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


def ingest_file(
    engine: Engine,
    path: Path,
    on_bytes: Callable[[int], None] | None = None,
    resume: bool = True,
    predecessor: Path | None = None,
    after_commit: AfterCommit | None = None,
    settle: float = 0.0,
) -> tuple[FileReport, LoadCounts]:
    """Read one file into the database, from where an earlier read of the same bytes stopped (resume=False: from
    the start). The last block is taken at end of file (but not a last line without its newline), and the stored
    position stays at its start, so that if the file grows the block is read again and completed.
    predecessor: the file written before this one (its rotated predecessor), whose last block this one may finish.
    after_commit: told after each commit which hours were read complete (load.AfterCommit); the last block of a
    plain file counts as complete only when the file has not changed for `settle` seconds when it is taken (a
    compressed file is finished)."""
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
        size = log.size()
        read_from = start.offset
        with Loader(
            engine, log, row_id, after_commit=after_commit
        ) as loader:  # anything else that goes wrong: nothing uncommitted is kept
            try:
                # A plain file may be live: a last line without its newline may be a row cut short by the writer,
                # and a stored count is never corrected, so it waits for the next read. A compressed file is done.
                for batch in read_batches(
                    log,
                    start,
                    take_last=True,
                    whole_lines_only=not log.compressed,
                    on_bytes=on_bytes,
                    continues=lambda: last_block_of_path(predecessor),
                ):
                    report.count(batch.blocks)
                    bytes_ahead = None if size is None else max(0, size - read_from)
                    last_open = batch.took_open_block and not (log.compressed or _quiet(path, settle))
                    counts = loader.write(batch.blocks, batch.position, bytes_ahead, last_open)
                    report.rejected.extend((r.line, r.text, r.reason) for r in counts.refused)
                    added.add(counts)
                    read_from = batch.position.offset
                    del batch  # not held while the Loader commits: a batch can be the size of a huge hour
            except (OSError, EOFError) as exc:  # e.g. a truncated .gz: what was read so far is committed
                loader.commit()
                where = log.stream.tell() if not log.stream.closed else "?"
                raise InputError(f"{path}: cannot read past byte {where}: {exc}") from exc
    return report, added


def _quiet(path: Path, settle: float) -> bool:
    """Has the file stayed unchanged for `settle` seconds (then its last block is complete: bpftrace writes a block
    at once)?"""
    try:
        return time.time() - os.stat(path).st_mtime >= settle
    except OSError:
        return False


def ingest_paths(
    engine: Engine,
    paths: Iterable[str],
    progress: bool | None = None,
    resume: bool = True,
    after_commit: AfterCommit | None = None,
    settle: float = 0.0,
) -> IngestReport:
    """Ingest every file `paths` names. progress: a bar on stderr (None: only when stderr is a terminal).
    resume=False reads every file from its start, even one read before (the result is the same, only slower).
    after_commit, settle: see ingest_file."""
    files = expand_paths(paths)
    report = IngestReport()
    show = sys.stderr.isatty() if progress is None else progress
    with _progress_bar(sum(f.stat().st_size for f in files)) if show else contextlib.nullcontext() as bar:
        for path, predecessor in zip(files, predecessors(files)):
            file_report, added = ingest_file(
                engine,
                path,
                on_bytes=bar.update if bar is not None else None,
                resume=resume,
                predecessor=predecessor,
                after_commit=after_commit,
                settle=settle,
            )
            report.files.append(file_report)
            report.added.add(added)
    return report


def _progress_bar(total_bytes: int):
    from tqdm import tqdm  # imported only when a bar is shown: the import is a visible share of a small ingest

    return tqdm(total=total_bytes, unit="B", unit_scale=True, desc="ingest", leave=False)
