"""Synthetic ``io_usage.log`` files, calibrated to the real figures of March 2025, and the sacct output of the
simulated cluster's batch jobs beside them: what `clusterdash demo`, `serve --demo`, the screenshots, the
benchmarks and many tests start from.

A demo log ends at the current hour, as a real log would (its last block is the most recent whole hour); the same
seed writes the same file for the same end hour, and a fixed `start` or `end` gives a fixed file. The cluster is
simulated in ingest/synthetic/; this module writes and ingests its hours, and keeps a demo growing (start_live).
"""

from __future__ import annotations

import gzip
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from clusterdash.db.periods import DAY, HOUR, floor_hour
from clusterdash.errors import UserError
from clusterdash.ingest.synthetic.render import ATTACHING_LINE, SERVER_TZ
from clusterdash.ingest.synthetic.simulation import Block, Simulation
from clusterdash.ingest.synthetic.slurm import batch_jobs, sacct_lines

if TYPE_CHECKING:
    from clusterdash.ingest.jobs import JobsReport

__all__ = ["DemoSummary", "generate_lines", "ingest_demo", "start_live", "write_demo_log"]

log = logging.getLogger("clusterdash.demo")

# bpftrace prints an hour's block a few seconds after the hour (up to half a minute after a restart): a minute
# after the hour, its block is out.
PRINTED_WITHIN = 60


def current_hour_end(now: float | None = None) -> int:
    """The end of the most recent hour whose block the tracer has printed by `now` (default: the clock)."""
    return floor_hour(int(time.time() if now is None else now) - PRINTED_WITHIN)


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SERVER_TZ)  # naive means server-local wall time
    return int(moment.timestamp())


def demo_window(days: int, start: datetime | None = None, end: datetime | None = None) -> tuple[int, int]:
    """(start of the first hour, end of the last hour) as epochs of `days` days of demo log: from `start`, or up to
    `end`, or (neither given) up to the current hour. A naive datetime is Zurich wall time."""
    if start is not None and end is not None:
        raise ValueError("a demo log has a start or an end, not both")
    if start is not None:
        first = _epoch(start)
        return first, first + days * DAY
    last = _epoch(end) if end is not None else current_hour_end()
    return last - days * DAY, last


