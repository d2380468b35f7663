"""sacct output -> the database: jobs stored (new, or updated by newer news), bad lines kept with their file and
line, and the IO of the cells the jobs ran in shared again, in one transaction per file (or pull, pull.py).

Reading the same file again changes nothing: every job in it is stored already with the same news (and a bad line
counts once, by its text).
"""

from __future__ import annotations

import glob
import gzip
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine

from clusterdash.db.engine import write_transaction
from clusterdash.db.jobs.maintain import Shared, share_spans
from clusterdash.db.jobs.store import RejectedLine, StoredJobs, store_jobs, store_rejected
from clusterdash.errors import InputError
from clusterdash.ingest.sacct import SacctOutput, parse_sacct


@dataclass
class JobsReport:
    """What reading sacct output did: per source the lines and jobs read, and in the database the jobs new,
    updated and unchanged, the bad lines (new ones among them) and the attribution shared again."""

    sources: list[str] = field(default_factory=list)
    lines: int = 0
    jobs_read: int = 0
    stored: StoredJobs = field(default_factory=StoredJobs)
    rejected: list[RejectedLine] = field(default_factory=list)
    rejected_new: int = 0
    shared: Shared = field(default_factory=Shared)
    seconds: float = 0.0

    def add(self, other: JobsReport) -> None:
        self.sources += other.sources
        self.lines += other.lines
        self.jobs_read += other.jobs_read
        self.stored.new += other.stored.new
        self.stored.updated += other.stored.updated
        self.stored.unchanged += other.stored.unchanged
        self.rejected += other.rejected
        self.rejected_new += other.rejected_new
        self.shared.add(other.shared)
        self.seconds += other.seconds

    def summary(self, shown: int = 5) -> dict:
        """The report as plain data (what `clusterdash jobs ingest --json` prints)."""
        return {
            "sources": self.sources,
            "lines": self.lines,
            "jobs_read": self.jobs_read,
            "jobs": {"new": self.stored.new, "updated": self.stored.updated, "unchanged": self.stored.unchanged},
            "rejected_lines": len(self.rejected),
            "rejected_new": self.rejected_new,
            "rejected": [
                {"file": r.source, "line": r.line, "reason": r.reason, "text": r.text} for r in self.rejected[:shown]
            ],
            "attribution": {
                "sessions": self.shared.sessions,
                "rows": self.shared.rows,
                "operations_attributed": self.shared.operations,
            },
            "seconds": round(self.seconds, 3),
        }


def store_output(conn: Connection, output: SacctOutput, source: str, lines: int, now: int) -> JobsReport:
    """Store what one read of sacct output found, in the caller's write transaction: the jobs, the bad lines, and
    the attribution of the cells the new or changed jobs ran in."""
    started = time.perf_counter()
    rejected = [RejectedLine(source, bad.line, bad.text, bad.reason) for bad in output.rejected]
    report = JobsReport(sources=[source], lines=lines, jobs_read=len(output.jobs), rejected=rejected)
    report.rejected_new = store_rejected(conn, rejected, now)
    report.stored = store_jobs(conn, output.jobs, now)
    report.shared = share_spans(conn, report.stored.spans)
    report.stored.spans = []  # done with: not kept in the report
    report.seconds = time.perf_counter() - started
    return report


def ingest_sacct_files(engine: Engine, paths: Iterable[str], zone_name: str) -> JobsReport:
    """Read saved sacct output (plain or .gz files, or glob patterns), its times in `zone_name`, one transaction
    per file."""
    report = JobsReport()
    for path in expand_sacct_paths(paths):
        started = time.perf_counter()
        lines = _Counted(_lines(path))
        output = parse_sacct(lines, zone_name)
        with write_transaction(engine) as conn:
            part = store_output(conn, output, str(path), lines.count, int(time.time()))
        part.seconds = time.perf_counter() - started
        report.add(part)
    return report


def expand_sacct_paths(paths: Iterable[str]) -> list[Path]:
    """Files and glob patterns, in the order given (a pattern's matches sorted); InputError for a path that is no
    file or a pattern that matches none."""
    found: list[Path] = []
    for text in paths:
        if any(char in text for char in "*?["):
            matches = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
            if not matches:
                raise InputError(f"{text}: no file matches")
            found.extend(matches)
        elif Path(text).is_file():
            found.append(Path(text))
        elif Path(text).is_dir():
            raise InputError(f"{text}: a directory; give the files of sacct output (or a pattern such as {text}/*)")
        else:
            raise InputError(f"{text}: no such file")
    return list(dict.fromkeys(found))


def _lines(path: Path) -> Iterator[str]:
    """The file's lines as text; bytes that are not UTF-8 become U+FFFD, which no name may hold (a line with one in
    a name is rejected saying so, never stored under a look-alike)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as stream:
            yield from stream
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: {getattr(exc, 'strerror', None) or exc}") from exc


class _Counted:
    """An iterator of lines that counts them."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines, self.count = lines, 0

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            self.count += 1
            yield line
