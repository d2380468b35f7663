"""What a size bucket's bounds say about bytes and small IO: one rule for the ingest's session totals and for the
rollups and queries.

A row counts operations whose size lies in [lower, upper). Bytes moved lie between count x lower and
count x upper; clusterdash shows count x midpoint. Negative sizes move no bytes; an open bucket ('[8M, ...)')
has no upper bound, and its midpoint is its lower bound. A bucket wholly at or below 4 KiB is small IO.

And how people name a bucket (`bucket_label`: '4K', '4096', '4K-8K' for '[4K, 8K)'), one rule for the API's
`size` parameter and the dashboard's URL (`short_form`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import Connection, select

from clusterdash.db.schema import io_size_ranges

SMALL_IO_LIMIT = 4096  # bytes
BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


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


def bytes_text(value: float | int | None) -> str:
    """Bytes in binary units, for people: 1536 -> '1.5 KiB' (the dashboard's and the alert messages' one rule)."""
    if value is None:
        return "–"
    value = float(value)
    for unit in BYTE_UNITS:
        if abs(value) < 1024 or unit == BYTE_UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1024
    return f"{value:.3g}"


# -- naming a bucket ---------------------------------------------------------------------------------------------

NEGATIVE = "neg"  # the short form of bpftrace's negative-sizes bucket, '(..., 0)'
UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5, "E": 1024**6}  # as bpftrace prints
_AMOUNT = re.compile(r"^(\d{1,20})([KMGTPE]?)(?:I?B)?$")  # on upper-cased text: 4096, 4K, 4KB, 4KIB


def short_form(label: str) -> str:
    """The short form of a bucket label, as the dashboard's URL writes it: its lower bound ('[4K, 8K)' -> '4K',
    '[0]' -> '0', '[8M, ...)' -> '8M'), and 'neg' for the bucket of negative sizes."""
    if label.startswith("("):
        return NEGATIVE
    return label.strip("[]()").split(",")[0].strip()


def bucket_label(text: str, known: Iterable[str]) -> str | None:
    """The label among `known` (the stored buckets, smallest first) that `text` names, or None.

    What people type, case and spaces ignored: the label itself ('[4K, 8K)'), its lower bound ('4K', '4k', '4096',
    '4KiB'; the short form), both bounds ('4K-8K'), or 'neg'. Where two labels share a lower bound (an lhist's
    exact '[0]' beside '[0, 1)'), the lower bound names the first.
    """
    wanted = _compact(text)
    labels = list(known)
    for label in labels:
        if _compact(label) == wanted:
            return label
    if wanted == NEGATIVE.upper():
        return next((label for label in labels if label.startswith("(")), None)
    low, dash, high = wanted.partition("-")
    lower, upper = _amount(low), _amount(high) if dash else None
    if lower is None or (dash and upper is None):
        return None
    for label in labels:
        bounds = _bounds(label)
        if bounds is not None and bounds[0] == lower and (not dash or bounds[1] == upper):
            return label
    return None


def logged_amount(text: str) -> int | None:
    """Bytes of a size written as bpftrace writes a bound: digits and an optional upper-case unit ('512', '4K',
    '1M'), nothing else (no lower case, no 'B', no spaces); None otherwise. bucket_label reads what people type."""
    match = _AMOUNT.match(text)
    if match is None or text.endswith("B"):
        return None
    return int(match.group(1)) * UNITS[match.group(2)]


def _compact(text: str) -> str:
    return "".join(text.split()).upper()


def _amount(text: str) -> int | None:
    match = _AMOUNT.match(text)
    return None if match is None else int(match.group(1)) * UNITS[match.group(2)]


def _bounds(label: str) -> tuple[int, int | None] | None:
    """(lower, upper) in bytes of a '[...]' or '[..., ...)' label; upper None when open ('[8M, ...)') or exact."""
    if not label.startswith("["):
        return None
    parts = _compact(label).strip("[]()").split(",")
    lower = _amount(parts[0])
    if lower is None:
        return None
    return lower, _amount(parts[1]) if len(parts) > 1 else None