def simulate(
    days: int, seed: int, start: datetime | None, end: datetime | None
) -> tuple[Simulation, Iterator[Block], int]:
    """(the simulation, its blocks of the window, the window's end): the simulation knows which jobs it started
    once its blocks have been taken."""
    first, last = demo_window(days, start, end)
    simulation = Simulation(seed, first, up_at=last)
    hours = simulation.hours()
    return simulation, (block for block in itertools.islice(hours, (last - first) // HOUR) if block is not None), last


def _blocks(days: int, seed: int, start: datetime | None, end: datetime | None) -> Iterator[Block]:
    return simulate(days, seed, start, end)[1]


@dataclass(frozen=True)
class DemoSummary:
    """What write_demo_log wrote; bytes_written counts the uncompressed text."""

    blocks: int
    entries: int
    rows: int
    operations_rd: int
    operations_wr: int
    bytes_written: int
    jobs: int = 0  # lines of sacct output written beside the log (sacct_path)


def generate_lines(
    days: int = 30, seed: int = 0, start: datetime | None = None, end: datetime | None = None
) -> Iterator[str]:
    """Yield the lines of a synthetic io_usage.log, each ending in "\\n".

    `days` * 24 hourly blocks (fewer: the tracer is down now and then, though never in the last hour) from `start`,
    or up to `end`, or by default up to the current hour (see demo_window). A block covers the hour before its
    time stamp, so the first is stamped about one hour after the start. Streams: only one hour is held in memory.
    """
    yield ATTACHING_LINE
    for block in _blocks(days, seed, start, end):
        yield from block.lines


def write_demo_log(
    path: str | os.PathLike[str],
    days: int = 30,
    seed: int = 0,
    start: datetime | None = None,
    end: datetime | None = None,
    sacct_path: str | os.PathLike[str] | None = None,
) -> DemoSummary:
    """Write generate_lines(days, seed, start, end) to `path`, gzip-compressed if it ends in .gz; with `sacct_path`,
    also what sacct would print at the log's end for the batch jobs of the simulated hours (synthetic/slurm.py)."""
    blocks = entries = rows = operations_rd = operations_wr = bytes_written = 0
    simulation, hours, last = simulate(days, seed, start, end)
    with open(path, "wb") as raw:
        # mtime=0 and no name in the gzip header keep .gz output reproducible too.
        gzipped = os.fspath(path).endswith(".gz")
        out = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) if gzipped else raw
        try:
            data = ATTACHING_LINE.encode("ascii")
            out.write(data)
            bytes_written += len(data)
            for block in hours:
                data = "".join(block.lines).encode("ascii")
                out.write(data)
                bytes_written += len(data)
                blocks += 1
                entries += block.entries
                rows += block.rows
                operations_rd += block.operations_rd
                operations_wr += block.operations_wr
        finally:
            if gzipped:
                out.close()
    jobs = 0
    if sacct_path is not None:
        lines = sacct_lines(batch_jobs(simulation.started, seed), now=last)
        Path(sacct_path).write_text("".join(lines), encoding="utf-8")
        jobs = len(lines)
    return DemoSummary(blocks, entries, rows, operations_rd, operations_wr, bytes_written, jobs)


def ingest_demo(
    engine,
    path: str | os.PathLike[str],
    days: int = 30,
    seed: int = 0,
    progress: bool | None = None,
    on_written: Callable[[DemoSummary], None] | None = None,
    after_commit: Callable[[list[int]], None] | None = None,
    on_jobs: Callable[[JobsReport], None] | None = None,
):
    """Write a demo log to `path` (its folder created) and the matching sacct output beside it (SACCT_FILE), and
    ingest both into `engine`'s database, which its caller has prepared (db.setup.prepare_database): what
    `clusterdash demo`, `serve --demo`, the screenshots and the browser tests start from. `on_written` hears about
    the files before the (longer) ingest begins, `on_jobs` about the jobs stored. Returns the IO ingest's report.
    after_commit: as for ingest_paths (a finished demo log: every block is complete)."""
    from clusterdash.ingest.jobs import ingest_sacct_files
    from clusterdash.ingest.pipeline import ingest_paths

    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    sacct = sacct_path_of(path)
    written = write_demo_log(path, days=days, seed=seed, sacct_path=sacct)
    if on_written is not None:
        on_written(written)
    report = ingest_paths(engine, [os.fspath(path)], progress=progress, after_commit=after_commit)
    jobs = ingest_sacct_files(engine, [os.fspath(sacct)], SERVER_TZ.key)
    if on_jobs is not None:
        on_jobs(jobs)
    return report


SACCT_FILE = "sacct.txt"  # the demo's sacct output, beside its log


def sacct_path_of(log_path: str | os.PathLike[str]) -> Path:
    return Path(log_path).with_name(SACCT_FILE)


def start_live(
    engine,
    log_path: str | os.PathLike[str],
    interval: float,
    stop_event: threading.Event,
    seed: int = 0,
    after_commit: Callable[[list[int]], None] | None = None,
) -> threading.Thread:
    """Keep a demo growing, so that the dashboard's live refresh can be seen: every `interval` seconds, append the
    next hour of the simulation that wrote `log_path` (same seed) and ingest it the way `clusterdash ingest` does
    (one Loader, from the stored position: only the new bytes are read). The appended hours go on hour after hour
    from the file's last block, so the demo runs ahead of the clock (an hour per interval).

    Returns the running thread (a daemon) which stops once `stop_event` is set. Raises UserError when the database
    was not built from that log: synthetic hours never go into a database of real data."""
    from clusterdash.ingest.parse import log_line_epoch
    from clusterdash.ingest.pipeline import ingest_file

    path = Path(log_path)
    simulation, hours = _continuation(engine, path, seed)

    def run() -> None:
        try:
            while not stop_event.wait(interval):
                block = next(block for block in hours if block is not None)  # a gap: the next hour that has one
                with open(path, "ab") as out:
                    out.write("".join(block.lines).encode("ascii"))
                ingest_file(engine, path, after_commit=after_commit)  # written whole: its last block is complete
                _pull_live_jobs(engine, path, simulation, seed, log_line_epoch(block.lines[0].encode("ascii")))
                log.debug("demo: appended and ingested the hour of %s", block.lines[0].strip())
        except Exception:
            log.exception("the live demo on %s stopped on an unexpected error", path)

    thread = threading.Thread(target=run, name="clusterdash-live-demo", daemon=True)
    thread.start()
    return thread


def _pull_live_jobs(engine, log_path: Path, simulation: Simulation, seed: int, now: int | None) -> None:
    """What a pull of sacct would bring at `now` for the last hour: the jobs running in it (the new ones, and the
    running ones a little older), appended to the demo's sacct output and stored."""
    from clusterdash.db.engine import write_transaction
    from clusterdash.ingest.jobs import store_output
    from clusterdash.ingest.sacct import parse_sacct

    if now is None:
        return
    lines = sacct_lines(batch_jobs(simulation.started, seed), now=now, since=now - HOUR)
    with open(sacct_path_of(log_path), "a", encoding="utf-8") as out:
        out.write("".join(lines))
    with write_transaction(engine) as conn:
        store_output(conn, parse_sacct(lines, SERVER_TZ.key), "demo sacct (live)", len(lines), int(time.time()))


def _continuation(engine, path: Path, seed: int) -> tuple[Simulation, Iterator[Block | None]]:
    """The hours after the last block of the demo log at `path`: its simulation, run again from its first hour
    (about a second per month of log) up to its last block."""
    from clusterdash.ingest.parse import log_line_epoch
    from clusterdash.ingest.position import LogFile, find_position
    from clusterdash.ingest.read import last_block_of

    try:
        with LogFile.open(path) as demo_log:
            with engine.connect() as conn:
                read_up_to = find_position(conn, demo_log)[0].offset
            head = demo_log.head[demo_log.head.find(b"Log:") :]
            first, last = log_line_epoch(head), log_line_epoch(last_block_of(demo_log))
    except OSError as exc:
        raise UserError(f"--live: cannot read the demo log {path}: {exc.strerror or exc}") from exc
    if read_up_to == 0 or first is None or last is None:
        raise UserError(f"--live appends to the demo log {path}, but this database was not built from it")
    start, up_at = floor_hour(first) - HOUR, floor_hour(last)
    simulation = Simulation(seed, start, up_at=up_at)
    hours = simulation.hours()
    for _ in range((up_at - start) // HOUR):
        next(hours)
    return simulation, hours
