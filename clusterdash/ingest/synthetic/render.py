"""bpftrace's text: the lines of a hist() map and of a block, byte for byte as the tracer prints them."""

from __future__ import annotations

import struct
from datetime import datetime
from zoneinfo import ZoneInfo

SERVER_TZ = ZoneInfo("Europe/Zurich")  # the NFS server's local time, as in the real log
# What bpftrace prints when it starts: reads, writes and the hourly interval.
ATTACHING_LINE = "Attaching 3 probes...\n"

BAR_WIDTH = 52
# Size buckets [2^i, 2^(i+1)) for i = 1..20, i.e. "[2, 4)" .. "[1M, 2M)": the
# range the real server shows (NFS never moves more than 1 MiB per call).
FIRST_POWER, LAST_POWER = 1, 20
N_BUCKETS = LAST_POWER - FIRST_POWER + 1


def _size_label(value: int) -> str:
    """bpftrace's short form of a power of two: 512, 1K, 2M (powers of 1024)."""
    for shift, suffix in ((40, "T"), (30, "G"), (20, "M"), (10, "K")):
        if value >= 1 << shift:
            return f"{value >> shift}{suffix}"
    return str(value)


BUCKET_LABELS = tuple(f"[{_size_label(2**p)}, {_size_label(2 ** (p + 1))})" for p in range(FIRST_POWER, LAST_POWER + 1))
_FLOAT32 = struct.Struct("f")


def _to_float32(x: float) -> float:
    return _FLOAT32.unpack(_FLOAT32.pack(x))[0]


def _bar_length(count: int, max_count: int) -> int:
    # bpftrace computes `count / (float)max * 52` in single precision and
    # truncates; doing the same keeps the bars byte-identical to the real tool
    # even where a double would land on the other side of an integer.
    return int(_to_float32(_to_float32(count / max_count) * BAR_WIDTH))


def histogram_rows(counts: list[int]) -> list[str]:
    """Rows from the first to the last non-zero bucket, zeros in between kept."""
    nonzero = [i for i, c in enumerate(counts) if c]
    first, last = nonzero[0], nonzero[-1]
    max_count = max(counts)
    rows = []
    for i in range(first, last + 1):
        count = counts[i]
        bar = "@" * _bar_length(count, max_count)
        rows.append(f"{BUCKET_LABELS[i]:<16}{count:>8} |{bar:<{BAR_WIDTH}}|\n")
    return rows


def log_line(epoch: int) -> str:
    """The line that opens a block: the server's wall-clock time and the epoch."""
    wall = datetime.fromtimestamp(epoch, SERVER_TZ).strftime("%Y-%m-%d %H:%M:%S")
    return f"Log: {wall} ({epoch})\n"


def header_line(direction: str, machine: str, machine_type: str, user: str, status: str) -> str:
    return f"@{direction}_client({machine},{machine_type})[{user}({status})]:\n"
