"""What a size bucket's bounds say about bytes and small IO: one rule for the ingest's session totals and for the
rollups and queries.

A row counts operations whose size lies in [lower, upper). Bytes moved lie between count x lower and
count x upper; clusterdash shows count x midpoint. Negative sizes move no bytes; an open bucket ('[8M, ...)')
has no upper bound, and its midpoint is its lower bound. A bucket wholly at or below 4 KiB is small IO.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, select

from clusterdash.db.schema import io_size_ranges

SMALL_IO_LIMIT = 4096  # bytes


class Weights(NamedTuple):
    """Bytes per operation of a bucket, and what kind of bucket it is."""

    low: float
    mid: float
    high: float | None  # None: an open bucket, no upper bound
    small: bool  # wholly at or below SMALL_IO_LIMIT

    @property
    def open(self) -> bool:
        return self.high is None


def weights(lower: float | None, upper: float | None) -> Weights:
    """The weights of a bucket with these bounds (lower None: negative sizes; upper None: open)."""
    small = upper is not None and upper <= SMALL_IO_LIMIT
    if lower is None or lower < 0:
        return Weights(0.0, 0.0, 0.0, small)
    if upper is None:
        return Weights(float(lower), float(lower), None, small)
    return Weights(float(lower), (lower + upper) / 2, float(upper), small)


def stored_weights(conn: Connection) -> dict[int, Weights]:
    """The weights of every stored size bucket, by IOSizeRanges id."""
    rows = conn.execute(select(io_size_ranges.c.id, io_size_ranges.c.lower_bytes, io_size_ranges.c.upper_bytes))
    return {bid: weights(lower, upper) for bid, lower, upper in rows}
